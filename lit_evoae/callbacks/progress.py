"""Progress that counts generations: a bar in a terminal, a line now and then in a log.

One Lightning epoch is one generation and one training step, so Lightning's bar reads
`Epoch 2: 100% 1/1` and says nothing of the run. In a terminal the CLI uses
`GenerationBar` (generations done/total, the time left, val/l1); when stdout is not a
terminal (a SLURM log, `> out.txt`), where a redrawn bar is hundreds of lines of carriage
returns, `GenerationLines`: a plain line with the generation, the validation L1 and the
time left, about twenty times a run.
"""

import sys
import time

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ProgressBar, TQDMProgressBar
from pytorch_lightning.callbacks.progress.tqdm_progress import Tqdm

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
                parts.append(f"about {duration(per_generation * (total - done))} left")
        return " · ".join(parts)


class GenerationBar(TQDMProgressBar):
    """One bar over the whole fit: generations done/total, elapsed and left (tqdm's own
    estimate), and the metrics; no bar per generation or per validation."""

    def init_train_tqdm(self) -> Tqdm:
        epochs = self.trainer.max_epochs
        return Tqdm(
            desc="generations",
            total=epochs if epochs and epochs > 0 else None,
            initial=self.trainer.current_epoch,  # a resumed run counts on from there
            unit="gen",
            disable=self.is_disabled,
            leave=True,
            dynamic_ncols=True,
            file=sys.stdout,
            smoothing=0.1,
            mininterval=0,  # a redraw per generation: a few hundred in a whole run
        )

    def on_train_epoch_start(self, trainer: pl.Trainer, *_) -> None:
        pass  # one bar for the fit, not one per generation

    def on_train_batch_end(self, *_) -> None:
        pass  # a generation is one step: the bar moves when it ends

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        bar = self.train_progress_bar
        if not bar.disable:
            bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
            bar.update(1)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn != "fit":
            super().on_validation_start(trainer, pl_module)

    def on_validation_batch_start(self, trainer: pl.Trainer, *args, **kwargs) -> None:
        if trainer.state.fn != "fit":
            super().on_validation_batch_start(trainer, *args, **kwargs)

    def on_validation_batch_end(self, trainer: pl.Trainer, *args, **kwargs) -> None:
        if trainer.state.fn != "fit":
            super().on_validation_batch_end(trainer, *args, **kwargs)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn != "fit":
            super().on_validation_end(trainer, pl_module)


def duration(seconds: float) -> str:
    """A time span as people say it: seconds, minutes or hours."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
