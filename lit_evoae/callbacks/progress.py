"""Progress for logs: one line every few generations instead of a redrawn bar.

A tqdm bar written to a file (a SLURM log, `> out.txt`) is hundreds of lines of carriage
returns. When stdout is not a terminal the CLI uses this progress bar instead: a plain
line with the generation, the validation L1 and the time left, about twenty times a run.
"""

import sys
import time

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ProgressBar

from lit_evoae import keys


class GenerationLines(ProgressBar):
    """One line per `every` generations (default: a twentieth of the run), and at the end."""

    def __init__(self, every: int | None = None) -> None:
        super().__init__()
        self.every = every
        self._enabled = True
        self._started = 0.0
        self._first_epoch = 0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = time.perf_counter()
        self._first_epoch = trainer.current_epoch  # a resumed run counts from here

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not (self._enabled and trainer.is_global_zero):
            return
        done, total = trainer.current_epoch + 1, trainer.max_epochs
        every = self.every or (max(1, total // 20) if total > 0 else 1)
        if done % every and done != total:
            return
        print(self.line(trainer, done, total), file=sys.stdout, flush=True)

    def line(self, trainer: pl.Trainer, done: int, total: int) -> str:
        parts = [f"generation {done}/{total}" if total > 0 else f"generation {done}"]
        for key in (keys.VAL_L1, keys.TRAIN_LOSS):
            value = trainer.callback_metrics.get(key)
            if value is not None:
                parts.append(f"{key} {float(value):.4f}")
        elapsed = time.perf_counter() - self._started
        ran = done - self._first_epoch
        if ran > 0:
            per_generation = elapsed / ran
            parts.append(f"{per_generation:.2f} s/generation")
            if total > done:
                parts.append(f"about {_duration(per_generation * (total - done))} left")
        return " · ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
