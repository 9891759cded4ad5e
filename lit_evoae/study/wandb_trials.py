"""A pack's trials as Weights & Biases runs of their own, as unpacked runs are.

A pack is one process for many trials, and W&B holds one live run per process well, not
hundreds; so each trial's run is written when the pack ends, from its own `metrics.csv`
(every key a run alone logs, stepped by generation): project, group = variant, name =
`<variant>/trial_NNN`, tags `axis=choice`, in the trial's folder, offline without a key.
"""

from pathlib import Path

from lit_evoae import keys
from lit_evoae.loggers import wandb_configured
from lit_evoae.study.results import read_metrics
from lit_evoae.study.spec import Run


def log_trials(runs: list[Run], out: Path, project: str) -> None:
    """One W&B run per trial of a finished pack, from the metrics.csv in its folder."""
    import wandb  # here, not at import time: it is slow to import and only needed now

    mode = None if wandb_configured() else "offline"  # None: WANDB_MODE or the key decide
    for run in runs:
        folder = run.folder(out)
        rows = read_metrics(folder / keys.METRICS_CSV)
        settings = {
            "project": project,
            "group": run.variant,
            "name": run.key,
            "tags": [f"{axis}={name}" for axis, name in run.choices],
            "dir": str(folder),
            "mode": mode,
            "config": {"seed": run.seed, "choices": dict(run.choices), "packed_with": len(runs)},
        }
        with wandb.init(**settings) as logged:
            last = 0
            for row in rows:
                last = int(row["epoch"]) if row.get("epoch") else last
                values = {
                    key: float(value) for key, value in row.items() if key != "epoch" and value
                }
                logged.log(values, step=last)
