"""Helpers for tests that write results by hand, as the runner would."""

import json
from pathlib import Path

from lit_evoae import keys


def write_result(out: Path, variant: str, trial: int, fields: dict) -> Path:
    """`out/variant/trial_NNN/result.json` holding `fields` beside the variant, the trial
    and its seed (the trial number); the run's folder, for its metrics.csv."""
    folder = out / variant / f"trial_{trial:03d}"
    folder.mkdir(parents=True)
    record = {"variant": variant, "trial": trial, "seed": trial, **fields}
    (folder / keys.RESULT).write_text(json.dumps(record))
    return folder


def pruned_with(pruning: str) -> dict:
    """The operator and schedule a result records for the callbacks/ fragment `pruning`
    (`random_final_n`: random, final_n; `none`: none, none)."""
    if pruning == "none":
        return {"operator": "none", "schedule": "none"}
    operator, _, schedule = pruning.partition("_")
    return {"operator": operator, "schedule": schedule}
