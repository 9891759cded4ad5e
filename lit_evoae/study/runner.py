"""Run a study's runs on this machine: a pool of `lit-evoae fit` processes, resumable.

Each run writes into its own folder (resolved config, metrics.csv, checkpoints, log.txt).
A run is finished when its `result.json` exists; that file is written last and
atomically, so a study interrupted at any moment is resumed by running it again:
finished runs are skipped, a half-done run's folder is cleared and the run redone.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from lit_evoae.io import atomic_write_text
from lit_evoae.study.spec import Run, Study

RESULT = "result.json"


@dataclass
class Outcome:
    finished: list[Run] = field(default_factory=list)
    skipped: list[Run] = field(default_factory=list)
    failed: list[tuple[Run, str]] = field(default_factory=list)


def is_finished(run: Run, out: Path) -> bool:
    return (run.folder(out) / RESULT).is_file()


def run_study(study: Study, out: Path, workers: int, trials: int | None = None) -> Outcome:
    """Run every unfinished run of `study` under `out` with `workers` processes at a time."""
    runs = study.runs(trials)
    out.mkdir(parents=True, exist_ok=True)
    plan = [{"variant": r.variant, "trial": r.trial, "seed": r.seed, "choices": dict(r.choices)}
            for r in runs]  # fmt: skip
    atomic_write_text(out / "study.json", json.dumps({"name": study.name, "runs": plan}, indent=1))
    outcome = Outcome(skipped=[run for run in runs if is_finished(run, out)])
    pending = [run for run in runs if not is_finished(run, out)]
    threads = max(1, (os.cpu_count() or 1) // workers)
    with (
        ThreadPoolExecutor(max_workers=workers) as pool,
        tqdm(total=len(runs), initial=len(outcome.skipped), desc=study.name, unit="run") as bar,
    ):
        futures = {pool.submit(run_one, run, out, threads): run for run in pending}
        for future in as_completed(futures):
            run = futures[future]
            try:
                future.result()
                outcome.finished.append(run)
            except RunFailed as error:
                outcome.failed.append((run, str(error)))
            bar.update()
    return outcome


class RunFailed(Exception):
    """A run's process exited with an error; its log says why."""


def run_one(run: Run, out: Path, threads: int = 1) -> dict:
    folder = run.folder(out)
    if folder.exists():  # an interrupted attempt: start it over
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    command = [
        sys.executable, "-m", "lit_evoae.cli", "fit", *run.arguments(),
        "--trainer.logger", "pytorch_lightning.loggers.CSVLogger",
        "--trainer.logger.init_args.save_dir", str(folder),
        "--trainer.logger.init_args.name", "",
        "--trainer.logger.init_args.version", "",
        "--checkpoint.dirpath", str(folder / "checkpoints"),
        "--trainer.enable_progress_bar", "false",
    ]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "WANDB_MODE": "offline"}
    start = time.perf_counter()
    with (folder / "log.txt").open("w") as log:
        status = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
    if status.returncode != 0:
        raise RunFailed(f"{run.variant} trial {run.trial} failed; see {folder / 'log.txt'}")
    seconds = round(time.perf_counter() - start, 2)
    result = {"variant": run.variant, "trial": run.trial, "seed": run.seed, "seconds": seconds,
              "choices": dict(run.choices), **final_metrics(folder)}  # fmt: skip
    atomic_write_text(folder / RESULT, json.dumps(result, indent=1))
    return result


def final_metrics(folder: Path) -> dict:
    """test/l1 and the model size from the run's test, and its best val/l1."""
    with (folder / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    tested = [row for row in rows if row.get("test/l1")]
    validated = [float(row["val/l1"]) for row in rows if row.get("val/l1")]
    if not tested:
        raise RunFailed(f"{folder}: the run logged no test/l1 (was test_after_fit disabled?)")
    last = tested[-1]
    return {
        "test/l1": float(last["test/l1"]),
        "model/sparsity": float(last["model/sparsity"]),
        "model/params": float(last["model/params"]),
        "val/l1_best": min(validated) if validated else None,
        "epochs": 1 + max(int(row["epoch"]) for row in rows if row.get("train/loss")),
    }
