"""Several trials of one coevolution variant trained as one batched process (`--pack N`).

The trials become one `Trials` population whose trial t is seeded with run t's seed, so
each draws what it would draw alone (weights, batch order, selection, mutation, pruning).
Each trial still ends with its own folder: `metrics.csv` (its validation L1 per
generation and its test row), `best_autoencoder.pt` (its best cell at its best
generation, as an unpacked run keeps the best checkpoint's best cell) and `result.json`,
so `report`, a resumed study and SLURM arrays read packed and unpacked trials alike.

    python -m lit_evoae.study.pack PACK.json   (what `lit-evoae-study run --pack` starts)

Exit status 3 means the variant is not a coevolution: the runner runs its trials alone.
"""

import csv
import json
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from lit_evoae.io import atomic_write_text
from lit_evoae.nets import save_autoencoder
from lit_evoae.study.runner import final_values
from lit_evoae.study.spec import Run

NOT_PACKABLE = 3


class TrialBests(pl.Callback):
    """Each trial's best cell so far (lowest validation L1), kept as a plain autoencoder."""

    def __init__(self, trials: int) -> None:
        self.trials = trials
        self.best = [float("inf")] * trials
        self.autoencoders: list = [None] * trials

    def on_validation_end(self, trainer: pl.Trainer, system) -> None:
        if trainer.sanity_checking:
            return
        per_cell = system.center_l1.view(self.trials, -1)
        for trial, row in enumerate(per_cell):
            if float(row.min()) < self.best[trial]:
                self.best[trial] = float(row.min())
                cell = trial * per_cell.shape[1] + int(row.argmin())
                self.autoencoders[trial] = system.centers.individual(cell)


def pack_arguments(runs: list[Run], folder: Path, logging: Path) -> list[str]:
    """The `lit-evoae fit` arguments of the pack: the variant's, seeded with its first run."""
    return [*runs[0].arguments()[:-2], "--seed_everything", str(runs[0].seed),
            "--config", str(logging), "--trainer.default_root_dir", str(folder),
            "--checkpoint.dirpath", str(folder / "checkpoints"),
            "--trainer.enable_progress_bar", "false", "--test_after_fit", "false"]  # fmt: skip


def run_pack(runs: list[Run], out: Path, folder: Path, logging: Path) -> int:
    from lit_evoae.cli import build_cli
    from lit_evoae.population.topology import Trials
    from lit_evoae.systems import CoevolutionaryAutoencoder

    start = time.perf_counter()
    cli = build_cli(pack_arguments(runs, folder, logging), run=False)
    if not isinstance(cli.model, CoevolutionaryAutoencoder):
        return NOT_PACKABLE
    hparams = {key: value for key, value in cli.model.hparams.items() if not key.startswith("_")}
    hparams["topology"] = Trials(cli.model.topology, trials=len(runs))
    hparams["seeds"] = [run.seed for run in runs]
    system = CoevolutionaryAutoencoder(**hparams)
    bests = TrialBests(len(runs))
    cli.trainer.callbacks.append(bests)
    cli.trainer.fit(system, datamodule=cli.datamodule)
    test = torch.cat([batch[0] for batch in cli.datamodule.test_dataloader()])
    seconds = round(time.perf_counter() - start, 2)
    rows = _read_metrics(Path(cli.trainer.logger.log_dir) / "metrics.csv")
    for trial, run in enumerate(runs):
        _write_trial(run, trial, len(runs), out, rows, bests.autoencoders[trial], test, seconds)
    return 0


def _write_trial(run: Run, trial: int, trials: int, out: Path, rows: list[dict], autoencoder,
                 test: torch.Tensor, seconds: float) -> None:  # fmt: skip
    """One trial's folder, as an unpacked run leaves it."""
    folder = run.folder(out)
    folder.mkdir(parents=True, exist_ok=True)
    key = f"val/l1/trial_{trial:02d}" if trials > 1 else "val/l1"
    validated = [(int(row["epoch"]), float(row[key])) for row in rows if row.get(key)]
    with torch.no_grad():
        test_l1 = float((autoencoder(test) - test).abs().mean())
    weights = [p for p in autoencoder.parameters()]
    params = sum(p.numel() for p in weights)
    sparsity = sum(int((p == 0).sum()) for p in weights) / params
    with (folder / "metrics.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["epoch", "val/l1", "test/l1", "model/sparsity",
                                         "model/params"])  # fmt: skip
        writer.writeheader()
        writer.writerows({"epoch": epoch, "val/l1": value} for epoch, value in validated)
        writer.writerow({"epoch": validated[-1][0], "test/l1": test_l1,
                         "model/sparsity": sparsity, "model/params": params})  # fmt: skip
    save_autoencoder(autoencoder, folder / "best_autoencoder.pt")
    result = {"variant": run.variant, "trial": run.trial, "seed": run.seed, "seconds": seconds,
              "choices": dict(run.choices), "test/l1": test_l1, "model/sparsity": sparsity,
              "model/params": float(params), "val/l1_best": min(v for _, v in validated),
              "epochs": 1 + validated[-1][0], "packed_with": trials,
              **final_values(rows, trial if trials > 1 else None)}  # fmt: skip
    atomic_write_text(folder / "result.json", json.dumps(result, indent=1))


def _read_metrics(path: Path) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def main(argv: list[str] | None = None) -> None:
    spec = json.loads(Path((argv or sys.argv[1:])[0]).read_text())
    runs = [Run.from_plan(record) for record in spec["runs"]]
    sys.exit(run_pack(runs, Path(spec["out"]), Path(spec["folder"]), Path(spec["logging"])))


if __name__ == "__main__":
    main()
