"""What a run prunes with, and what else it sets, read from what its configs say.

The operator and schedule come from the classes a run's `pruning` section configures
(`RandomPruning` -> `random`, `FinalN` -> `final_n`), never from a file's name: a copy of
`random_fixed.yaml` under any name groups, packs and plots as random/fixed. Runs may share
a pack when everything but their `pruning` sections is the same (`shared_part`), and each
variant of a pack gets its Pruning callback from those sections alone (`pruning_callback`).
"""

import functools
import json
import re
from pathlib import Path
from typing import Any

from jsonargparse import ArgumentError

from lit_evoae.errors import ConfigError
from lit_evoae.parse_errors import one_screen
from lit_evoae.study.spec import Run, config_mapping

NO_PRUNING = "none"
#: What a report says where the content names no class it can read.
UNKNOWN = "unknown"
PRUNING = "pruning"


def operator_and_schedule(run: Run) -> tuple[str, str]:
    """(operator, schedule) short names of the run's pruning; (none, none) without an
    operator (the Pruning callback's default), UNKNOWN where a class cannot be read."""
    section = pruning_section(run)
    operator = section.get("operator")
    if operator is None:
        return NO_PRUNING, NO_PRUNING
    schedule = section.get("schedule")
    return (
        short_name(operator, "Pruning"),
        "fixed" if schedule is None else short_name(schedule, "Schedule"),
    )


def short_name(value: Any, suffix: str) -> str:
    """`class_path` (or a bare class name) as snake case less `suffix`:
    `lit_evoae.pruning.operators.RandomPruning` -> `random`, `FinalN` -> `final_n`."""
    path = value.get("class_path") if isinstance(value, dict) else value
    if not isinstance(path, str) or not path.strip():
        return UNKNOWN
    name = path.strip().rsplit(".", 1)[-1]
    if name != suffix:
        name = name.removesuffix(suffix)
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])|(?<=[A-Z])([A-Z])(?=[a-z])", r"_\1\2", name)
    return snake.lower() or UNKNOWN


def pruning_section(run: Run) -> dict:
    """The run's `pruning` settings: each config's section merged in order, then the
    `pruning.*` overrides (the last one of a key wins, as on the command line)."""
    merged: dict = {}
    for config in run.configs:
        merged = _merged(merged, config_mapping(config).get(PRUNING) or {})
    for key, value in run.overrides:
        if _is_pruning(key):
            merged = _merged(merged, _nested(key.split(".")[1:], value))
    return merged


def shared_part(run: Run) -> tuple:
    """What a run's pack-mates must share: each config's content less its `pruning`
    section (with the config's folder, against which relative paths resolve; a config of
    nothing else counts as nothing), and the overrides less `pruning.*`. The seed differs."""
    configs = tuple(
        (str(Path(config).parent), rest)
        for config in run.configs
        if (rest := _without_pruning(config)) != "{}"
    )
    overrides = tuple((key, repr(value)) for key, value in run.overrides if not _is_pruning(key))
    return configs, overrides


def difference(one: Run, other: Run) -> str:
    """The first setting outside `pruning` in which two runs differ, for a log line that
    says why they train in separate packs."""
    mine, theirs = _flat_settings(one), _flat_settings(other)
    for key in sorted(set(mine) | set(theirs)):
        if mine.get(key) != theirs.get(key):
            return f"{key} ({mine.get(key, 'unset')} vs {theirs.get(key, 'unset')})"
    return "the folders of their configs (relative paths resolve against them)"


def _is_pruning(key: str) -> bool:
    """Whether a dotted override key sets the pruning (`pruning` or `pruning.*`)."""
    return key == PRUNING or key.startswith(f"{PRUNING}.")


def _flat_settings(run: Run) -> dict[str, str]:
    merged: dict = {}
    for config in run.configs:
        merged = _merged(merged, {k: v for k, v in config_mapping(config).items() if k != PRUNING})
    flat = dict(_flattened(merged))
    for key, value in run.overrides:
        if not _is_pruning(key):
            flat[key] = json.dumps(value, default=str)
    flat.pop("seed_everything", None)
    return flat


def _flattened(value: Any, prefix: str = ""):
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _flattened(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, json.dumps(value, default=str)


@functools.cache
def _without_pruning(config: Path) -> str:
    content = {key: value for key, value in config_mapping(config).items() if key != PRUNING}
    return json.dumps(content, sort_keys=True, default=str)


def _merged(base: dict, update: dict) -> dict:
    if not isinstance(update, dict):
        return base
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _nested(keys: list[str], value: Any) -> dict:
    for key in reversed(keys):
        value = {key: value}
    return value if isinstance(value, dict) else {}


def pruning_callback(run: Run):
    """The run's Pruning callback, parsed from its configs' `pruning` sections, in order, and
    its `pruning.*` overrides by the parser group the full command line uses for it, without
    parsing the rest of the run's command line (a pack holds many variants; issue 33)."""
    parser = _pruning_parser()
    arguments = []
    for config in run.configs:
        section = config_mapping(config).get(PRUNING)
        if isinstance(section, dict):
            arguments.append(f"--{PRUNING}={json.dumps(section)}")
    for key, value in run.overrides:
        if _is_pruning(key):
            arguments.append(f"--{key}={value if isinstance(value, str) else json.dumps(value)}")
    try:
        parsed = parser.parse_args(arguments)
    except ArgumentError as error:
        # A section given whole is reported under its group twice: pruning.pruning.<key>.
        line = one_screen(str(error)).replace(f"{PRUNING}.{PRUNING}.", f"{PRUNING}.")
        raise ConfigError(f"run {run.key}: {line}") from error
    return parser.instantiate_classes(parsed)[PRUNING]


@functools.cache
def _pruning_parser():
    """The `pruning` group of lit-evoae's parser, alone (the operators and schedules are
    importable by their short class names, as on the command line)."""
    from pytorch_lightning.cli import LightningArgumentParser

    import lit_evoae.pruning.operators  # noqa: F401  (short class names)
    import lit_evoae.pruning.schedules  # noqa: F401
    from lit_evoae.callbacks import Pruning

    parser = LightningArgumentParser(exit_on_error=False)
    parser.add_lightning_class_args(Pruning, PRUNING)
    return parser
