"""A content-checked on-disk cache for generated data sets.

A cached file is used only if it was made for exactly the requested parameters
and its tensors still hash to the digest stored beside them; anything else is
reported and regenerated. Files are written under a temporary name and renamed,
so a crash or a concurrent writer never leaves a half-written cache behind.
"""

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.utilities import rank_zero_warn
from torch import Tensor

from lit_evoae.errors import DataError
from lit_evoae.io import atomic_save

Tensors = dict[str, Tensor]


class CacheMismatch(Exception):
    """The cache file exists but cannot be trusted; the message says why."""


def ensure_directory(path: Path) -> Path:
    """Create `path` if needed; fail naming it if it is not a usable directory."""
    if path.exists() and not path.is_dir():
        raise DataError(f"data directory {path} exists but is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"cannot create data directory {path}: {error.strerror}") from error
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise DataError(f"data directory {path} is not readable and writable")
    return path


def digest(tensors: Tensors) -> str:
    sha = hashlib.sha256()
    for name in sorted(tensors):
        sha.update(name.encode())
        sha.update(tensors[name].contiguous().numpy().tobytes())
    return sha.hexdigest()


def read_cache(path: Path, metadata: dict[str, Any]) -> Tensors:
    """The cached tensors; `CacheMismatch` if the file is corrupt or made for other parameters."""
    try:
        payload = torch.load(path, weights_only=True)
    except Exception as error:  # any unreadable file is a mismatch, whatever the unpickler raised
        raise CacheMismatch(f"unreadable ({type(error).__name__})") from error
    if not isinstance(payload, dict) or payload.get("metadata") != metadata:
        raise CacheMismatch("made for different parameters")
    tensors = payload.get("tensors")
    if not isinstance(tensors, dict) or digest(tensors) != payload.get("digest"):
        raise CacheMismatch("content check failed (file altered or corrupt)")
    return tensors


def write_cache(path: Path, metadata: dict[str, Any], tensors: Tensors) -> None:
    atomic_save({"metadata": metadata, "digest": digest(tensors), "tensors": tensors}, path)


def cached(path: Path, metadata: dict[str, Any], make: Callable[[], Tensors]) -> Tensors:
    """Read `path` if it holds what `metadata` describes, else `make()` the data and store it."""
    ensure_directory(path.parent)
    if path.exists():
        try:
            return read_cache(path, metadata)
        except CacheMismatch as reason:
            rank_zero_warn(f"Data cache {path}: {reason}; regenerating it.")
    tensors = make()
    write_cache(path, metadata, tensors)
    return tensors
