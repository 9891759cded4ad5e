"""The image module on tiny MNIST-format files the test writes (nothing is downloaded)."""

import struct

import pytest
import torch

from lit_evoae.data import ImageDataModule
from lit_evoae.errors import ConfigError, DataError


def write_idx(folder, prefix, images):
    """Write `images` (N, 28, 28 uint8) and labels in torchvision's raw idx format."""
    folder.mkdir(parents=True, exist_ok=True)
    count = len(images)
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(
        struct.pack(">IIII", 0x803, count, 28, 28) + images.numpy().tobytes()
    )
    labels = torch.arange(count, dtype=torch.uint8) % 10
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(
        struct.pack(">II", 0x801, count) + labels.numpy().tobytes()
    )


@pytest.fixture
def tiny_images():
    generator = torch.Generator().manual_seed(0)
    train = torch.randint(0, 256, (20, 28, 28), generator=generator, dtype=torch.uint8)
    test = torch.randint(0, 256, (6, 28, 28), generator=generator, dtype=torch.uint8)
    return train, test


@pytest.mark.parametrize(
    ("dataset", "folder"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")]
)
def test_reads_torchvision_files_as_unit_vectors(tmp_path, tiny_images, dataset, folder):
    train, test = tiny_images
    raw = tmp_path / folder / "raw"
    write_idx(raw, "train", train)
    write_idx(raw, "t10k", test)
    module = ImageDataModule(dataset=dataset, data_dir=tmp_path, val_examples=5, batch_size=4)
    module.setup("fit")
    assert module.input_dim == 784
    assert {split: len(data) for split, data in module.splits.items()} == {
        "train": 15,
        "val": 5,
        "test": 6,
    }
    test_vectors = module.splits["test"].tensors[0]
    torch.testing.assert_close(test_vectors, test.flatten(1).float() / 255)
    # Train and validation partition the training images.
    seen = torch.cat([module.splits["train"].tensors[0], module.splits["val"].tensors[0]])
    assert sorted(seen.sum(1).tolist()) == sorted((train.flatten(1).float() / 255).sum(1).tolist())
    ((inputs, _),) = list(module.train_dataloader())  # the whole split, once per epoch
    assert inputs.shape == (len(module.splits["train"]), 784)


def test_missing_files_name_the_path_and_the_download_flag(tmp_path):
    module = ImageDataModule(data_dir=tmp_path / "nowhere")
    with pytest.raises(DataError) as raised:
        module.setup("fit")
    assert str(tmp_path / "nowhere" / "MNIST" / "raw") in str(raised.value)
    assert "download" in str(raised.value)


def test_validation_larger_than_training_set_is_refused(tmp_path, tiny_images):
    train, test = tiny_images
    write_idx(tmp_path / "MNIST" / "raw", "train", train)
    write_idx(tmp_path / "MNIST" / "raw", "t10k", test)
    with pytest.raises(ConfigError, match="val_examples=20"):
        ImageDataModule(data_dir=tmp_path, val_examples=20).setup("fit")


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(ConfigError, match="fashion_mnist"):
        ImageDataModule(dataset="cifar")


def test_default_validation_is_a_share_that_fits_a_small_set(tmp_path, tiny_images):
    train, test = tiny_images
    write_idx(tmp_path / "MNIST" / "raw", "train", train)
    write_idx(tmp_path / "MNIST" / "raw", "t10k", test)
    module = ImageDataModule(data_dir=tmp_path)  # the default was 5000 images: it failed here
    module.setup("fit")
    assert (len(module.splits["train"]), len(module.splits["val"])) == (18, 2)


def test_a_folder_of_images_is_grey_scaled_resized_and_split(tmp_path):
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for index in range(60):
        folder = tmp_path / "digits" / str(digits.target[index])
        folder.mkdir(parents=True, exist_ok=True)
        grey = (digits.images[index] * 255 / 16).astype("uint8")
        Image.fromarray(grey).convert("RGB").save(folder / f"{index}.png")  # colour on disk
    module = ImageDataModule(
        dataset=str(tmp_path / "digits"), image_size=8, val_fraction=0.2, test_fraction=0.1
    )
    module.setup("fit")
    assert module.input_dim == 64
    sizes = {name: len(split) for name, split in module.splits.items()}
    assert sizes == {"train": 42, "val": 12, "test": 6}
    vectors = torch.cat([split.tensors[0] for split in module.splits.values()])
    assert vectors.shape == (60, 64) and 0 <= float(vectors.min()) < float(vectors.max()) <= 1
    expected = torch.tensor(digits.images[:60].reshape(60, 64) / 16, dtype=torch.float32)
    torch.testing.assert_close(vectors.sum(), expected.sum(), atol=2.0, rtol=0.01)
    resized = ImageDataModule(dataset=str(tmp_path / "digits"), image_size=16)
    resized.setup("fit")
    assert resized.input_dim == 256 and resized.splits["train"].tensors[0].shape[1] == 256


def test_a_folder_without_class_subfolders_says_how_to_lay_it_out(tmp_path):
    (tmp_path / "flat").mkdir()
    with pytest.raises(DataError, match=r"one subfolder per class holding the images"):
        ImageDataModule(dataset=str(tmp_path / "flat")).setup("fit")


def test_image_size_is_for_folders_only():
    with pytest.raises(ConfigError, match="image_size=32 is invalid for mnist"):
        ImageDataModule(image_size=32)
