"""Your own vectors: arrays in four file kinds, seeded splits, and one-line errors; trained on
scikit-learn's handwritten digits (shipped with the package: nothing is downloaded)."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from lit_evoae.cli import build_cli
from lit_evoae.data import ArrayDataModule
from lit_evoae.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return (load_digits().data / 16.0).astype(np.float32)  # 1797 x 64, values in [0, 1]


def write(path, array):
    if path.suffix == ".npy":
        np.save(path, array)
    elif path.suffix == ".npz":
        np.savez(path, vectors=array)
    elif path.suffix == ".pt":
        torch.save(torch.as_tensor(array), path)
    else:
        header = ",".join(f"f{i}" for i in range(array.shape[1]))
        np.savetxt(path, array, delimiter=",", header=header, comments="")
    return path


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".pt", ".csv"])
def test_every_file_kind_reads_the_same_rows_into_seeded_splits(tmp_path, digits, suffix):
    path = write(tmp_path / f"digits{suffix}", digits[:100])
    module = ArrayDataModule(path, val_fraction=0.2, test_fraction=0.1, seed=3)
    module.setup("fit")
    sizes = {name: len(split) for name, split in module.splits.items()}
    assert sizes == {"train": 70, "val": 20, "test": 10} and module.input_dim == 64
    rows = torch.cat([module.splits[name].tensors[0] for name in ("train", "val", "test")])
    expected = torch.as_tensor(digits[:100])
    torch.testing.assert_close(rows.sum(0), expected.sum(0))  # the same rows, reordered
    again = ArrayDataModule(path, val_fraction=0.2, test_fraction=0.1, seed=3)
    again.setup("fit")
    assert torch.equal(again.splits["val"].tensors[0], module.splits["val"].tensors[0])


def test_without_shuffle_the_training_split_keeps_the_files_order(tmp_path, digits):
    """The same rows in each split as with shuffling; the training rows in stored order."""
    path = write(tmp_path / "digits.npy", digits[:100])
    shuffled, stored = (
        ArrayDataModule(path, val_fraction=0.2, seed=3, shuffle=shuffle)
        for shuffle in (True, False)
    )
    for module in (shuffled, stored):
        module.setup("fit")
    rows = {tuple(row.tolist()): index for index, row in enumerate(torch.as_tensor(digits[:100]))}
    kept = [rows[tuple(row.tolist())] for row in stored.splits["train"].tensors[0]]
    assert kept == sorted(kept) and len(kept) == 70
    assert sorted(kept) == sorted(
        rows[tuple(r.tolist())] for r in shuffled.splits["train"].tensors[0]
    )
    for split in ("val", "test"):
        assert torch.equal(stored.splits[split].tensors[0], shuffled.splits[split].tensors[0])


def test_values_outside_the_unit_interval_are_refused_or_scaled(tmp_path, digits):
    path = write(tmp_path / "raw.npy", digits[:50] * 16)
    with pytest.raises(DataError, match=r"values from 0 to 16, outside \[0, 1\].*scale: minmax"):
        ArrayDataModule(path).setup("fit")
    module = ArrayDataModule(path, scale="minmax")
    module.setup("fit")
    train = module.splits["train"].tensors[0]
    assert float(train.min()) == 0.0 and float(train.max()) == 1.0


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros(10), "holds a 1-D array of shape (10,); expected 2-D"),
        (np.zeros((4, 3, 2)), "holds a 3-D array of shape (4, 3, 2); expected 2-D"),
        (np.array([[0.1, np.nan], [0.2, 0.3]]), "1 row(s) with NaN or infinite values"),
        (np.zeros((4, 3)), "4 examples are too few for the validation and test split(s)"),
    ],
)
def test_a_bad_array_is_one_line_naming_the_file(tmp_path, array, message):
    path = write(tmp_path / "bad.npy", array)
    with pytest.raises(DataError) as raised:
        ArrayDataModule(path, val_fraction=0.1, test_fraction=0.1).setup("fit")
    text = str(raised.value)
    assert text.startswith(f"data file {path}") and message in text and "\n" not in text


def test_a_missing_or_unknown_file_is_named(tmp_path):
    with pytest.raises(DataError, match=r"nope.npy does not exist"):
        ArrayDataModule(tmp_path / "nope.npy")
    with pytest.raises(DataError, match=r"unknown kind '.txt'; use one of .npy, .npz, .pt, .csv"):
        ArrayDataModule(tmp_path / "x.txt")


def test_fractions_that_leave_nothing_to_train_are_refused(tmp_path, digits):
    path = write(tmp_path / "d.npy", digits[:20])
    with pytest.raises(ConfigError, match="leave no examples to train on"):
        ArrayDataModule(path, val_fraction=0.5, test_fraction=0.5).setup("fit")


@pytest.mark.integration
def test_digits_train_through_the_cli_and_beat_the_median_guess(tmp_path, digits):
    path = write(tmp_path / "digits.npy", digits)
    cli = build_cli(
        [
            "fit",
            "--model",
            "CanonicalAutoencoder",
            "--model.init_args.hidden_sizes",
            "[32]",
            "--model.init_args.latent_dim",
            "8",
            "--model.init_args.lr",
            "0.01",
            "--data",
            "ArrayDataModule",
            "--data.init_args.path",
            str(path),
            "--data.init_args.batch_size",
            "32",
            "--trainer.max_epochs",
            "15",
            "--trainer.default_root_dir",
            str(tmp_path),
            "--trainer.enable_progress_bar",
            "false",
        ]
    )
    test = cli.datamodule.splits["test"].tensors[0]
    median_guess = float((test - test.median(0).values).abs().mean())
    assert cli.trainer.callback_metrics["test/l1"].item() < 0.8 * median_guess
