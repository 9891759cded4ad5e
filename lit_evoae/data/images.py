"""Images as vectors in [0, 1]: MNIST and FashionMNIST through torchvision, or a folder of
your own images (torchvision's ImageFolder: one subfolder per class), grey-scaled and resized.

For users with the files on disk (or a network): nothing is downloaded unless
`download` is true, and missing files give an error naming the folder and the flag.
"""

from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import TensorDataset
from torchvision import datasets, transforms

from lit_evoae.arguments import NonNegativeInt, PositiveInt, check
from lit_evoae.data.base import TensorDataModule, fraction_split
from lit_evoae.data.cache import ensure_directory
from lit_evoae.errors import ConfigError, DataError

DATASETS = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST}
#: The validation share of the training images: MNIST's 5000 of 60000, as before.
VAL_FRACTION = 1 / 12


class ImageDataModule(TensorDataModule):
    """Grey images as vectors. `dataset` is `mnist` or `fashion_mnist` (28x28, from
    `data_dir`; the official test set is the test split), or the path of a folder of images
    in torchvision's ImageFolder layout (`DIR/<class>/<image>`, any format Pillow reads),
    each grey-scaled and resized to `image_size` x `image_size`, with `test_fraction` of
    them the test split. `val_fraction` of the (rest of the) training images, after a
    shuffle seeded by `seed`, is the validation split; `val_examples` fixes a count instead.
    """

    def __init__(
        self,
        dataset: str = "mnist",
        data_dir: str | Path = "data",
        download: bool = False,
        val_fraction: float = VAL_FRACTION,
        val_examples: NonNegativeInt | None = None,
        test_fraction: float = 0.1,
        image_size: PositiveInt = 28,
        seed: NonNegativeInt = 0,
        batch_size: PositiveInt = 64,
        num_workers: NonNegativeInt = 0,
        eval_batch_size: PositiveInt = 250,
        shuffle: bool = True,
    ) -> None:
        super().__init__(batch_size, num_workers, eval_batch_size, shuffle)
        self.folder = None if dataset in DATASETS else Path(dataset)
        if self.folder is not None and not self.folder.is_dir():
            raise ConfigError(
                f"dataset={dataset!r} is invalid: choose one of {sorted(DATASETS)} or the "
                "path of an existing folder of images (one subfolder per class)"
            )
        if self.folder is None and image_size != 28:
            raise ConfigError(
                f"image_size={image_size} is invalid for {dataset}: its images are 28x28; "
                "image_size resizes the images of a folder"
            )
        self.dataset = dataset
        self.data_dir = Path(data_dir)
        self.download = bool(download)
        self.val_fraction = val_fraction
        self.val_examples = (
            None if val_examples is None else check("val_examples", val_examples, NonNegativeInt)
        )
        self.test_fraction = test_fraction if self.folder is not None else 0.0
        self.image_size = check("image_size", image_size, PositiveInt)
        self.seed = check("seed", seed, NonNegativeInt)
        self.save_hyperparameters(
            {
                "dataset": dataset,
                "data_dir": str(self.data_dir),
                "val_fraction": val_fraction,
                "val_examples": self.val_examples,
                "test_fraction": self.test_fraction,
                "image_size": self.image_size,
                "seed": self.seed,
                "batch_size": self.batch_size,
            }
        )
        self.input_dim = self.image_size**2

    def prepare_data(self) -> None:
        if self.download and self.folder is None:
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
                f"holding {dataset_class.__name__}/raw/; for your own images, set dataset "
                "to their folder."
            ) from error
        return data.data.flatten(1).float() / 255.0, data.targets

    def _read_folder(self) -> tuple[Tensor, Tensor]:
        size = (self.image_size, self.image_size)
        steps = transforms.Compose(
            [transforms.Grayscale(), transforms.Resize(size), transforms.ToTensor()]
        )
        try:
            folder = datasets.ImageFolder(str(self.folder), transform=steps)
        except (FileNotFoundError, OSError) as error:
            raise DataError(
                f"image folder {self.folder}: {error}; it needs one subfolder per class "
                "holding the images (e.g. DIR/all/*.png)"
            ) from error
        images = torch.stack([image.flatten() for image, _ in folder])
        return images, torch.tensor(folder.targets)

    def setup(self, stage: str) -> None:
        images, labels = self._read_folder() if self.folder else self._read(train=True)
        where = f"image data {self.dataset}"
        fraction = self.val_fraction
        if self.val_examples is not None:
            if self.val_examples >= len(images):
                raise ConfigError(
                    f"val_examples={self.val_examples} is invalid: the training set has only "
                    f"{len(images)} images; choose fewer"
                )
            fraction = self.val_examples / len(images)
        train, val, test = fraction_split(
            len(images), fraction, self.test_fraction, self.seed, where, not self.shuffle
        )
        if self.folder is None:
            test_images, test_labels = self._read(train=False)
        else:
            test_images, test_labels = images[test], labels[test]
        self.splits = {
            "train": TensorDataset(images[train], labels[train]),
            "val": TensorDataset(images[val], labels[val]),
            "test": TensorDataset(test_images, test_labels),
        }
