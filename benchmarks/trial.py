"""What a trial costs: a real `lit-evoae fit` against the arithmetic of its generations.

Lines printed (each a ratio measured side by side in this one run):
  overhead ratio <order>: X
      wall time per generation of `lit-evoae fit --config configs/coevolution.yaml`
      (GENERATIONS generations after WARM_UP, timed by a callback from the start of the
      first to the start of the last+1: training, validation, logging, checkpoints), over
      the same generations' arithmetic alone (`CoevolutionaryAutoencoder.generation`:
      select + train + replace on the stacked population, no Trainer);
  batched trials T=<T> per-trial speed vs T=1, <order>: X
      trial-generations per second of T trials batched as one `Trials` population (the
      arithmetic alone), over that of one trial;
  and, with a CUDA GPU, the batched-trial lines on the GPU for T = 1, 32 and 256.

Both sides run one configuration: `configs/coevolution.yaml`'s optimiser state
(reset_every_step, a fresh Adam at every step) by default; the overhead lines are printed
again for the other state, named in the line (`overhead ratio <order>, persistent: X`).

    python benchmarks/trial.py [--threads 1] [--generations 30] [--sequential-generations 10]
                               [--glibc-malloc]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from lit_evoae.allocator import keep_freed_memory

HERE = Path(__file__).resolve().parent
CONFIG = HERE.parent / "configs" / "coevolution.yaml"
WARM_UP = 2
ORDERS = ("synchronous", "sequential")
STATES = ("reset_every_step", "persistent")  # the shipped config's first


class GenerationClock(pl.Callback):
    """Wall clock at the start of every generation, and at the end of the run."""

    stamps: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        GenerationClock.stamps.append(time.perf_counter())

    def on_train_end(self, trainer, pl_module) -> None:
        GenerationClock.stamps.append(time.perf_counter())


def fit_seconds_per_generation(order: str, generations: int, state: str) -> float:
    """Seconds per generation of a real `lit-evoae fit` (after WARM_UP generations)."""
    from trial import GenerationClock as Clock  # the class the CLI loads, not __main__'s

    from lit_evoae.cli import build_cli

    Clock.stamps = []
    with tempfile.TemporaryDirectory() as folder:
        previous = os.getcwd()
        os.chdir(folder)
        try:
            build_cli(
                [
                    "fit",
                    "--config",
                    str(CONFIG),
                    "--trainer.max_epochs",
                    str(WARM_UP + generations),
                    "--trainer.enable_progress_bar",
                    "false",
                    "--model.init_args.strategy.init_args.update_order",
                    order,
                    "--model.init_args.optimizer_state",
                    state,
                    "--trainer.callbacks+=trial.GenerationClock",
                    "--test_after_fit",
                    "false",
                ]
            )
        finally:
            os.chdir(previous)
    stamps = Clock.stamps[WARM_UP:]
    return (stamps[-1] - stamps[0]) / generations


def make_system(order: str, trials: int, device: str, state: str = STATES[0], dim: int = 1000):
    from lit_evoae.population.strategy import CoevolutionStrategy
    from lit_evoae.population.topology import Ring, Trials
    from lit_evoae.systems import CoevolutionaryAutoencoder

    topology = Ring(size=10, radius=1)
    if trials > 1:
        topology = Trials(topology, trials=trials)
    system = CoevolutionaryAutoencoder(
        dim,
        topology=topology,
        strategy=CoevolutionStrategy(update_order=order),
        seeds=list(range(trials)),
        optimizer_state=state,
    ).to(device)
    system.batch_size = 5
    system._make_trainees(trials if order == "sequential" else system.population_size)
    return system


def arithmetic_seconds_per_generation(
    order: str, trials: int, generations: int, device: str = "cpu", state: str = STATES[0]
) -> float:
    """Seconds per generation of `generation` alone on data of the paper's shape (1000 x
    1000 bits, batch 5), after one warm-up generation."""
    system = make_system(order, trials, device, state)
    generator = torch.Generator().manual_seed(0)
    data = (torch.rand(1000, 1000, generator=generator) < 0.5).float().to(device)
    system.generation(data, 0)
    _sync(device)
    start = time.perf_counter()
    for generation in range(1, generations + 1):
        system.generation(data, generation)
    _sync(device)
    return (time.perf_counter() - start) / generations


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def batched_trial_lines(device: str, sizes: list[int], generations: int) -> None:
    for order in ORDERS:
        one = arithmetic_seconds_per_generation(order, 1, generations, device)
        for trials in sizes:
            batched = arithmetic_seconds_per_generation(order, trials, generations, device)
            speed = one * trials / batched
            print(
                f"batched trials T={trials} per-trial speed vs T=1, {order}: {speed:.2f}"
                f"  ({device}: T=1 {one:.3f} s/generation, T={trials} {batched:.3f})",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--glibc-malloc", action="store_true", help="leave glibc's thresholds (lit_evoae.allocator)"
    )
    parser.add_argument("--generations", type=int, default=30)
    parser.add_argument("--sequential-generations", type=int, default=10)
    parser.add_argument("--trials", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--skip-fit", action="store_true")
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    kept = not options.glibc_malloc and keep_freed_memory()
    sys.path.insert(0, str(HERE))  # trial.GenerationClock for the CLI
    print(
        f"threads: {torch.get_num_threads()}  (cpu cores: {os.cpu_count()}); freed memory "
        f"{'kept' if kept else 'returned (glibc default)'}",
        flush=True,
    )
    if not options.skip_fit:
        for state in STATES:
            for order in ORDERS:
                count = (
                    options.generations
                    if order == "synchronous"
                    else options.sequential_generations
                )
                wall = fit_seconds_per_generation(order, count, state)
                arithmetic = arithmetic_seconds_per_generation(order, 1, count, state=state)
                name = order if state == STATES[0] else f"{order}, {state}"
                print(
                    f"overhead ratio {name}: {wall / arithmetic:.2f}  ({state}; fit {wall:.3f}"
                    f" s/generation, arithmetic {arithmetic:.3f}; 400 generations:"
                    f" {400 * wall / 60:.1f} min)",
                    flush=True,
                )
    batched_trial_lines("cpu", options.trials, 2)
    if torch.cuda.is_available():
        batched_trial_lines("cuda", [32, 256], 3)


if __name__ == "__main__":
    main()
