"""How many runs a pack may hold: the memory estimate of `population.memory`, per trial.

The runner asks before it starts a pack, so a pack too large for the device is refused in
one line naming its size, instead of failing inside its process; `--pack auto` takes the
largest size that fits in half the free memory (the other half for the data, autograd and
everything else).
"""

from pathlib import Path

import torch

from lit_evoae.cli import build_cli
from lit_evoae.errors import ConfigError
from lit_evoae.population.memory import available_bytes, estimated_bytes
from lit_evoae.quiet import start_up_notices_off
from lit_evoae.study.spec import Run
from lit_evoae.systems import CanonicalAutoencoder, CoevolutionaryAutoencoder

AUTO = "auto"
#: The share of the free memory `--pack auto` fills with populations.
AUTO_SHARE = 0.5


def bytes_per_trial(run: Run, scratch: Path) -> tuple[int, torch.device]:
    """The estimated bytes one trial of `run` adds to a pack, and the device it trains on."""
    with start_up_notices_off():
        cli = build_cli([*run.arguments(), "--trainer.default_root_dir", str(scratch)], run=False)
    model, data = cli.model, cli.datamodule
    device = cli.trainer.strategy.root_device
    if isinstance(model, CoevolutionaryAutoencoder):
        cells = model.topology.size
        slots = model.strategy.update_order.group_size(cells, 1)
        sizes = model.centers.encoder_sizes, model.centers.decoder_sizes
        neighbourhood = model.topology.neighbourhood_size()
    elif isinstance(model, CanonicalAutoencoder):
        cells, slots, neighbourhood = 1, 0, 1
        sizes = model.population.encoder_sizes, model.population.decoder_sizes
    else:
        return 0, device
    return estimated_bytes(cells, slots, *sizes, neighbourhood, data.batch_size), device


def pack_size(
    run: Run, asked: int | str, scratch: Path, workers: int = 1, runs: int | None = None
) -> tuple[int, str]:
    """The pack size for runs like `run` (`asked`: a number or `auto`) and a line saying
    why; a number whose packs cannot fit, as many at once as the `workers` run of the
    study's `runs`, is refused in one line.

    `auto` shares the memory among the `workers` packs that run at once and, given the
    study's number of `runs` of this kind, splits them into at least `workers` packs, so
    that no worker idles while one pack holds every run. (The study's number, not the
    unfinished ones: the same command then makes the same packs, and resumes them.)"""
    per_trial, device = bytes_per_trial(run, scratch)
    free = available_bytes(device)
    if asked == AUTO:
        if free is None or per_trial == 0:
            return 1, f"--pack auto: {device}'s free memory is unknown; each run alone"
        fits = max(1, int(AUTO_SHARE * free / workers // per_trial))
        shared = f"{free / 2**30:.1f} GiB free on {device}"
        if workers > 1:
            shared += f", shared by {workers} workers"
        line = f"about {_mib(per_trial)} MiB a trial; {shared}"
        size = fits
        if workers > 1 and runs is not None and -(-runs // workers) < fits:
            size = max(1, -(-runs // workers))
            line += f"; {runs} such runs over {workers} workers, where {fits} would fit"
        return size, f"--pack auto: packs of up to {size} runs ({line})"
    at_once = workers if runs is None else max(1, min(workers, -(-runs // asked)))
    needed = at_once * asked * per_trial
    if free is not None and needed > free:
        packs = f"a pack of {asked} runs needs"
        if at_once > 1:
            packs = f"{at_once} packs of {asked} runs at once (--workers {workers}) need"
        raise ConfigError(
            f"--pack {asked}: {packs} about {needed / 2**30:.1f} GiB, but {device} has "
            f"{free / 2**30:.1f} GiB free; use a smaller --pack"
            f"{' or fewer --workers' if at_once > 1 else ''}, or --pack auto"
        )
    return asked, f"--pack {asked}: about {_mib(per_trial)} MiB a trial"


def _mib(count: int) -> str:
    return f"{count / 2**20:.1f}"
