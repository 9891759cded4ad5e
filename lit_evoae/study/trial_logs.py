"""Each trial of a pack keeps its own metrics.csv while the pack trains.

The system hands every per-trial value to its `Pack`, which gives them to `TrialLogs`
here instead of to Lightning: one Lightning `log` call per trial and key cost about 2 ms
and would be thousands a generation in a large pack. Values are reduced over a
generation as Lightning reduces a run's own (float32; a mean weights each value by the
batch it was logged in, as `LightningModule.log` does), and written under the names a run
alone logs, one row per epoch for validation and one for training, then the final row:
so a trial's file holds the numbers a run alone would log.
"""

import csv
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.data import extract_batch_size
from torch import Tensor

from lit_evoae import keys
from lit_evoae.io import naming, replacing
from lit_evoae.study.results import read_metrics


class TrialLog:
    """One trial's metrics.csv: rows appended as they come; the file is read back and
    rewritten only when a row brings a new column. No row is kept in memory: a long pack of
    hundreds of trials would otherwise grow by every value it ever logged."""

    def __init__(self, path: Path, last_epoch: int) -> None:
        """Keep the rows of epochs up to `last_epoch` that an earlier attempt wrote (the
        checkpoint the pack resumes from holds them), and nothing else."""
        self.path = path
        kept = read_metrics(path) if path.is_file() else []
        kept = [row for row in kept if row.get("epoch") and int(row["epoch"]) <= last_epoch]
        self.columns = list(dict.fromkeys(key for row in kept for key in row))
        self.epoch_of_last_row = kept[-1]["epoch"] if kept else 0
        self._rewrite(kept)

    def append(self, row: dict) -> None:
        self.epoch_of_last_row = row.get("epoch", "")
        new = [key for key in row if key not in self.columns]
        if new:
            self.columns += new
            self._rewrite([*read_metrics(self.path), row])
            return
        with naming(self.path), self.path.open("a", newline="") as handle:
            csv.DictWriter(handle, self.columns).writerow(row)

    def _rewrite(self, rows: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(self.path) as temporary, open(temporary, "w", newline="") as handle:
            writer = csv.DictWriter(handle, self.columns)
            writer.writeheader()
            writer.writerows(rows)


class TrialLogs(pl.Callback):
    """The per-trial values of a pack's system (see `Pack.log`), written to `logs[t]`."""

    def __init__(self, paths: list[Path], last_epoch: int = -1) -> None:
        self.logs = [TrialLog(path, last_epoch) for path in paths]
        # What Lightning weights a mean by: the training batch's size inside the training
        # step (one batch: a generation), 1 elsewhere (validation hooks log at epoch end).
        self._batch_size = 1
        self._phase = "validation"
        # (phase, key) -> (sum, summed batch sizes or None for a sum, which trials logged it)
        self._pending: dict[tuple[str, str], tuple[Tensor, Tensor | None, Tensor]] = {}

    # ------------------------------------------------------------------ what the pack hands on
    def add(self, key: str, values: Tensor, trials: Tensor, reduce_fx: str = "mean") -> None:
        """Values (n,) of `key` for `trials` (n,), reduced over the generation."""
        phase, values = self._phase, values.detach().float().cpu()
        if (phase, key) not in self._pending:  # Lightning's start: 0.0, and no batches
            zeros = torch.zeros(len(self.logs))
            counts = None if reduce_fx == "sum" else torch.zeros(len(self.logs), dtype=torch.long)
            self._pending[phase, key] = (zeros, counts, torch.zeros(len(self.logs), dtype=bool))
        total, counts, seen = self._pending[phase, key]
        if counts is None:
            total[trials] = total[trials] + values
        else:
            total[trials] = total[trials] + values * self._batch_size
            counts[trials] = counts[trials] + self._batch_size
        seen[trials] = True

    def add_cells(self, key: str, values: Tensor, cells: Tensor, size: int) -> None:
        """Values (n,) of `key` for `cells` (n,) of the pack, whose trials have `size` cells
        each: each under its cell's number within its trial."""
        values, cells = values.detach().reshape(-1).cpu(), cells.cpu()
        local = cells % size
        for cell in local.unique().tolist():  # one call per cell number, for all its trials
            mine = local == cell
            self.add(keys.cell(key, cell), values[mine], cells[mine] // size)

    def final(self, metrics: dict[str, Tensor]) -> None:
        """Each trial's final metrics (key -> (trials,)), as the final row of its log."""
        for trial, log in enumerate(self.logs):
            log.append({"epoch": "", **{key: float(v[trial]) for key, v in metrics.items()}})

    # ------------------------------------------------------------------ Lightning hooks
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._batch_size, self._phase = extract_batch_size(batch), "train"

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._batch_size, self._phase = 1, "validation"  # Lightning forgets the batch too

    def on_validation_end(self, trainer: pl.Trainer, pl_module) -> None:
        if trainer.sanity_checking:  # Lightning logs nothing of the sanity check either
            self._take("validation")
        else:
            self._write("validation", trainer.current_epoch)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module) -> None:
        self._write("train", trainer.current_epoch)

    def _take(self, phase: str) -> dict:
        taken = {key: value for (p, key), value in self._pending.items() if p == phase}
        for key in taken:
            del self._pending[phase, key]
        return taken

    def _write(self, phase: str, epoch: int) -> None:
        rows = [{} for _ in self.logs]
        for key, (total, counts, seen) in self._take(phase).items():
            reduced = total if counts is None else total / counts.clamp(min=1)
            for trial in seen.nonzero().squeeze(1).tolist():
                rows[trial][key] = reduced[trial].item()
        for log, row in zip(self.logs, rows, strict=True):
            if row:
                log.append({"epoch": epoch, **row})
