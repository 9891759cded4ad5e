"""The loaders every data module here shares: three in-memory tensor splits."""

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, TensorDataset

from lit_evoae.arguments import NonNegativeInt, PositiveInt, check


class WholeSplit(Dataset):
    """A data set of one item: a split's whole tensors.

    One Lightning training step of a lit_evoae system is one generation, which walks its own
    shuffled minibatches (`lit_evoae.population.training`); the training loader therefore
    hands over the whole split once per epoch, and Lightning moves it to the device.
    """

    def __init__(self, split: TensorDataset) -> None:
        self.tensors = split.tensors

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return self.tensors


class TensorDataModule(pl.LightningDataModule):
    """Serves `self.splits["train" | "val" | "test"]`, each a `TensorDataset` of (vector, label).

    Subclasses fill `splits` in `setup` and set `input_dim`, the width of a vector,
    which the CLI links to the model so the width is given once.
    """

    input_dim: int

    def __init__(
        self,
        batch_size: PositiveInt,
        num_workers: NonNegativeInt,
        eval_batch_size: PositiveInt = 250,
    ) -> None:
        super().__init__()
        self.batch_size = check("batch_size", batch_size, PositiveInt)
        self.num_workers = check("num_workers", num_workers, NonNegativeInt)
        # Scoring does not depend on batching: larger batches spare Lightning's per-batch work.
        self.eval_batch_size = check("eval_batch_size", eval_batch_size, PositiveInt)
        self.splits: dict[str, TensorDataset] = {}

    def _loader(self, split: str) -> DataLoader:
        return DataLoader(
            self.splits[split],
            batch_size=self.eval_batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        """The whole training split as one item per epoch (the systems make the minibatches)."""
        return DataLoader(WholeSplit(self.splits["train"]), batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")


def validation_inputs(trainer: pl.Trainer) -> Tensor:
    """The validation split's inputs, (examples, features); empty without a validation loader.
    What pruning draws its held-out cases and its loss probe from."""
    data = trainer.datamodule
    loader = data.val_dataloader() if data is not None else None
    if not loader:
        return torch.empty(0)
    return torch.cat([batch[0] for batch in loader])
