"""Writing files so that a crash at any moment leaves either the old file or the new one."""

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# The mode an ordinary open() would give a new file (mkstemp's temporaries are 0600).
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK
#: Free bytes below which a failed write is taken for a full disk.
_FULL = 1 << 20


@contextmanager
def naming(path: str | os.PathLike) -> Iterator[None]:
    """An OSError in the block that names no file (a write or a flush on a full disk does
    not) is raised again naming `path`, so that its one-line message says where."""
    try:
        yield
    except OSError as error:
        if error.filename is not None:
            raise
        raise OSError(error.errno, error.strerror, str(path)) from error


@contextmanager
def replacing(path: str | os.PathLike) -> Iterator[str]:
    """A temporary path beside `path`, renamed over `path` if the block succeeds."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        with naming(path):
            yield temporary
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())  # on disk before it takes the name, not only in cache
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def atomic_save(payload: Any, path: str | os.PathLike) -> None:
    """`torch.save` that never leaves a half-written file at `path`."""
    import torch  # here: the command line's quick path (cli_cache) writes text without torch

    with replacing(path) as temporary:
        try:
            # Our own handle, closed here even on failure: torch's writer, kept alive by the
            # traceback, would hold a full disk's space (and the mount) until collected.
            with open(temporary, "wb") as handle:
                torch.save(payload, handle)
        except RuntimeError as error:  # torch's own writer words a failed write its own way
            if "write" not in str(error) and "unexpected pos" not in str(error):
                raise
            full = shutil.disk_usage(Path(path).parent).free < _FULL
            code, reason = (errno.ENOSPC, None) if full else (errno.EIO, "torch.save failed")
            raise OSError(code, reason or os.strerror(code), str(path)) from None


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """`Path.write_text` that never leaves a half-written file at `path`."""
    with replacing(path) as temporary:
        Path(temporary).write_text(text)
