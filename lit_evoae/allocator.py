"""Keep freed memory in the process, so that a training step stops page-faulting.

Every step of a pack makes gradient and activation tensors of several MB and frees them
before the next. glibc serves blocks that large with fresh `mmap`s and unmaps them when
they are freed (or trims them from the top of the heap), so the kernel zero-fills every
page again at every step. A 19-trial coevolution pack of the paper's settings took 5.0
million minor page faults and 20 s a generation; with the thresholds below, 0.35 million
and 8 s (one thread, this project's 2-core CPU machine). The arithmetic is untouched.

The processes the study tool starts to train (packs, runs, calibration) also keep to one
malloc arena (`training_environment`). With glibc's default of up to eight per core, the
memory one thread freed in an arena is not reused by another, and the same 128-trial
pack peaked at 5.3 GiB in one process and 8.4 GiB in another. With one arena,
`benchmarks/pack_memory.py`'s estimates came within 25% of every measured peak (0.95 to
1.16 over 24 packs; they had been up to 1.79 times it), the per-trial speed of a pack of
16 did not drop (0.78, 0.81, 0.75 against 0.77, 0.75, 0.76 trial-generations/s,
alternating), and that consistency is what `--pack auto`'s sizing relies on. glibc reads
the arena limit only as a process starts (a `mallopt` after torch's threads have
allocated leaves their arenas), so it is set in the environment the process starts with.

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


#: glibc's variable for its number of arenas (read when a process starts).
ARENAS = "MALLOC_ARENA_MAX"


def training_environment(threads: int) -> dict[str, str]:
    """The environment of a process the study tool starts to train: `threads` threads
    per process and, unless the user set glibc's malloc themselves, one malloc arena."""
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    if not any(name in os.environ for name in (*USER_SETTINGS, ARENAS)):
        environment[ARENAS] = "1"
    return environment


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
