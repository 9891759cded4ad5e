"""Your own vectors: an (examples, features) array from a .npy, .npz, .pt or .csv file.

The commonest autoencoder study trains on a matrix someone already has. The rows are
shuffled with `seed` and split into train, validation and test by fraction. The decoder
ends in a sigmoid, so values must lie in [0, 1]: other values are refused, unless
`scale: minmax` maps each feature's training range onto [0, 1].
"""

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from lit_evoae.arguments import NonNegativeInt, PositiveInt, check
from lit_evoae.data.base import TensorDataModule, fraction_split
from lit_evoae.errors import DataError

SUFFIXES = (".npy", ".npz", ".pt", ".csv")


class ArrayDataModule(TensorDataModule):
    """The rows of the array in `path` as examples, split by `val_fraction` and
    `test_fraction` (the rest trains) after a shuffle seeded by `seed`.

    Args:
        path: a .npy or .pt file holding one 2-D array, a .npz holding one (or name it with
            `key`), or a .csv of numbers (a header row is skipped).
        scale: `none` (values must already lie in [0, 1]) or `minmax` (each feature scaled
            by its training split's minimum and maximum; validation and test values are
            clipped to [0, 1]; a constant feature becomes 0).
    """

    def __init__(
        self,
        path: str | Path,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        scale: Literal["none", "minmax"] = "none",
        key: str | None = None,
        seed: NonNegativeInt = 0,
        batch_size: PositiveInt = 64,
        num_workers: NonNegativeInt = 0,
        eval_batch_size: PositiveInt = 250,
        shuffle: bool = True,
    ) -> None:
        super().__init__(batch_size, num_workers, eval_batch_size, shuffle)
        self.path = Path(path)
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.scale, self.key = scale, key
        self.seed = check("seed", seed, NonNegativeInt)
        self.save_hyperparameters(
            {
                "path": str(self.path),
                "val_fraction": val_fraction,
                "test_fraction": test_fraction,
                "scale": scale,
                "seed": self.seed,
                "batch_size": self.batch_size,
            }
        )
        self.array = read_array(self.path, key)
        self.input_dim = self.array.shape[1]

    def setup(self, stage: str) -> None:
        where = f"data file {self.path}"
        train, val, test = fraction_split(
            len(self.array),
            self.val_fraction,
            self.test_fraction,
            self.seed,
            where,
            not self.shuffle,
        )
        values = torch.as_tensor(self.array, dtype=torch.float32)
        if self.scale == "minmax":
            low, high = values[train].amin(0), values[train].amax(0)
            span = torch.where(high > low, high - low, torch.ones_like(high))
            values = ((values - low) / span).clamp(0, 1)
        else:
            check_unit_range(values, self.path)
        self.splits = {
            name: TensorDataset(values[rows], torch.zeros(len(rows), dtype=torch.long))
            for name, rows in (("train", train), ("val", val), ("test", test))
        }


def read_array(path: Path, key: str | None = None) -> np.ndarray:
    """The 2-D float array in `path`; every problem is one line naming the file."""
    where = f"data file {path}"
    if path.suffix not in SUFFIXES:
        raise DataError(f"{where}: unknown kind {path.suffix!r}; use one of {', '.join(SUFFIXES)}")
    if not path.is_file():
        raise DataError(f"{where} does not exist")
    try:
        array = _load(path, key)
    except DataError:
        raise
    except Exception as error:  # the readers' own errors: a damaged or foreign file
        detail = (str(error).strip().splitlines() or [""])[0][:120]
        raise DataError(f"{where} cannot be read ({type(error).__name__}: {detail})") from error
    if array.ndim != 2:
        raise DataError(
            f"{where} holds a {array.ndim}-D array of shape {tuple(array.shape)}; "
            "expected 2-D (examples, features)"
        )
    if not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{where} holds {array.dtype} values; expected numbers")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        rows = np.flatnonzero(~np.isfinite(array).all(1))
        raise DataError(
            f"{where} has {len(rows)} row(s) with NaN or infinite values (the first is row "
            f"{rows[0]}); remove or fill them"
        )
    return array


def _load(path: Path, key: str | None) -> np.ndarray:
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.keys())
            if key is None and len(names) != 1:
                raise DataError(
                    f"data file {path} holds arrays {names}; name one with data.init_args.key"
                )
            if key is not None and key not in names:
                raise DataError(f"data file {path} has no array {key!r}; it holds {names}")
            return archive[key or names[0]]
    if path.suffix == ".pt":
        loaded = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(loaded, dict) and key is not None:
            loaded = loaded.get(key)
        if not isinstance(loaded, Tensor):
            raise DataError(f"data file {path} holds a {type(loaded).__name__}, not a tensor")
        return loaded.numpy()
    try:
        return np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
    except ValueError:  # a header row
        return np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64, skiprows=1)


def check_unit_range(values: Tensor, path: Path) -> None:
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 1:
        raise DataError(
            f"data file {path} has values from {low:g} to {high:g}, outside [0, 1] (the "
            "decoder ends in a sigmoid); rescale them, or set data.init_args.scale: minmax"
        )
