"""Writing files so that a crash at any moment leaves either the old file or the new one."""

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def atomic_save(payload: Any, path: str | os.PathLike) -> None:
    """`torch.save` to a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        torch.save(payload, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
