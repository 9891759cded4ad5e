"""`lit-evoae-study plan`: what a study will run, in which packs, and what it will cost,
before anything is trained.

The runs and packs are the runner's own (`runner.packs`, `runner.pack_limits`), so the plan
is what `run` with the same options would do. The cost is each kind of run's trial-
generations times its rate on this machine, from the first source that has one:
  - the runs of that kind already finished in `--out` (their result.json: a pack's
    trials x generations over its seconds, start-up included), their median;
  - `--pack auto`'s calibration of this machine and configuration (it measures, or reads
    its cache), at the size the plan packs;
  - with `--calibrate`, a pack of each kind timed now for a few generations
    (`calibration.measure`, as `--pack auto` times one).
Core-hours count every thread a worker uses; hours divide them over the workers.
"""

import statistics
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from lit_evoae.study.calibration import cache_key, cached, interleaved, measure
from lit_evoae.study.fragments import shared_part
from lit_evoae.study.results import checked_result
from lit_evoae.study.runner import pack_limits, packs, usable_cores
from lit_evoae.study.spec import Run, Study


@dataclass(frozen=True)
class Kind:
    """Runs that may share a pack (they differ only in their pruning)."""

    runs: list[Run]
    size: int  # the largest pack the runner makes of them
    packs: int
    rate: float | None  # trial-generations per second of such a pack, where known
    source: str

    @property
    def trial_generations(self) -> int:
        return sum(run.generations() for run in self.runs)


def plan_study(
    study: Study,
    trials: int | None,
    pack: int | str,
    workers: int | None,
    calibrate: bool,
    out: Path | None,
) -> tuple[list[Kind], int, int]:
    """(each kind of run with its packs and rate, workers, threads per worker)."""
    runs = study.runs(trials)
    cores = usable_cores()
    workers = workers or max(1, cores // 2)
    threads = max(1, cores // workers)
    limits = pack_limits(runs, pack, study.name, workers, runs, threads)
    packs_of = Counter(shared_part(group[0]) for group in packs(runs, limits))
    by_kind: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        by_kind[shared_part(run)].append(run)
    kinds = []
    with tempfile.TemporaryDirectory() as scratch:
        for number, (key, members) in enumerate(by_kind.items()):
            size = limits[key]
            rate, source = _measured(members, out)
            if rate is None:
                rate, source = _calibrated(members, size, threads)
            if rate is None and calibrate:
                mixed = interleaved(members)[:size]  # its operators mixed, as its packs mix them
                timed = measure(mixed, threads, Path(scratch) / f"kind_{number}")
                rate, source = timed.rate, f"timed now: a pack of {timed.size}"
            kinds.append(Kind(members, size, packs_of[key], rate, source))
    return kinds, workers, threads


def plan_lines(study: Study, kinds: list[Kind], workers: int, threads: int) -> list[str]:
    """The plan in a few lines: the study, one line per kind, the projected cost."""
    runs = sum(len(kind.runs) for kind in kinds)
    variants = len({run.variant for kind in kinds for run in kind.runs})
    processes = sum(kind.packs for kind in kinds)
    lines = [
        f"{study.name}: {variants} variants, {runs} runs, {len(kinds)} kind(s) of run "
        f"(runs of a kind differ only in their pruning), {processes} process(es) of "
        f"{threads} thread(s), {workers} at a time"
    ]
    seconds, unknown = 0.0, []
    for kind in kinds:
        first = kind.runs[0]
        cost = "cost unknown"
        if kind.rate is not None:
            kind_seconds = kind.trial_generations / kind.rate
            seconds += kind_seconds
            cost = (
                f"{kind.rate:.2f} trial-generations/s ({kind.source}): "
                f"{kind_seconds * threads / 3600:.1f} core-hours"
            )
        else:
            unknown.append(first.key)
        lines.append(
            f"  runs like {first.key}: {len(kind.runs)} runs of "
            f"{len({run.variant for run in kind.runs})} variant(s), {kind.trial_generations:,} "
            f"trial-generations, in {kind.packs} pack(s) of up to {kind.size}; {cost}"
        )
    if unknown:
        lines.append(
            f"projected cost: unknown for {len(unknown)} kind(s); add --calibrate to time a "
            "few generations of each here, or --out of a study whose runs have finished"
        )
    else:
        lines.append(
            f"projected cost: {seconds * threads / 3600:.1f} core-hours, about "
            f"{seconds / 3600 / workers:.1f} hours with {workers} worker(s) on this machine"
        )
    return lines


def _measured(runs: list[Run], out: Path | None) -> tuple[float | None, str]:
    """The median rate of the finished runs of `runs` in `out`, each its process's: trials x
    generations over the seconds the process took (a pack's trials share its rate)."""
    if out is None:
        return None, ""
    rates = []
    for run in runs:
        record, _ = checked_result(run.folder(out))
        if not record or not record.get("seconds") or not isinstance(record.get("epochs"), int):
            continue
        trials = int(record.get("packed_with", 1))
        rates.append(trials * record["epochs"] / record["seconds"])
    if not rates:
        return None, ""
    return statistics.median(rates), f"the median of {len(rates)} runs finished in {out}"


def _calibrated(runs: list[Run], size: int, threads: int) -> tuple[float | None, str]:
    """The rate `--pack auto`'s cached calibration measured for packs of `size` of `runs`."""
    calibration = cached(cache_key(runs, threads))
    found = [m for m in calibration.measured if m.size == size] if calibration else []
    if not found:
        return None, ""
    return found[0].rate, f"--pack auto's calibration, a pack of {size}"
