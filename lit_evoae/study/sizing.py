"""How many runs a pack may hold, decided before any pack starts.

`--pack auto` measures (lit_evoae.study.calibration); a number is checked against the
formula of `population.memory`, so a pack far too large for the device is refused in one
line naming its size, instead of failing inside its process.
"""

from pathlib import Path

import torch

from lit_evoae.cli import build_cli
from lit_evoae.errors import ConfigError
from lit_evoae.population.memory import available_bytes, estimated_bytes
from lit_evoae.quiet import start_up_notices_off
from lit_evoae.study.calibration import calibrated
from lit_evoae.study.spec import Run
from lit_evoae.systems import CanonicalAutoencoder, CoevolutionaryAutoencoder

AUTO = "auto"
#: The share of the free memory `--pack auto`'s packs may peak at, all workers' together.
#: Set when the same pack's peak differed by up to 1.75x from one process to the next
#: (glibc's heap; a few percent since aecbfd2 and 973d456, docs/guide/studies.md) and kept:
#: auto takes the fastest size, which memory seldom bounds, and a pack killed for memory
#: loses hours.
AUTO_SHARE = 0.55
#: Where auto cannot measure (a GPU), the share it fills by the formula, which counts only
#: the populations: the rest is left for the data, autograd and everything else.
FORMULA_SHARE = 0.5


def bytes_per_trial(run: Run, scratch: Path) -> tuple[int, torch.device]:
    """The estimated bytes one trial of `run` adds to a pack, and the device it trains on."""
    with start_up_notices_off():
        cli = build_cli([*run.arguments(), "--trainer.default_root_dir", str(scratch)], run=False)
    model, data = cli.model, cli.datamodule
    device = cli.trainer.strategy.root_device
    if isinstance(model, CoevolutionaryAutoencoder):
        cells = model.topology.size
        slots = model.strategy.update_order.group_size(model.pack)
        sizes = model.centers.encoder_sizes, model.centers.decoder_sizes
        neighbourhood = model.topology.neighbourhood_size()
    elif isinstance(model, CanonicalAutoencoder):
        cells, slots, neighbourhood = 1, 0, 1
        sizes = model.population.encoder_sizes, model.population.decoder_sizes
    else:
        return 0, device
    return estimated_bytes(cells, slots, *sizes, neighbourhood, data.batch_size), device


def pack_size(
    runs: list[Run], asked: int | str, scratch: Path, workers: int = 1, threads: int = 1
) -> tuple[int, str]:
    """The pack size for `runs`, the study's runs of one kind (`asked`: a number or `auto`),
    and a line saying why.

    `auto` on a CPU calibrates (lit_evoae.study.calibration): the smaller of the fastest
    size per trial and the largest whose measured memory fits `workers` packs at once in
    AUTO_SHARE of the free memory, and never more than a worker's share of `runs`, so that
    no worker idles while one pack holds them all. (The study's runs, not the unfinished
    ones: the same command then makes the same packs, and resumes them.) Elsewhere, and for a
    number, the formula of `population.memory`, a lower bound: a number whose packs cannot
    fit even by it, as many at once as the workers run, is refused in one line."""
    per_trial, device = bytes_per_trial(runs[0], scratch)
    free = available_bytes(device)
    share = -(-len(runs) // workers)
    if asked == AUTO:
        if free is None or per_trial == 0:
            return 1, f"--pack auto: {device}'s free memory is unknown; each run alone"
        shared = f"{free / 2**30:.1f} GiB free on {device}"
        if workers > 1:
            shared += f", shared by {workers} workers"
        budget = int(AUTO_SHARE * free / workers)
        if device.type != "cpu":
            size = max(1, min(share, int(FORMULA_SHARE * free / workers) // per_trial))
            line = f"about {_mib(per_trial)} MiB a trial; {shared}"
            return size, f"--pack auto: packs of up to {size} runs ({line})"
        calibration = calibrated(runs, share, budget, threads, scratch, say=_say(runs))
        fastest, fits = calibration.fastest, calibration.largest_fitting(budget)
        size = max(1, min(fastest.size, fits, share))
        line = (
            f"--pack auto: packs of up to {size} runs (fastest per trial at {fastest.size} of "
            f"{', '.join(str(m.size) for m in calibration.measured)}: "
            f"{fastest.rate:.2f} trial-generations/s; a pack of {size} peaks at about "
            f"{calibration.bytes_for(size) / 2**30:.1f} GiB, {fits:,} would fit; {shared})"
        )
        return size, line
    at_once = max(1, min(workers, -(-len(runs) // asked)))
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
    return asked, f"--pack {asked}: at least {_mib(per_trial)} MiB a trial"


def _say(runs: list[Run]):
    return lambda line: print(f"--pack auto, runs like {runs[0].key}: {line}", flush=True)


def _mib(count: int) -> str:
    return f"{count / 2**20:.1f}"
