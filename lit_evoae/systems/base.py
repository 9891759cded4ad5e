"""What every system shares: the test of its best individual and the model-size metrics."""

from abc import ABC, abstractmethod
from typing import Any

import pytorch_lightning as pl
from torch import Tensor
from torchmetrics import MeanAbsoluteError, MeanMetric

from lit_evoae.checkpoints import SYSTEM_KEY
from lit_evoae.population.stacked import StackedAutoencoder


class AutoencoderSystem(pl.LightningModule, ABC):
    """Base of the systems: subclasses say which population and which individual is "best";
    `forward` reconstructs with that individual. Metric names are shared so that every later
    tool can rely on them.

    Pruning plugs in through one protocol for both regimes: after individuals finish a
    generation's training and before anything else uses them, the system calls
    `on_pairs_trained(trainer, system, rows)` on every callback that defines it; the callback
    edits the masks of `pruning_target()` and reports with `masks_changed(rows)`.

    A batch's work ends in the subclass's `finish_train_batch` (selection, pruning,
    replacement), which Lightning would run after its callbacks' `on_train_batch_end`; so
    callbacks that need the finished state (a pre-emption checkpoint) define
    `on_train_batch_finished(trainer, system, batch_idx)`, called after it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.test_l1 = MeanAbsoluteError()
        # The epoch's running mean is part of the checkpoint (persistent), so a run resumed
        # mid-epoch logs the same train/loss as one that was never interrupted.
        self.train_loss = MeanMetric()
        self.train_loss.persistent(True)

    @abstractmethod
    def best_individual(self) -> tuple[StackedAutoencoder, int]:
        """The population that holds the best individual, and its index there."""

    @abstractmethod
    def pruning_target(self) -> StackedAutoencoder:
        """The population whose just-trained individuals pruning acts on."""

    @abstractmethod
    def masks_changed(self, rows: Tensor) -> None:
        """Zero the weights and optimiser moments that the masks of `rows` now exclude."""

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Which system wrote it, so `lit-evoae export` can rebuild it from the file alone.
        checkpoint[SYSTEM_KEY] = f"{type(self).__module__}.{type(self).__qualname__}"

    def notify_pairs_trained(self, rows: Tensor) -> None:
        self._notify_callbacks("on_pairs_trained", rows)

    def finish_train_batch(self, batch_idx: int) -> None:
        """The system's own end of a training batch (its generation bookkeeping)."""

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.finish_train_batch(batch_idx)
        self._notify_callbacks("on_train_batch_finished", batch_idx)

    def _notify_callbacks(self, name: str, *arguments: Any) -> None:
        callbacks = self.trainer.callbacks if self._trainer is not None else []
        for callback in callbacks:
            hook = getattr(callback, name, None)
            if callable(hook):
                hook(self.trainer, self, *arguments)

    def log_train_loss(self, loss: Tensor) -> None:
        self.train_loss.update(loss.detach())
        self.log("train/loss", self.train_loss, on_step=False, on_epoch=True, prog_bar=True)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        inputs = batch[0]
        self.test_l1(self(inputs), inputs)
        self.log("test/l1", self.test_l1)

    def on_test_epoch_end(self) -> None:
        self.log_model_size()

    def log_model_size(self) -> None:
        population, index = self.best_individual()
        self.log("model/params", float(population.parameters_per_individual()))
        self.log("model/sparsity", population.sparsity()[index])
