"""One writer at a time: advisory `flock` locks on a study's folder and on each of its runs.

`lit-evoae-study run` holds the lock of its `--out` while it runs, and every run (or pack)
holds the lock of each of its runs while it trains, so two runners on one folder, or a SLURM
array task beside a local rerun, never train one run twice. The kernel drops a lock when its
holder dies, however it dies, so a lock left by a killed runner is simply taken. The lock
file says who holds it, for the message a second runner prints.
"""

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from lit_evoae.errors import UserError
from lit_evoae.io import naming

#: The lock of a whole study folder (`--out`).
STUDY_LOCK = ".lock"


class Busy(UserError):
    """Another live process holds the lock: its message names the host, PID and start."""


def holder_line() -> str:
    """Who this process is, as a second runner will read it."""
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime())
    return f"host {socket.gethostname()}, PID {os.getpid()}, since {started}"


@contextlib.contextmanager
def locked(path: Path, what: str) -> Iterator[int]:
    """Hold the lock file `path` for the block, or raise Busy naming `what` and the holder.

    Yields the lock's file descriptor: a child process given it (`pass_fds`) keeps the
    lock held for as long as it lives, even if this process is killed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with naming(path):  # on a full disk, errors that name no file
        # Unbuffered: a write that fails leaves nothing for close() to fail on again.
        handle = path.open("a+b", buffering=0)
    with handle:
        if not _take(handle):
            handle.seek(0)
            holder = handle.read().decode(errors="replace").strip() or "another process"
            raise Busy(f"{what} is in use by {holder}; wait for it to end") from None
        with naming(path):
            handle.seek(0)
            handle.truncate()
            handle.write(f"{holder_line()}\n".encode())
        # Released when the last descriptor closes: here, or in a child that was given it
        # (an explicit LOCK_UN would release the child's too).
        yield handle.fileno()


def _take(handle, tries: int = 10) -> bool:
    """Take the lock, trying for about a second: `is_locked` (a status command) may hold it
    shared for an instant."""
    for attempt in range(tries):
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < tries:
                time.sleep(0.1)
    return False


def is_locked(path: Path) -> bool:
    """Whether a live process holds the lock file `path` now; creates and keeps nothing."""
    if not path.is_file():
        return False
    try:
        with path.open("r") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
    except OSError:
        return False


@contextlib.contextmanager
def all_locked(paths: list[Path], what: str) -> Iterator[list[int]]:
    """Hold every lock of `paths` (in sorted order, so two packs cannot deadlock), or none;
    yields their file descriptors."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(locked(path, what)) for path in sorted(paths)]
