"""How large a pack `--pack auto` makes on this machine: measured, not guessed.

A pack's peak resident memory is a fixed part (the interpreter, torch, the data, the
compiled step) and a part per trial that depends on the networks, the population, the
evaluation, the pruning and what the allocator keeps; a formula missed it by up to 7x
(issue 32). Per-trial speed first grows with the pack and then falls, at a size that
differs from CPU to CPU. So `--pack auto` trains the study's own runs of one kind as packs
of 1, 4, 16, ... runs, a few generations each, each in a fresh process set up as a pack
process is, and reads its peak memory and seconds per generation. It stops at
the first size no faster per trial than the one before (but not below MEMORY_SIZE), at the
study's own number of such runs, or where the next size would not fit. The result is
cached per machine and configuration, so the next command with the same study reads it.

    python -m lit_evoae.study.calibration SPEC.json   (what `calibrated` starts)
"""

import hashlib
import itertools
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import yaml

import lit_evoae
from lit_evoae.cli_cache import cache_folder
from lit_evoae.errors import ConfigError
from lit_evoae.io import atomic_write_text
from lit_evoae.study.spec import Run

#: Part of the cache key: raise it when what is measured, or how, changes (3: packs
#: of many trials peak at about half what they did before aecbfd2).
METHOD = 3
#: Each calibrated size is this many times the one before.
GROWTH = 4
#: Generations before the clock starts (start-up, compiling), then generations timed.
WARM_UP, TIMED = 1, 2
#: Headroom of the memory estimate over the measured peaks.
MARGIN = 1.1
#: Sizes below this are measured even when no faster per trial: the memory per trial of
#: the smallest packs is not yet that of large ones (issue 32's benchmark: 128 MiB a trial
#: from 1 to 4 runs, 78 from 16 to 128).
MEMORY_SIZE = 64


class GenerationClock(pl.Callback):
    """Wall clock at the start of every generation and at the end of training."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.stamps.append(time.perf_counter())

    def on_train_end(self, trainer, pl_module) -> None:
        self.stamps.append(time.perf_counter())

    def seconds_per_generation(self, after: int = WARM_UP) -> float:
        steady = self.stamps[after:]
        return (steady[-1] - steady[0]) / max(1, len(steady) - 1)


@dataclass(frozen=True)
class Measured:
    size: int
    peak: int  # bytes resident at most, freed-but-kept memory included
    seconds: float  # per generation, after WARM_UP

    @property
    def rate(self) -> float:
        """Trial-generations per second."""
        return self.size / self.seconds


@dataclass(frozen=True)
class Calibration:
    measured: tuple[Measured, ...]

    def bytes_for(self, size: int) -> int:
        """Peak memory of a pack of `size`, with MARGIN: between two sizes measured, on the
        line through them; beyond the largest, on the line through the two largest (the
        smallest packs' extra per trial, allocator arenas filling, is left behind there)."""
        points = self.measured
        if len(points) == 1 or size <= points[0].size:
            return int(MARGIN * points[0].peak)
        pairs = list(itertools.pairwise(points))
        low, high = next(((a, b) for a, b in pairs if size <= b.size), pairs[-1])
        per_trial = max(0.0, (high.peak - low.peak) / (high.size - low.size))
        return int(MARGIN * (low.peak + per_trial * (size - low.size)))

    def largest_fitting(self, budget: int) -> int:
        """The largest pack whose estimate stays within `budget` bytes (at least 1)."""
        low = 1
        while self.bytes_for(low * 2) <= budget and low < 2**24:
            low *= 2
        high = low * 2 - 1  # low fits (or is 1), low * 2 does not
        while low < high:
            middle = (low + high + 1) // 2
            low, high = (middle, high) if self.bytes_for(middle) <= budget else (low, middle - 1)
        return low

    @property
    def fastest(self) -> Measured:
        return max(self.measured, key=lambda measured: measured.rate)


def sizes_to_try(cap: int) -> list[int]:
    sizes = [1]
    while sizes[-1] * GROWTH < cap:
        sizes.append(sizes[-1] * GROWTH)
    return sizes + ([cap] if cap > sizes[-1] else [])


def interleaved(runs: list[Run]) -> list[Run]:
    """`runs` reordered trial by trial across their variants, so a pack of any size mixes
    as many of their pruning operators as a study's packs do."""
    by_variant: dict[str, list[Run]] = {}
    for run in runs:
        by_variant.setdefault(run.variant, []).append(run)
    longest = max(len(group) for group in by_variant.values())
    return [group[t] for t in range(longest) for group in by_variant.values() if t < len(group)]


def machine() -> dict:
    """What a calibration's numbers depend on besides the configuration."""
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "host": socket.gethostname(),
        "cpu": model,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0,
        "python": sys.version.split()[0],
        "lit_evoae": lit_evoae.__version__,
        "torch": _version("torch"),
    }


def _version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def cache_key(runs: list[Run], threads: int) -> str:
    """A digest of the machine, the threads and each variant's settings (seed aside)."""
    settings = sorted(
        {
            json.dumps({k: v for k, v in run.settings().items() if k != "seed_everything"})
            for run in runs
        }
    )
    text = json.dumps(
        {"method": METHOD, "machine": machine(), "threads": threads, "settings": settings}
    )
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def cached(key: str) -> Calibration | None:
    """The calibration stored under `key`; None if there is none or it is not what `store`
    writes (then the runs are measured again)."""
    try:
        record = json.loads((cache_folder() / f"calibration-{key}.json").read_text())
        measured = tuple(
            Measured(int(m["size"]), int(m["peak"]), float(m["seconds"]))
            for m in record["measured"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    ok = measured and all(m.size > 0 and m.peak > 0 and m.seconds > 0 for m in measured)
    return Calibration(measured) if ok else None


def store(key: str, calibration: Calibration) -> None:
    record = {"measured": [vars(m) for m in calibration.measured], "machine": machine()}
    try:
        cache_folder().mkdir(parents=True, exist_ok=True)
        atomic_write_text(cache_folder() / f"calibration-{key}.json", json.dumps(record))
    except OSError:
        pass  # best effort: the next command measures again


def calibrated(
    runs: list[Run], cap: int, budget: int, threads: int, scratch: Path, say=print
) -> Calibration:
    """The calibration of packs of `runs` (one kind) up to `cap` runs, each within `budget`
    bytes, from the cache or measured now (each size `say`s a line)."""
    key = cache_key(runs, threads)
    found = cached(key)
    if found is not None and found.measured[-1].size <= cap:
        return found
    mixed = interleaved(runs)
    measured: list[Measured] = []
    for size in sizes_to_try(cap):
        if measured and Calibration(tuple(measured)).bytes_for(size) > budget:
            break  # the next size would not fit
        measured.append(measure(mixed[:size], threads, scratch / f"pack_{size}"))
        m = measured[-1]
        say(
            f"calibrating: a pack of {m.size} ran {m.rate:.2f} trial-generations/s, "
            f"peak {m.peak / 2**30:.2f} GiB"
        )
        slower = len(measured) > 1 and measured[-1].rate <= measured[-2].rate
        if slower and size >= MEMORY_SIZE:
            break  # no faster per trial than the size before, and enough sizes for memory
    calibration = Calibration(tuple(measured))
    store(key, calibration)
    return calibration


def training_environment(threads: int) -> dict[str, str]:
    """The environment of a process the study tool starts to train (a run, a pack, a
    calibration's pack): this one's, with `threads` threads for torch."""
    return {**os.environ, "OMP_NUM_THREADS": str(threads)}


def measure(runs: list[Run], threads: int, folder: Path) -> Measured:
    """Train `runs` as one pack in a fresh process, as the runner's pack processes are set
    up (one process per size: memory freed by a smaller pack and kept would count)."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "calibration.json"
    spec.write_text(json.dumps({"runs": [run.to_plan() for run in runs], "folder": str(folder)}))
    environment = training_environment(threads)
    log = folder / "log.txt"
    with log.open("w") as handle:
        done = subprocess.run(
            [sys.executable, "-m", __name__, str(spec)],
            stdout=subprocess.PIPE,
            stderr=handle,
            text=True,
            env=environment,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        said = log.read_text().strip().splitlines() or [f"exit status {done.returncode}"]
        raise ConfigError(
            f"--pack auto: calibrating a pack of {len(runs)} runs like {runs[0].key} "
            f"failed: {said[-1]}"
        )
    return Measured(**json.loads(lines[-1]))


def peak_resident_bytes() -> int:
    """This process's peak resident memory since it started its program. (`ru_maxrss`
    would not do: Linux carries it over `exec` from the process that forked this one.)"""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv: list[str] | None = None) -> None:
    """Train one pack for WARM_UP + TIMED generations; print its peak and speed as JSON."""
    import torch

    from lit_evoae.quiet import start_up_notices_off
    from lit_evoae.study.pack import build_pack, set_up_pack_process

    spec = json.loads(Path((argv or sys.argv[1:])[0]).read_text())
    set_up_pack_process()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    runs = [Run.from_plan(record) for record in spec["runs"]]
    folder = Path(spec["folder"])
    logging = folder / "logging.yaml"
    logging.write_text(yaml.safe_dump({"trainer": {"logger": False}}))
    epochs = [
        *("--trainer.max_epochs", str(WARM_UP + TIMED)),
        *("--trainer.enable_progress_bar", "false"),
    ]
    with start_up_notices_off():
        built = build_pack(runs, folder, logging, epochs)
    if built is None:
        raise ConfigError("this system cannot be packed")
    cli, system = built
    clock = GenerationClock()
    cli.trainer.callbacks.append(clock)
    cli.trainer.fit(system, datamodule=cli.datamodule)
    measured = Measured(len(runs), peak_resident_bytes(), clock.seconds_per_generation())
    print(json.dumps(vars(measured)), flush=True)


if __name__ == "__main__":
    main()
