"""Keep freed memory in the process, so that a training step stops page-faulting.

Every step of a pack makes gradient and activation tensors of several MB and frees them
before the next. glibc serves blocks that large with fresh `mmap`s and unmaps them when
they are freed (or trims them from the top of the heap), so the kernel zero-fills every
page again at every step. A 19-trial coevolution pack of the paper's settings took 5.0
million minor page faults and 20 s a generation; with the thresholds below, 0.35 million
and 8 s (one thread, this project's 2-core CPU machine). The arithmetic is untouched.

Whoever sets glibc's malloc variables (`MALLOC_*_`, `GLIBC_TUNABLES`) keeps them: that is
also how to turn this off. Elsewhere than glibc (macOS, musl) it does nothing.
"""

import ctypes
import os

#: mallopt's parameter numbers (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: Blocks below this come from the heap and are reused after they are freed.
MMAP_THRESHOLD = 2**30
#: Free memory at the top of the heap is returned to the kernel only beyond this (mallopt
#: takes a C int, so this is its largest value).
TRIM_THRESHOLD = 2**31 - 1
#: Environment variables by which a user sets glibc's malloc themselves.
USER_SETTINGS = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
    "GLIBC_TUNABLES",
)


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; whether it did."""
    if any(name in os.environ for name in USER_SETTINGS):
        return False
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) & bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


def _mallopt():
    try:
        library = ctypes.CDLL(None)  # this process's own symbols, the C library's among them
        if not hasattr(library, "gnu_get_libc_version"):  # not glibc: other meanings
            return None
        mallopt = library.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt
