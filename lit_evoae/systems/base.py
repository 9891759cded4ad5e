"""What every system shares: the test of its best individual and the model-size metrics."""

from abc import ABC, abstractmethod

import pytorch_lightning as pl
from torch import Tensor
from torchmetrics import MeanAbsoluteError

from lit_evoae.population.stacked import StackedAutoencoder


class AutoencoderSystem(pl.LightningModule, ABC):
    """Base of the systems: subclasses say which population and which individual is "best";
    `forward` reconstructs with that individual. Metric names are shared so that every later
    tool can rely on them."""

    def __init__(self) -> None:
        super().__init__()
        self.test_l1 = MeanAbsoluteError()

    @abstractmethod
    def best_individual(self) -> tuple[StackedAutoencoder, int]:
        """The population that holds the best individual, and its index there."""

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
