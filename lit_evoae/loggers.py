"""A CSV logger that survives being resumed into the same folder.

Lightning's CSVLogger deletes an existing `metrics.csv` when it starts in a non-empty
folder. A requeued SLURM task (or any resume into a fixed folder, as study runs do) would
so lose every metric logged before the pre-emption; this one appends to the file instead.
"""

import csv
import os
from pathlib import Path

from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter

from lit_evoae.io import replacing


class _AppendingWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        # Lightning's writer deletes metrics.csv here; keep it and continue its columns.
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as handle:
                self.metrics_keys = sorted(next(csv.reader(handle), []))


class ResumableCSVLogger(CSVLogger):
    """CSVLogger (same arguments) whose metrics.csv is appended to, never replaced."""

    def forget_after_epoch(self, epoch: int) -> None:
        """Drop the rows of epochs after `epoch`, the last one a checkpoint holds: the run
        resumed from it logs them again (a run pre-empted, resumed, then killed before its
        next checkpoint). Test rows and rows without an epoch (final metrics) stay."""
        path = os.path.join(self.log_dir, ExperimentWriter.NAME_METRICS_FILE)
        if not os.path.isfile(path):
            return
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            fields, rows = reader.fieldnames or [], list(reader)
        kept = [
            row
            for row in rows
            if not row.get("epoch")
            or float(row["epoch"]) <= epoch
            or any(value and key.startswith("test/") for key, value in row.items())
        ]
        if len(kept) == len(rows):
            return
        with replacing(path) as temporary, open(temporary, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(kept)

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


def wandb_configured() -> bool:
    """True if the user chose a W&B mode or has credentials (WANDB_API_KEY or ~/.netrc);
    without them, wandb would stop a run to ask for a key, so lit_evoae logs offline."""
    if os.environ.get("WANDB_MODE") or os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path.home() / ".netrc"
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")
