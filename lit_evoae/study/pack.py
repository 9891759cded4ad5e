"""Several trials of one coevolution variant trained as one batched process (`--pack N`).

The trials become one `Trials` population whose trial t is seeded with run t's seed, so
each draws what it would draw alone (weights, batch order, selection, mutation, pruning).
Each trial still ends with its own folder: `metrics.csv` (its validation L1 per
generation and its test row), `best_autoencoder.pt` (its best cell at its best
generation, as an unpacked run keeps the best checkpoint's best cell) and `result.json`
(written by the same function as an unpacked run's), so `report`, a resumed study and
SLURM arrays read packed and unpacked trials alike.

    python -m lit_evoae.study.pack PACK.json   (what `lit-evoae-study run --pack` starts)

Exit status NOT_PACKABLE means the variant is not a coevolution: the runner runs its
trials alone.
"""

import csv
import json
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from lit_evoae import keys
from lit_evoae.cli import build_cli
from lit_evoae.metrics import split_l1
from lit_evoae.nets import save_autoencoder
from lit_evoae.population.stacked import StackedAutoencoder, copy_individuals_
from lit_evoae.population.topology import Trials
from lit_evoae.study.results import read_metrics, write_result
from lit_evoae.study.runner import NOT_PACKABLE
from lit_evoae.study.spec import Run
from lit_evoae.systems import CoevolutionaryAutoencoder


class TrialBests(pl.Callback):
    """Each trial's best cell so far (lowest validation L1), kept in row t of `bests`."""

    def __init__(self, trials: int) -> None:
        self.trials = trials
        self.best = [float("inf")] * trials
        self.bests: StackedAutoencoder | None = None

    def on_validation_end(self, trainer: pl.Trainer, system) -> None:
        if trainer.sanity_checking:
            return
        centers = system.centers
        if self.bests is None:
            self.bests = StackedAutoencoder(
                self.trials, centers.encoder_sizes, centers.decoder_sizes
            ).to(system.device)
        per_cell = system.center_l1.view(self.trials, -1)
        for trial, row in enumerate(per_cell):
            if float(row.min()) < self.best[trial]:
                self.best[trial] = float(row.min())
                cell = trial * per_cell.shape[1] + int(row.argmin())
                copy_individuals_(self.bests, centers, torch.tensor([trial]), torch.tensor([cell]))


def pack_arguments(runs: list[Run], folder: Path, logging: Path) -> list[str]:
    """The `lit-evoae fit` arguments of the pack: the variant's, seeded with its first run."""
    return [
        *runs[0].arguments(),
        "--config",
        str(logging),
        "--trainer.default_root_dir",
        str(folder),
        "--checkpoint.dirpath",
        str(folder / "checkpoints"),
        "--trainer.enable_progress_bar",
        "false",
        "--test_after_fit",
        "false",
    ]


def run_pack(runs: list[Run], out: Path, folder: Path, logging: Path) -> int:
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
    data = cli.datamodule
    test_l1 = split_l1(bests.bests, data.splits["test"].tensors[0], data.eval_batch_size)
    sparsity = bests.bests.sparsity()
    seconds = round(time.perf_counter() - start, 2)
    rows = read_metrics(Path(cli.trainer.logger.log_dir) / keys.METRICS_CSV)
    for trial, run in enumerate(runs):
        folder = run.folder(out)
        folder.mkdir(parents=True, exist_ok=True)
        _write_trial_metrics(
            folder,
            rows,
            trial if len(runs) > 1 else None,
            float(test_l1[trial]),
            float(sparsity[trial]),
            bests.bests.parameters_per_individual(),
        )
        save_autoencoder(bests.bests.individual(trial), folder / keys.BEST_AUTOENCODER)
        write_result(run, out, seconds, packed_with=len(runs))
    return 0


def _write_trial_metrics(
    folder: Path, rows: list[dict], trial: int | None, test_l1: float, sparsity: float, params: int
) -> None:
    """A trial's metrics.csv, as an unpacked run logs it: val/l1 per generation, then the
    test row, and the final/* metrics under their plain names."""
    validation = keys.trial(keys.VAL_L1, trial)
    finals = {keys.trial(keys.final(name), trial): keys.final(name) for name in keys.FINAL_NAMES}
    columns = [
        "epoch",
        keys.VAL_L1,
        keys.TEST_L1,
        keys.MODEL_SPARSITY,
        keys.MODEL_PARAMS,
        *finals.values(),
    ]
    validated = [
        {"epoch": row["epoch"], keys.VAL_L1: row[validation]} for row in rows if row.get(validation)
    ]
    final = {plain: row[key] for row in rows for key, plain in finals.items() if row.get(key)}
    with (folder / keys.METRICS_CSV).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(validated)
        writer.writerow(
            {
                "epoch": validated[-1]["epoch"],
                keys.TEST_L1: test_l1,
                keys.MODEL_SPARSITY: sparsity,
                keys.MODEL_PARAMS: params,
                **final,
            }
        )


def main(argv: list[str] | None = None) -> None:
    spec = json.loads(Path((argv or sys.argv[1:])[0]).read_text())
    runs = [Run.from_plan(record) for record in spec["runs"]]
    sys.exit(run_pack(runs, Path(spec["out"]), Path(spec["folder"]), Path(spec["logging"])))


if __name__ == "__main__":
    main()
