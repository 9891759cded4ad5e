"""Checkpoint files: written atomically beside their final name, read with a clear error.

Lightning's own "atomic" save writes to a temporary file in the system's temp folder and
moves it into place; where that folder is on another file system (a node's /tmp and a
cluster's shared disk) the move is a copy, and a kill during it leaves half a checkpoint.
Here the temporary file sits beside the target and is renamed over it, so a kill at any
moment leaves the previous good file. Loading uses `weights_only=True`: lit_evoae's
checkpoints hold only tensors and plain values, so anything else is refused.
"""

from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from lit_evoae.errors import DataError
from lit_evoae.io import atomic_save

#: The entry every lit_evoae checkpoint carries (see AutoencoderSystem.on_save_checkpoint).
SYSTEM_KEY = "lit_evoae_system"


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a lit_evoae checkpoint; a missing, truncated or foreign file is a DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # zip/pickle/EOF errors of a damaged or non-torch file
        detail = (str(error).strip().splitlines() or [""])[0]
        reason = f"{type(error).__name__}: {detail[:100]}{'…' if len(detail) > 100 else ''}"
        raise DataError(f"checkpoint {path} cannot be read: it is truncated, damaged or not a "
                        f"safe PyTorch checkpoint ({reason}); use another checkpoint, e.g. "
                        "last.ckpt or an earlier one") from error  # fmt: skip
    if not isinstance(checkpoint, dict) or SYSTEM_KEY not in checkpoint:
        raise DataError(f"checkpoint {path} was not written by lit_evoae (it has no "
                        f"'{SYSTEM_KEY}' entry)")  # fmt: skip
    return checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO with the atomic local save and checked load above."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)  # remote stores
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_save(checkpoint, path)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict[str, Any]:
        if "://" in str(path) or weights_only is False:
            return super().load_checkpoint(path, map_location, weights_only)
        return read_checkpoint(path, map_location if map_location is not None else "cpu")
