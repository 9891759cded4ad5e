"""What the paper's grid costs: runs alone or in per-variant packs, against cross-variant packs.

A slice of `configs/studies/paper_main.yaml` (the paper's settings) is trained two ways in
this one process, one thread, and timed per generation after WARM_UP generations (start-up,
the parse, the data and the first generations, is printed apart):
  study throughput coevolution: X
      the 19 coevolution variants x TRIALS trials: trial-generations per second of one pack
      of all of them, over that of one pack per variant (what the runner did before), the
      per-variant packs trained one after another;
  study throughput canonical: X
      the 19 canonical variants x TRIALS trials: one pack of all of them over each run alone;
  pack start-up per run: S
      seconds from the start of building each regime's projected pack to its first
      generation, per run (the larger of the two regimes');
  paper_main projected core-hours: H
      all of paper_main.yaml (38 variants x 30 trials x 400 generations) in the packs that
      `lit-evoae-study run --pack auto --workers W` makes of it (W: --workers, default one
      per usable core, one thread each), from the steady-state throughput of a pack of
      that size of each regime, timed here with the variants interleaved, the other cores
      idle; `--projected-pack N` projects at packs of N instead (the slice's pack of
      19 x TRIALS needs no extra timing).
With CUDA, the cross-variant packs are timed on the GPU too
(`paper_main projected GPU-minutes: M`).

    python benchmarks/study.py [--threads 1] [--trials 2] [--generations 2] [--eager-step]
                               [--glibc-malloc] [--workers W] [--projected-pack auto|N]
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch

from lit_evoae.allocator import keep_freed_memory
from lit_evoae.population.optim import compile_first_step
from lit_evoae.study.calibration import GenerationClock, cache_key, cached, interleaved
from lit_evoae.study.cli import pack_argument
from lit_evoae.study.fragments import shared_part
from lit_evoae.study.pack import build_pack
from lit_evoae.study.runner import pack_limits, usable_cores
from lit_evoae.study.sizing import AUTO
from lit_evoae.study.spec import load_study

HERE = Path(__file__).resolve().parent
STUDY = HERE.parent / "configs" / "studies" / "paper_main.yaml"
WARM_UP = 1
PAPER_TRIALS, PAPER_GENERATIONS = 30, 400
REGIMES = ("coevolution", "canonical")


def set_up_like_a_pack(threads: int, keep_memory: bool = True, compiled: bool = True) -> bool:
    """This process's threads, allocator and optimiser step as a study's pack processes have
    them; whether freed memory is kept."""
    torch.set_num_threads(threads)
    kept = keep_memory and keep_freed_memory()
    if compiled:
        compile_first_step()
    return kept


def pack_of(runs, folder: Path, extra: list[str] | None = None):
    """(cli, system) of `runs` as one pack in `folder`, logging nothing."""
    folder.mkdir(parents=True, exist_ok=True)
    logging = folder / "logging.yaml"
    logging.write_text("trainer:\n  logger: false\n")
    return build_pack(runs, folder, logging, extra)


def time_pack(runs, folder: Path, generations: int, device: str) -> tuple[float, float]:
    """(start-up seconds, seconds per generation after WARM_UP) of `runs` as one pack."""
    start = time.perf_counter()
    epochs = ["--trainer.max_epochs", str(WARM_UP + generations), "--trainer.accelerator", device]
    cli, system = pack_of(runs, folder, epochs)
    clock = GenerationClock()
    cli.trainer.callbacks.append(clock)
    cli.trainer.fit(system, datamodule=cli.datamodule)
    return clock.stamps[WARM_UP] - start, clock.seconds_per_generation(WARM_UP)


def startup_per_run(runs, folder: Path) -> float:
    """Seconds from the start of building `runs` as one pack to the start of its first
    generation (the parse, the population, the data, Lightning's sanity check), per run;
    the optimiser step's compiling falls in the first generation, not here."""
    start = time.perf_counter()
    cli, system = pack_of(runs, folder, ["--trainer.max_epochs", "1"])
    clock = GenerationClock()
    cli.trainer.callbacks.append(clock)
    cli.trainer.fit(system, datamodule=cli.datamodule)
    return (clock.stamps[0] - start) / len(runs)


def paper_study():
    """`paper_main.yaml` narrowed to the paper's 38 variants (no magnitude baseline), as
    issue 20's targets were set."""
    study = load_study(STUDY)
    paper = [name for name, _ in study.variants() if "__magnitude_" not in name]
    return study.narrowed(only=paper)


def regime_runs(study, regime: str, trials: int):
    return [run for run in study.runs(trials) if dict(run.choices)["regime"] == regime]


def runner_pack_sizes(study, workers: int, asked: int | str, threads: int) -> dict[str, int]:
    """Per regime, the largest pack the runner makes of the paper's runs with `--pack
    asked` and `workers` workers of `threads` threads (its own sizing, which prints why;
    `auto` calibrates, or reads this machine's cached calibration)."""
    runs = study.runs(PAPER_TRIALS)
    limits = pack_limits(runs, asked, study.name, workers, threads=threads)
    return {regime: limits[shared_part(regime_runs(study, regime, 1)[0])] for regime in REGIMES}


def calibrated_rate(study, regime: str, size: int, threads: int) -> float | None:
    """The trial-generations per second `--pack auto`'s calibration measured for packs of
    `size` of the paper's `regime` runs; None if it measured no such pack."""
    calibration = cached(cache_key(regime_runs(study, regime, PAPER_TRIALS), threads))
    found = [m for m in calibration.measured if m.size == size] if calibration else []
    return found[0].rate if found else None


def throughput_line(name: str, runs, alone: list[list], folder: Path, generations: int) -> float:
    """Print the ratio of one pack of `runs` over the groups of `alone` one after another;
    return the pack's steady-state trial-generations per second."""
    startup_alone = seconds_alone = 0.0
    for number, group in enumerate(alone):
        startup, per_generation = time_pack(group, folder / f"alone_{number}", generations, "cpu")
        startup_alone += startup
        seconds_alone += per_generation
    startup, per_generation = time_pack(runs, folder / "pack", generations, "cpu")
    rate_alone, rate_pack = len(runs) / seconds_alone, len(runs) / per_generation
    print(
        f"study throughput {name}: {rate_pack / rate_alone:.2f}  (trial-generations/s: "
        f"{len(alone)} processes {rate_alone:.2f}, one pack of {len(runs)} {rate_pack:.2f}; "
        f"start-up {startup_alone:.0f} s in all for those, {startup:.0f} s for the pack)",
        flush=True,
    )
    return rate_pack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--eager-step", action="store_true", help="packs without the compiled optimiser step"
    )
    parser.add_argument(
        "--glibc-malloc", action="store_true", help="leave glibc's thresholds (lit_evoae.allocator)"
    )
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument(
        "--workers", type=int, default=None, help="the projection's workers (default: cores)"
    )
    parser.add_argument(
        "--projected-pack",
        type=pack_argument,
        default=AUTO,
        help="the projection's pack size: auto or a number",
    )
    options = parser.parse_args()
    workers = options.workers or usable_cores()
    kept = set_up_like_a_pack(options.threads, not options.glibc_malloc, not options.eager_step)
    print(
        f"threads: {torch.get_num_threads()}  study: {STUDY.name}, {options.trials} trials "
        f"per variant, {options.generations} timed generations; freed memory "
        f"{'kept' if kept else 'returned (glibc default)'}; optimiser step "
        f"{'eager' if options.eager_step else 'compiled'}",
        flush=True,
    )
    study = paper_study()
    variants = len(study.variants()) // 2
    rates = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        sliced = {regime: regime_runs(study, regime, options.trials) for regime in REGIMES}
        coevolution = sliced["coevolution"]
        per_variant = [
            [r for r in coevolution if r.variant == v]
            for v in dict.fromkeys(r.variant for r in coevolution)
        ]
        rates["coevolution"] = throughput_line(
            "coevolution", coevolution, per_variant, scratch / "coevolution", options.generations
        )
        canonical = sliced["canonical"]
        rates["canonical"] = throughput_line(
            "canonical",
            canonical,
            [[r] for r in canonical],
            scratch / "canonical",
            options.generations,
        )
        sizes = runner_pack_sizes(study, workers, options.projected_pack, options.threads)
        for regime, size in sizes.items():
            if size > len(regime_runs(study, regime, PAPER_TRIALS)):
                parser.error(f"--projected-pack {size}: paper_main has fewer {regime} runs")
            measured = calibrated_rate(study, regime, size, options.threads)
            if measured is not None:
                rates[regime] = measured
                print(
                    f"pack of {size} {regime} runs: {measured:.2f} trial-generations/s "
                    "(measured by --pack auto's calibration)",
                    flush=True,
                )
            elif size != len(sliced[regime]):
                runs = interleaved(regime_runs(study, regime, -(-size // variants)))
                startup, seconds = time_pack(
                    runs[:size], scratch / f"runner_{regime}", options.generations, "cpu"
                )
                rates[regime] = size / seconds
                print(
                    f"pack of {size} {regime} runs: {rates[regime]:.2f} trial-generations/s "
                    f"(start-up {startup:.0f} s)",
                    flush=True,
                )
        trial_generations = variants * PAPER_TRIALS * PAPER_GENERATIONS  # per regime
        hours = sum(trial_generations / rate for rate in rates.values()) / 3600
        print(
            f"paper_main projected core-hours: {hours:.1f}  (packs of up to "
            f"{sizes['coevolution']} coevolution and {sizes['canonical']} canonical runs, "
            f"--pack {options.projected_pack} --workers {workers}; {options.threads} thread)",
            flush=True,
        )
        startups = {
            regime: startup_per_run(
                interleaved(regime_runs(study, regime, -(-size // variants)))[:size],
                scratch / f"startup_{regime}",
            )
            for regime, size in sizes.items()
        }
        print(
            f"pack start-up per run: {max(startups.values()):.3f} s  ("
            + ", ".join(
                f"{regime} pack of {sizes[regime]}: {seconds * sizes[regime]:.1f} s"
                for regime, seconds in startups.items()
            )
            + ", from the start of its build to its first generation)",
            flush=True,
        )
        if torch.cuda.is_available():
            seconds = 0.0
            for regime, runs in sliced.items():
                _, per_generation = time_pack(
                    runs, scratch / f"gpu_{regime}", options.generations, "gpu"
                )
                seconds += trial_generations / (len(runs) / per_generation)
            print(
                f"paper_main projected GPU-minutes: {seconds / 60:.1f}  "
                f"({torch.cuda.get_device_name()})"
            )


if __name__ == "__main__":
    main()
