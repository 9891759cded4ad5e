"""Checkpoints on a clock: a big population writes itself every few minutes, not every generation.

A pack of hundreds of trials holds gigabytes of weights; writing them at every generation
would cost more than training. At the end of a generation at least `minutes` after the last
write, the state is taken (the one a pre-emption checkpoint holds, so a resume from it is
exact); it is written at the start of the next generation, after the logger has flushed
that generation's metrics, so the file is never ahead of metrics.csv. A run killed outright
(SIGKILL, a lost node) resumes from the newest one and logs the generations after it again.
"""

import time
from pathlib import Path

import pytorch_lightning as pl

from lit_evoae import compat, keys
from lit_evoae.arguments import NonNegativeFloat, check
from lit_evoae.runs import run_folder


class ClockCheckpoint(pl.Callback):
    """Write `clock.ckpt` in the run folder every `minutes` (0: every generation).

    `seconds_writing` and `writes` say what the checkpoints cost; `seconds()` how long the
    run has trained, the processes it resumed from included (kept in every checkpoint), so
    that a resumed pack's results report its whole time, not its last process's."""

    def __init__(self, minutes: NonNegativeFloat = 5.0) -> None:
        self.minutes = check("minutes", minutes, NonNegativeFloat)
        self.seconds_writing = 0.0
        self.writes = 0
        self._pending: dict | None = None
        self._last = self._started = time.perf_counter()
        self.seconds_before = 0.0  # trained by the processes this one resumed from

    def seconds(self) -> float:
        return self.seconds_before + time.perf_counter() - self._started

    def state_dict(self) -> dict:
        return {"seconds": self.seconds()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.seconds_before = float(state_dict.get("seconds", 0.0))

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._last = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        last = trainer.max_epochs is not None and trainer.current_epoch + 1 >= trainer.max_epochs
        if not last and time.perf_counter() - self._last >= 60 * self.minutes:
            self._pending = compat.dump_checkpoint(trainer)  # the state between generations

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._pending is None:
            return
        start = time.perf_counter()
        for logger in trainer.loggers:
            logger.save()  # the finished generation's metrics first
        path = Path(run_folder(trainer)) / keys.CLOCK_CHECKPOINT
        trainer.strategy.save_checkpoint(self._pending, path)  # atomic (AtomicCheckpointIO)
        self._pending = None
        self._last = time.perf_counter()
        self.seconds_writing += self._last - start
        self.writes += 1
