"""A study run's record (`result.json`): written by one function, read back by the report.

A run alone and a trial of a pack both leave a folder holding `metrics.csv`; the record is
computed from it the same way for both, so the report cannot tell them apart.
"""

import csv
import json
import re
import shutil
import sys
from collections import defaultdict
from pathlib import Path

from lit_evoae import keys
from lit_evoae.errors import ConfigError, DataError, UserError
from lit_evoae.io import atomic_write_text
from lit_evoae.study.fragments import UNKNOWN, operator_and_schedule
from lit_evoae.study.spec import Run

COMPARED_AXIS = "pruning"
#: A record's fields that say what the run pruned with (study.fragments).
PRUNED_WITH = ("operator", "schedule")


class RunFailed(UserError):
    """A run's process exited with an error, or left no result; its log says why."""


def checked_result(folder: Path) -> tuple[dict | None, str | None]:
    """(the record, None) for a whole result.json in `folder`; (None, why) for a damaged one:
    it does not parse, or its metrics.csv holds fewer generations than it claims; (None,
    None) where there is none. A damaged record is never trusted: its run is made again."""
    path = folder / keys.RESULT
    if not path.is_file():
        return None, None
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict):
            raise ValueError("not a run's record")
    except (OSError, ValueError) as error:
        return None, f"{path} cannot be read ({error})"
    if not isinstance(record.get("epochs"), int):  # not one write_result wrote: not checked
        return record, None
    try:
        logged = generations_logged(read_metrics(folder / keys.METRICS_CSV))
    except (OSError, ValueError, TypeError, csv.Error) as error:
        return None, f"{folder / keys.METRICS_CSV} cannot be read ({error})"
    if logged < record["epochs"]:
        return None, (
            f"{folder / keys.METRICS_CSV} holds {logged} generations, but {path} claims "
            f"{record['epochs']}"
        )
    return record, None


def is_finished(run: Run, out: Path) -> bool:
    return checked_result(run.folder(out))[0] is not None


def finished_runs(runs: list[Run], out: Path, rerun: bool = False) -> list[Run]:
    """The runs already finished under `out` with the settings asked for now. A finished run
    recorded with other settings (another --set, an edited config) stops the command with
    one line naming the first key that differs, so a study never mixes or mislabels runs;
    with `rerun`, such runs are cleared instead, to be made again. Runs recorded before
    settings were recorded are taken as they are. A damaged record is named, and its run
    counts as unfinished."""
    done = []
    for run in runs:
        record, damage = checked_result(run.folder(out))
        if damage is not None:
            print(f"lit-evoae-study: {damage}; {run.key} is made again", file=sys.stderr)
        if record is None:
            continue
        recorded = record.get("settings")
        difference = None if recorded is None else first_difference(recorded, run.settings())
        if difference is None:
            done.append(run)
        elif rerun:
            shutil.rmtree(run.folder(out))  # it holds a whole record: the runner's own
        else:
            key, then, now = difference
            raise ConfigError(
                f"{run.key} in {out} was made with {key}={then}, but this command asks for "
                f"{key}={now}; write to a new --out, or add --rerun to make such runs again"
            )
    return done


def first_difference(recorded: dict, asked: dict) -> tuple[str, str, str] | None:
    """(key, recorded value, asked value) of the first key whose values differ, or None."""
    for key in [*asked, *(key for key in recorded if key not in asked)]:
        if recorded.get(key, _UNSET) != asked.get(key, _UNSET):
            return key, _shown(recorded.get(key, _UNSET)), _shown(asked.get(key, _UNSET))
    return None


_UNSET = "(not set)"


def _shown(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def read_metrics(path: Path) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def write_result(run: Run, out: Path, seconds: float, packed_with: int = 1) -> dict:
    """The run's record from the `metrics.csv` in its folder, written last and atomically
    (its presence marks the run finished): test/l1 and the model size from the test row,
    the best val/l1, the epochs trained, the final/* metrics and, where PruningCoverage
    logged them, the last and mean coverage, uniformity and diversity."""
    folder = run.folder(out)
    rows = read_metrics(folder / keys.METRICS_CSV)
    tested = [row for row in rows if row.get(keys.TEST_L1)]
    validated = [float(row[keys.VAL_L1]) for row in rows if row.get(keys.VAL_L1)]
    if not tested:
        raise RunFailed(
            f"{folder}: the run logged no {keys.TEST_L1} (was test_after_fit disabled?)"
        )
    last = tested[-1]
    record = {
        "variant": run.variant,
        "trial": run.trial,
        "seed": run.seed,
        "seconds": seconds,
        "choices": dict(run.choices),
        **dict(zip(PRUNED_WITH, operator_and_schedule(run), strict=True)),
        "settings": run.settings(),
        keys.TEST_L1: float(last[keys.TEST_L1]),
        keys.MODEL_SPARSITY: float(last[keys.MODEL_SPARSITY]),
        keys.MODEL_PARAMS: float(last[keys.MODEL_PARAMS]),
        keys.VAL_L1_BEST: min(validated) if validated else None,
        "epochs": generations_logged(rows),
        **final_values(rows),
    }
    for key in (keys.MODEL_ENCODER_LIVE, keys.MODEL_DECODER_LIVE):
        logged = [row[key] for row in rows if row.get(key)]
        if logged:  # the last generation's (runs older than these keys have none)
            record[key] = float(logged[-1])
    for key in keys.COVERAGE_KEYS:  # with PruningCoverage: the last value and the run's mean
        logged = [float(row[key]) for row in rows if row.get(key)]
        if logged:
            record[key], record[keys.run_mean(key)] = logged[-1], sum(logged) / len(logged)
    if packed_with > 1:
        record["packed_with"] = packed_with
    atomic_write_text(folder / keys.RESULT, json.dumps(record, indent=1))
    return record


def generations_logged(rows: list[dict]) -> int:
    """How many generations `rows` (a metrics.csv) holds: one past the last epoch of its
    train/loss rows, or of its val/l1 rows (a pack's trial logs no loss of its own)."""
    trained = [row for row in rows if row.get(keys.TRAIN_LOSS)] or [
        row for row in rows if row.get(keys.VAL_L1)
    ]
    return 1 + max((int(row["epoch"]) for row in trained), default=-1)


def final_values(rows: list[dict], trial: int | None = None) -> dict[str, float]:
    """The paper's metric and its companions (final/*, logged when training ends); with
    `trial`, that trial's values of a packed run, under the plain names."""
    values = {}
    for row in rows:
        for name in keys.FINAL_NAMES:
            logged = row.get(keys.trial(keys.final(name), trial))
            if logged:
                values[keys.final(name)] = float(logged)
    return values


def read_plan_file(path: Path) -> dict:
    """A study's plan (study.json) as written by `runner.write_plan`; {} where there is none.
    A damaged one stops the command with one line naming it and the way back."""
    if not path.is_file():
        return {}
    try:
        plan = json.loads(path.read_text())
        if not isinstance(plan, dict) or not isinstance(plan.get("runs", []), list):
            raise ValueError("not a study plan")
        return plan
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"study plan {path} is damaged ({error}); move it away and run the same "
            "`lit-evoae-study run` command again: it writes the plan anew and keeps every "
            "finished run"
        ) from error


def load_results(out: Path) -> list[dict]:
    """Every finished run's whole result.json under `out`, with its grid choices (a damaged
    one is left out here; `status.run_states` names it)."""
    plan = read_plan_file(out / keys.PLAN).get("runs", [])
    planned = {(run.get("variant"), run.get("trial")): run for run in plan}
    results = []
    for path in sorted(out.glob(f"*/trial_*/{keys.RESULT}")):
        result, _ = checked_result(path.parent)
        if result is None:
            continue
        record = planned.get((result.get("variant"), result["trial"])) or {}
        choices = result.get("choices") or record.get("choices")
        result["choices"] = choices or {COMPARED_AXIS: result["variant"]}
        if any(field not in result for field in PRUNED_WITH):  # a record older than them
            result.update(zip(PRUNED_WITH, _pruned_with(record), strict=True))
        result["folder"] = str(path.parent)
        results.append(result)
    if not results:
        raise DataError(f"{out}: no finished runs (no */trial_*/{keys.RESULT}) to report on")
    return results


def _pruned_with(record: dict) -> tuple[str, str]:
    """(operator, schedule) of a planned run's record; unknown without one."""
    try:
        return operator_and_schedule(Run.from_plan(record))
    except ConfigError:
        return UNKNOWN, UNKNOWN


def group_key(choices: dict) -> str:
    """`axis=name, ...` over the axes but pruning (a name already `axis=...` is kept)."""
    rest = [
        name if name.startswith(f"{axis}=") else f"{axis}={name}"
        for axis, name in choices.items()
        if axis != COMPARED_AXIS
    ]
    return ", ".join(rest) or "all runs"


def natural_order(text: str) -> list:
    """Sort key reading digit runs as numbers: population=2 before population=10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def by_group(results: list[dict]) -> list[tuple[str, dict[str, list[dict]]]]:
    """(group, {pruning variant: its runs}) for every group, in name order."""
    grouped: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for result in results:
        variant = result["choices"].get(COMPARED_AXIS, result["variant"])
        grouped[group_key(result["choices"])][variant].append(result)
    return sorted(grouped.items(), key=lambda item: natural_order(item[0]))
