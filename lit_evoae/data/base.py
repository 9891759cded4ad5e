"""The loaders every data module here shares: three in-memory tensor splits."""

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, TensorDataset

from lit_evoae.arguments import NonNegativeInt, PositiveInt, check
from lit_evoae.errors import ConfigError, DataError


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
    which the CLI links to the model so the width is given once. `shuffle: false` trains on
    the training split in the order it is held (the reference's `--no_shuffle_data`): the
    systems read it, since they make the minibatches (`population.training.pass_orders`).
    """

    input_dim: int

    def __init__(
        self,
        batch_size: PositiveInt,
        num_workers: NonNegativeInt,
        eval_batch_size: PositiveInt = 250,
        shuffle: bool = True,
    ) -> None:
        super().__init__()
        self.batch_size = check("batch_size", batch_size, PositiveInt)
        self.shuffle = shuffle
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


def fraction_split(
    count: int,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    where: str,
    stored_order: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """Row indices of (train, val, test) for `count` examples shuffled with `seed`: about
    `val_fraction` and `test_fraction` of them (test may be 0: a set with its own test
    split), the rest train, in the order they are stored if `stored_order`. A split that
    would be empty is a one-line error naming `where`."""
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= value < 1:
            raise ConfigError(f"{where}: {name}={value} is invalid: choose a value in [0, 1)")
    if val_fraction + test_fraction >= 1:
        raise ConfigError(
            f"{where}: val_fraction {val_fraction} + test_fraction {test_fraction} leave no "
            "examples to train on; choose fractions that sum below 1"
        )
    val, test = round(val_fraction * count), round(test_fraction * count)
    sizes = {"training": count - val - test, "validation": val}
    if test_fraction > 0:
        sizes["test"] = test
    empty = [name for name, size in sizes.items() if size < 1]
    if empty:
        raise DataError(
            f"{where}: {count} examples are too few for the {' and '.join(empty)} split(s) "
            f"(val_fraction {val_fraction}, test_fraction {test_fraction}); use more "
            "examples or other fractions"
        )
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    train_end = count - val - test
    train = order[:train_end].sort().values if stored_order else order[:train_end]
    return train, order[train_end : train_end + val], order[train_end + val :]
