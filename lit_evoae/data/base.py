"""The loaders every data module here shares: three in-memory tensor splits."""

import pytorch_lightning as pl
from torch.utils.data import DataLoader, TensorDataset

from lit_evoae.validation import NonNegativeInt, PositiveInt, check


class TensorDataModule(pl.LightningDataModule):
    """Serves `self.splits["train" | "val" | "test"]`, each a `TensorDataset` of (vector, label).

    Subclasses fill `splits` in `setup` and set `input_dim`, the width of a vector,
    which the CLI links to the model so the width is given once.
    """

    input_dim: int

    def __init__(self, batch_size: PositiveInt, num_workers: NonNegativeInt) -> None:
        super().__init__()
        self.batch_size = check("batch_size", batch_size, PositiveInt)
        self.num_workers = check("num_workers", num_workers, NonNegativeInt)
        self.splits: dict[str, TensorDataset] = {}

    def _loader(self, split: str, shuffle: bool = False) -> DataLoader:
        return DataLoader(
            self.splits[split],
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
