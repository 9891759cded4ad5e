"""What no pack can beat on this CPU: a pack's bare arithmetic, timed, against a run alone.

`benchmarks/study.py` times what packs do. This script times what they cannot avoid:
a generation's training passes (`train_pass`, the batched forward, backward and
optimiser update a pack runs, on its shapes, data and optimiser state) and its
validation forward, with no Lightning, hooks, pruning, selection or logging. From a
slice of `configs/studies/paper_main.yaml` (TRIALS trials per variant, one pack per
regime, as `benchmarks/study.py` packs them), one thread:
  floor canonical: X trial-generations/s (pack of T), a run alone Y; ratio at most R
      R bounds `study throughput canonical` (the target is 8): the pack at its floor
      over the runs alone as they run now;
  floor coevolution: X trial-generations/s (pack of T)
  paper_main floor core-hours: H
      the whole grid at these floors; it bounds `paper_main projected core-hours`
      (the target is 25).
A target beyond its bound cannot be met by cutting bookkeeping, only by other
arithmetic (other kernels, another update, another device).

    python benchmarks/floor.py [--threads 1] [--trials 2] [--steps 100]
"""

import argparse
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import torch
from study import (
    PAPER_GENERATIONS,
    PAPER_TRIALS,
    pack_of,
    paper_study,
    regime_runs,
    set_up_like_a_pack,
    time_pack,
)
from torch import Tensor

from lit_evoae.metrics import l1_sums
from lit_evoae.population.optim import StackedAdam
from lit_evoae.population.stacked import StackedAutoencoder, reconstruction_l1
from lit_evoae.population.training import pass_orders, train_pass
from lit_evoae.systems import CoevolutionaryAutoencoder

#: Each part is timed this many times and the fastest kept: a floor, not a typical time.
REPEATS = 3


class PackShape(NamedTuple):
    """What a pack's bare arithmetic needs to know of it."""

    sizes: tuple  # encoder and decoder layer sizes
    state: str  # the optimiser state
    passes: int  # training passes a generation
    networks: int  # networks a pass trains
    validated: int  # networks validated a generation
    train: Tensor
    val: Tensor
    batch: int
    eval_batch: int


def pack_shape(runs, folder: Path) -> PackShape:
    """The shape of `runs` as one pack."""
    cli, system = pack_of(runs, folder)
    data = cli.datamodule
    data.prepare_data()
    data.setup("fit")
    if isinstance(system, CoevolutionaryAutoencoder):
        networks = system.strategy.update_order.group_size(system.pack)
        population = system.centers
        passes, validated = system.pack.size // networks, system.pack.size
    else:
        population, networks, passes, validated = system.population, len(runs), 1, len(runs)
    return PackShape(
        sizes=(population.encoder_sizes, population.decoder_sizes),
        state=system.hparams.optimizer_state,
        passes=passes,
        networks=networks,
        validated=validated,
        train=data.splits["train"].tensors[0],
        val=data.splits["val"].tensors[0],
        batch=data.batch_size,
        eval_batch=data.eval_batch_size,
    )


def seconds_per_step(sizes, state, networks: int, train, steps: int, batch: int) -> float:
    """One `train_pass` of `networks` over the first `steps` minibatches, per step."""
    population = StackedAutoencoder(networks, *sizes)
    adam = StackedAdam(population, (0.5, 0.999), state=state)
    rates = torch.full((networks,), 1e-5, dtype=torch.float64)
    inputs = train[: steps * batch]

    def losses_of(step, batch_inputs, targets):
        return reconstruction_l1(population(batch_inputs), batch_inputs)

    def one_pass(number: int) -> None:
        orders = pass_orders(range(networks), 0, number, len(inputs))
        train_pass(population, adam, rates, inputs, orders, batch, losses_of, masked=False)

    one_pass(0)  # warm-up (and the compile of the stateless update)
    seconds = []
    for number in range(1, 1 + REPEATS):
        start = time.perf_counter()
        one_pass(number)
        seconds.append((time.perf_counter() - start) / steps)
    return min(seconds)


@torch.no_grad()
def validation_seconds(sizes, networks: int, val, eval_batch: int) -> float:
    """The validation forward of `networks` over the validation split, and its L1 sums."""
    population = StackedAutoencoder(networks, *sizes)
    population(val[:eval_batch])  # warm-up
    seconds = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for chunk in val.split(eval_batch):
            l1_sums(population(chunk), chunk)
        seconds.append(time.perf_counter() - start)
    return min(seconds)


def floor_rate(runs, folder: Path, steps: int) -> float:
    """Trial-generations per second of `runs` as one pack at its bare arithmetic."""
    shape = pack_shape(runs, folder)
    per_pass = -(-len(shape.train) // shape.batch)
    step = seconds_per_step(
        shape.sizes, shape.state, shape.networks, shape.train, min(steps, per_pass), shape.batch
    )
    validation = validation_seconds(shape.sizes, shape.validated, shape.val, shape.eval_batch)
    return len(runs) / (shape.passes * per_pass * step + validation)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100, help="timed steps of a pass")
    options = parser.parse_args()
    set_up_like_a_pack(options.threads)
    study = paper_study()
    variants = len(study.variants()) // 2
    print(f"threads: {torch.get_num_threads()}  {options.trials} trials per variant", flush=True)
    rates = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for regime in ("canonical", "coevolution"):
            runs = regime_runs(study, regime, options.trials)
            rates[regime] = floor_rate(runs, scratch / regime, options.steps)
            line = f"floor {regime}: {rates[regime]:.2f} trial-generations/s (pack of {len(runs)})"
            if regime == "canonical":  # each variant's first run alone, as study.py runs it
                firsts = runs[:: options.trials]
                alone = [
                    time_pack([run], scratch / f"alone_{number}", 2, "cpu")[1]
                    for number, run in enumerate(firsts)
                ]
                rate_alone = len(alone) / sum(alone)
                bound = rates[regime] / rate_alone
                line += f", a run alone {rate_alone:.2f}; ratio at most {bound:.2f}"
            print(line, flush=True)
    trial_generations = variants * PAPER_TRIALS * PAPER_GENERATIONS
    hours = sum(trial_generations / rate for rate in rates.values()) / 3600
    print(f"paper_main floor core-hours: {hours:.1f}  ({options.threads} thread)", flush=True)


if __name__ == "__main__":
    main()
