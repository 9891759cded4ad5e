"""MNIST and FashionMNIST through torchvision, flattened to vectors in [0, 1].

For users with the files on disk (or a network): nothing is downloaded unless
`download` is true, and missing files give an error naming the folder and the flag.
"""

from pathlib import Path
from typing import Literal

import torch
from torch import Tensor
from torch.utils.data import TensorDataset
from torchvision import datasets

from lit_evoae.arguments import NonNegativeInt, PositiveInt, check
from lit_evoae.data.base import TensorDataModule
from lit_evoae.data.cache import ensure_directory
from lit_evoae.errors import ConfigError, DataError

DATASETS = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST}


class ImageDataModule(TensorDataModule):
    """28x28 grey images as 784-vectors; the last `val_examples` of a seeded shuffle of the
    training set become the validation split, the official test set the test split."""

    def __init__(
        self,
        dataset: Literal["mnist", "fashion_mnist"] = "mnist",
        data_dir: str | Path = "data",
        download: bool = False,
        val_examples: NonNegativeInt = 5000,
        seed: NonNegativeInt = 0,
        batch_size: PositiveInt = 64,
        num_workers: NonNegativeInt = 0,
        eval_batch_size: PositiveInt = 250,
    ) -> None:
        super().__init__(batch_size, num_workers, eval_batch_size)
        if dataset not in DATASETS:
            raise ConfigError(f"dataset={dataset!r} is invalid: choose one of {sorted(DATASETS)}")
        self.dataset = dataset
        self.data_dir = Path(data_dir)
        self.download = bool(download)
        self.val_examples = check("val_examples", val_examples, NonNegativeInt)
        self.seed = check("seed", seed, NonNegativeInt)
        self.save_hyperparameters(
            {
                "dataset": dataset,
                "data_dir": str(self.data_dir),
                "val_examples": self.val_examples,
                "seed": self.seed,
                "batch_size": self.batch_size,
            }
        )
        self.input_dim = 28 * 28

    def prepare_data(self) -> None:
        if self.download:
            ensure_directory(self.data_dir)
            for train in (True, False):
                DATASETS[self.dataset](self.data_dir, train=train, download=True)

    def _read(self, train: bool) -> tuple[Tensor, Tensor]:
        dataset_class = DATASETS[self.dataset]
        try:
            data = dataset_class(self.data_dir, train=train, download=False)
        except RuntimeError as error:
            raw = self.data_dir / dataset_class.__name__ / "raw"
            raise DataError(
                f"{self.dataset} files not found in {raw}. Set data.download: true "
                "(--data.download true) to fetch them, or point data.data_dir at a folder "
                f"holding {dataset_class.__name__}/raw/."
            ) from error
        return data.data.flatten(1).float() / 255.0, data.targets

    def setup(self, stage: str) -> None:
        images, labels = self._read(train=True)
        if self.val_examples >= len(images):
            raise ConfigError(
                f"val_examples={self.val_examples} is invalid: the training set has only "
                f"{len(images)} images; choose fewer"
            )
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(self.seed))
        train, val = (
            order[: len(images) - self.val_examples],
            order[len(images) - self.val_examples :],
        )
        test_images, test_labels = self._read(train=False)
        self.splits = {
            "train": TensorDataset(images[train], labels[train]),
            "val": TensorDataset(images[val], labels[val]),
            "test": TensorDataset(test_images, test_labels),
        }
