"""Will a population fit? An estimate made before allocating, so that a population too large
for the device stops with one line naming its size, not an out-of-memory traceback."""

import os
from itertools import pairwise

import torch

from lit_evoae.errors import ConfigError

#: Bytes per parameter of a center: float weight, bool mask, two float Adam moments.
CENTER_BYTES = 4 + 1 + 8
#: A trained slot also holds a gradient and the autograd activations are small beside it.
TRAINEE_BYTES = CENTER_BYTES + 4


def parameters_per_individual(encoder_sizes, decoder_sizes) -> int:
    return sum(
        fan_in * fan_out + fan_out
        for sizes in (encoder_sizes, decoder_sizes)
        for fan_in, fan_out in pairwise(sizes)
    )


def estimated_bytes(
    cells: int, trainee_slots: int, encoder_sizes, decoder_sizes, neighbourhood: int, batch: int
) -> int:
    """Centers, trainees and the selection's pairing table (each encoder's batch against
    every decoder it shares a neighbourhood with), in bytes."""
    parameters = parameters_per_individual(encoder_sizes, decoder_sizes)
    pairings = cells * (2 * neighbourhood - 1) * batch * encoder_sizes[0] * 4 * 3
    return cells * parameters * CENTER_BYTES + trainee_slots * parameters * TRAINEE_BYTES + pairings


def available_bytes(device: torch.device) -> int | None:
    """Free memory of `device` (None where it cannot be told)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type == "cpu" and hasattr(os, "sysconf"):
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            return None
    return None


def check_population_fits(
    cells: int, neighbourhood: int, trainee_slots: int, sizes, device: torch.device, batch: int = 5
) -> None:
    """Raise a one-line ConfigError if a population of `cells` (neighbourhoods of
    `neighbourhood` cells, `trainee_slots` slots to train, networks of `sizes` = (encoder,
    decoder)) would not fit in `device`'s memory."""
    needed = estimated_bytes(cells, trainee_slots, *sizes, neighbourhood, batch)
    free = available_bytes(device)
    if free is not None and needed > free:
        raise ConfigError(
            f"a population of {cells} cells needs about {needed / 2**30:.1f} GiB, but {device} "
            f"has {free / 2**30:.1f} GiB free: use fewer cells (model.init_args.topology) or "
            "trials (model.init_args.seeds), smaller networks, or a device with more memory"
        )
