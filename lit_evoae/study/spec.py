"""The study file: base configs plus a grid of variants, expanded into runs with derived seeds.

    name: demo
    base: [../coevolution.yaml]            # LightningCLI configs, relative to this file
    trials: 30
    grid:                                  # one axis per key; variants are the product
      pruning: [../../callbacks/none.yaml, ../../callbacks/variance_fixed.yaml]
      data:                                # a mapping names its entries...
        k10_d1000: {data.init_args.num_clusters: 10}
        k50_d1000: {data.init_args.num_clusters: 50}   # ...whose values are dotted overrides
    overrides: {trainer.max_epochs: 400}   # applied to every run
    claims: [k50_d1000 < k10_d1000]        # verdicts in the report (see study/claims.py)

An entry given as a path is a config fragment, named by its file stem. Every run's
seed is derived from (variant, trial) alone, so adding variants or trials never
changes the seeds of the others.
"""

import dataclasses
import fnmatch
import functools
import hashlib
import itertools
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lit_evoae.errors import ConfigError
from lit_evoae.study.claims import parse_claims

#: What a variant or grid entry name may hold: it names a folder under the study's --out.
NAME = re.compile(r"[A-Za-z0-9_.=-]+")
#: Lightning's `max_epochs` where neither `max_epochs` nor `max_steps` is set.
LIGHTNING_MAX_EPOCHS = 1000


def check_name(name: str, where: str) -> str:
    """`name` if it is safe as one folder name under --out (letters, digits, `_ - . =`, and
    not only dots); otherwise a ConfigError that says `where` it came from."""
    if not NAME.fullmatch(name) or set(name) == {"."}:
        raise ConfigError(
            f"{where}: the name {name!r} must be letters, digits and _ - . = only "
            "(it names a folder under --out: no '/', no '..', not absolute)"
        )
    return name


#: The most runs one study plans: its plan (study.json) holds a record per run, and a
#: study this size is already weeks of compute on a cluster.
MAX_RUNS = 20_000


@dataclass(frozen=True)
class Choice:
    """One entry of a grid axis: a name and either a config file or dotted overrides."""

    name: str
    config: Path | None = None
    overrides: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Run:
    variant: str
    trial: int
    seed: int
    configs: tuple[Path, ...]
    overrides: tuple[tuple[str, Any], ...]
    choices: tuple[tuple[str, str], ...] = ()  # (axis, entry name): what the report groups by

    def __post_init__(self) -> None:
        # A plan read back from disk (study.json, pack.json) is checked as a study file is:
        # whatever it says, a run's folder stays under --out.
        check_name(self.variant, f"run {self.variant!r}")
        if not isinstance(self.trial, int) or self.trial < 0:
            raise ConfigError(f"run {self.variant!r}: trial {self.trial!r} must be an integer >= 0")

    @property
    def key(self) -> str:
        """`variant/trial_NNN`: the run's folder under the study's output."""
        return f"{self.variant}/trial_{self.trial:03d}"

    def folder(self, out: Path) -> Path:
        return out / self.key

    def arguments(self) -> list[str]:
        """`lit-evoae fit` arguments of this run (without the output location)."""
        arguments = [item for config in self.configs for item in ("--config", str(config))]
        for key, value in self.overrides:
            # Strings as typed (a quoted class_path would be taken literally); other values as
            # JSON, which is YAML, so jsonargparse reads lists, numbers and booleans back.
            arguments += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
        return arguments + ["--seed_everything", str(self.seed)]

    def generations(self) -> int:
        """The run's `trainer.max_epochs`, as its overrides or else its configs set it
        (Lightning's default where none does): what a study's progress counts."""
        for key, value in reversed(self.overrides):
            if key == "trainer.max_epochs" and _is_count(value):
                return int(value)
        for config in reversed(self.configs):
            value = _max_epochs(config)
            if value is not None:
                return value
        return LIGHTNING_MAX_EPOCHS

    def settings(self) -> dict[str, Any]:
        """What makes this run the run it is, as a rerun compares it with what it finds
        recorded: each config file in order (its name and a digest of its contents, so an
        edited file counts as changed), every override as it resolves (the last one of a key
        wins), and the seed; JSON values, as result.json holds them."""
        values: dict[str, Any] = {
            f"config {number}": f"{config.name} (sha256 {_digest(config)})"
            for number, config in enumerate(self.configs, start=1)
        }
        values.update(dict(self.overrides))
        values["seed_everything"] = self.seed
        return json.loads(json.dumps(values, default=str))

    def to_plan(self) -> dict:
        """A JSON-able record from which `from_plan` rebuilds the run (for SLURM array tasks)."""
        return {
            "variant": self.variant,
            "trial": self.trial,
            "seed": self.seed,
            "choices": dict(self.choices),
            "configs": [str(c) for c in self.configs],
            "overrides": [list(item) for item in self.overrides],
        }

    @classmethod
    def from_plan(cls, record: dict) -> "Run":
        """The run of a plan's record; a record that is not one is a ConfigError."""
        try:
            return cls(
                str(record["variant"]),
                record["trial"],
                int(record["seed"]),
                tuple(Path(c) for c in record["configs"]),
                tuple((str(key), value) for key, value in record["overrides"]),
                tuple((str(axis), str(name)) for axis, name in record["choices"].items()),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            if isinstance(error, ConfigError):
                raise
            raise ConfigError(f"a study plan's run record is damaged ({error!r})") from error


@dataclass(frozen=True)
class Study:
    name: str
    base: tuple[Path, ...]
    axes: tuple[tuple[str, tuple[Choice, ...]], ...]
    trials: int
    overrides: tuple[tuple[str, Any], ...] = ()
    claims: tuple = ()  # of study.claims.Claim
    only: tuple[str, ...] = ()  # shell-style patterns of the variants to run; () runs all
    sets: tuple[tuple[str, Any], ...] = ()  # the command line's overrides: applied last

    def axis_names(self) -> list[str]:
        return [axis for axis, _ in self.axes]

    def variants(self) -> list[tuple[str, tuple[Choice, ...]]]:
        combos = itertools.product(*(choices for _, choices in self.axes))
        named = [("__".join(choice.name for choice in combo) or "base", combo) for combo in combos]
        if not self.only:
            return named
        return [
            (name, combo)
            for name, combo in named
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in self.only)
        ]

    def narrowed(self, only: list[str] | None = None, sets: list[str] | None = None) -> "Study":
        """This study narrowed by the command line's `--only` patterns and `--set key=value`s.

        The overrides come last, so they win over the study file's and the grid's; the seeds
        stay those of (variant, trial), so a narrowed study's runs are runs of the whole one.
        """
        study = self
        if sets:
            study = dataclasses.replace(study, sets=study.sets + parse_sets(sets))
        if only:
            every = [name for name, _ in study.variants()]
            study = dataclasses.replace(study, only=tuple(only))
            if not study.variants():
                raise ConfigError(
                    f"--only {' '.join(only)} matches no variant of study "
                    f"{study.name}; its variants: {', '.join(every)}"
                )
        return study

    def runs(self, trials: int | None = None) -> list[Run]:
        variants = self.variants()
        total = len(variants) * (trials or self.trials)
        if total > MAX_RUNS:
            raise ConfigError(
                f"study {self.name}: {len(variants)} variants x {trials or self.trials} trials "
                f"is {total:,} runs, more than the {MAX_RUNS:,} one study plans; use fewer "
                "trials (--trials), fewer variants (--only), or split it into several studies"
            )
        runs = []
        for variant, combo in variants:
            configs = self.base + tuple(c.config for c in combo if c.config is not None)
            overrides = self.overrides + tuple(o for c in combo for o in c.overrides) + self.sets
            choices = tuple(zip(self.axis_names(), (c.name for c in combo), strict=True))
            for trial in range(trials or self.trials):
                seed = derive_seed(variant, trial)
                runs.append(Run(variant, trial, seed, configs, overrides, choices))
        return runs


def parse_sets(sets: list[str]) -> tuple[tuple[str, Any], ...]:
    """`key=value` pairs; the value is read as YAML (numbers, booleans, lists, strings)."""
    pairs = []
    for item in sets:
        key, separator, value = item.partition("=")
        if not separator or not key.strip():
            raise ConfigError(
                f"--set {item!r}: write it as a dotted key, '=' and a value, "
                "e.g. --set trainer.max_epochs=20"
            )
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed = value
        pairs.append((key.strip().removeprefix("--"), value if parsed is None else parsed))
    return tuple(pairs)


@functools.cache
def config_mapping(config: Path) -> dict:
    """A config file's top-level mapping, read once a process; {} where it cannot be read
    (the run's fit then names the file)."""
    try:
        content = yaml.safe_load(Path(config).read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return content if isinstance(content, dict) else {}


def _max_epochs(config: Path) -> int | None:
    """`trainer.max_epochs` of a config file, None if it sets none (or is unreadable)."""
    trainer = config_mapping(config).get("trainer")
    value = trainer.get("max_epochs") if isinstance(trainer, dict) else None
    return int(value) if _is_count(value) else None


def _is_count(value: Any) -> bool:
    return isinstance(value, int | str) and str(value).isdigit() and int(value) > 0


@functools.cache
def _digest(config: Path) -> str:
    try:
        return hashlib.sha256(config.read_bytes()).hexdigest()[:12]
    except OSError:
        return "unreadable"


def derive_seed(variant: str, trial: int) -> int:
    """A seed from (variant, trial): stable across machines, Python versions and study edits."""
    digest = hashlib.sha256(f"{variant}/{trial}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31


def load_study(path: str | Path) -> Study:
    """Read and check a study file; errors name the file and the key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError(f"study file {path}: {error.strerror}") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"study file {path}: expected a mapping with base, grid and trials")
    unknown = set(raw) - {"name", "base", "grid", "trials", "overrides", "claims"}
    if unknown:
        raise ConfigError(
            f"study file {path}: unknown keys {sorted(unknown)}; allowed: "
            "name, base, grid, trials, overrides, claims"
        )
    here = path.parent
    base = tuple(_existing(here / entry, path, "base") for entry in _as_list(raw.get("base", [])))
    trials = raw.get("trials", 1)
    if not isinstance(trials, int) or trials < 1:
        raise ConfigError(f"study file {path}: trials={trials!r} must be a positive integer")
    axes = tuple(
        (axis, _choices(entries, here, path, axis))
        for axis, entries in (raw.get("grid") or {}).items()
    )
    overrides = _overrides(raw.get("overrides") or {}, path, "overrides")
    study = Study(raw.get("name", path.stem), base, axes, trials, overrides)
    variants = [name for name, _ in study.variants()]
    twice = sorted(name for name, count in Counter(variants).items() if count > 1)
    if twice:
        raise ConfigError(
            f"study file {path}: the grid makes the variant name(s) {', '.join(twice)} more "
            "than once (names join with '__'); rename an entry so that each variant is one"
        )
    axes = {axis: [choice.name for choice in choices] for axis, choices in study.axes}
    claims = parse_claims(raw.get("claims"), variants, f"study file {path}", axes)
    return dataclasses.replace(study, claims=claims)


def _choices(entries: Any, here: Path, path: Path, axis: str) -> tuple[Choice, ...]:
    if isinstance(entries, dict):
        return tuple(
            Choice(
                check_name(str(name), f"study file {path}: grid.{axis}"),
                overrides=_overrides(value, path, f"grid.{axis}.{name}"),
            )
            for name, value in entries.items()
        )
    if isinstance(entries, list) and entries:
        choices = []
        for entry in entries:
            config = _existing(here / str(entry), path, f"grid.{axis}")
            name = check_name(config.stem, f"study file {path}: grid.{axis} entry {entry}")
            if name in (choice.name for choice in choices):
                raise ConfigError(
                    f"study file {path}: grid.{axis} lists {name!r} twice; two runs would "
                    "share one folder and one seed, so list each entry once"
                )
            choices.append(Choice(name, config=config))
        return tuple(choices)
    raise ConfigError(
        f"study file {path}: grid.{axis} must be a non-empty list of config "
        "files or a mapping of named overrides"
    )


def _overrides(value: Any, path: Path, key: str) -> tuple[tuple[str, Any], ...]:
    if not isinstance(value, dict):
        raise ConfigError(f"study file {path}: {key} must map dotted config keys to values")
    return tuple((str(name), item) for name, item in value.items())


def _existing(config: Path, path: Path, key: str) -> Path:
    if not config.is_file():
        raise ConfigError(f"study file {path}: {key} names {config}, which does not exist")
    return config.resolve()


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]
