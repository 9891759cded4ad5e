"""Denoising: training passes corrupt the input, and the loss compares against the clean one.

A system given `denoising` (either regime) trains each network to reconstruct the clean
minibatch from a corrupted copy; validation, selection, pruning's probes and the test see
clean data. The noise of a pass is drawn from the trial's seed, the generation and the
pass alone (as the pass's order is), so a resumed run replays it and a trial in a pack
draws what it draws alone.

The reference's `DenoisingAutoencoder` adds N(0, 0.4²) in training mode; its binary
clustering class inherits the plain autoencoder instead, so its binary-clustering runs add
no noise (`configs/paper/network/denoising.yaml` says so).
"""

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor

from lit_evoae.arguments import HalfOpenUnitInterval, NonNegativeFloat, check


class Corruption(ABC):
    """What a training pass does to each minibatch before the networks see it."""

    @abstractmethod
    def draw(self, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
        """The random part for one trial's rows."""

    @abstractmethod
    def apply(self, clean: Tensor, noise: Tensor) -> Tensor:
        """The corrupted batch from the clean one and what `draw` drew."""


class GaussianNoise(Corruption):
    """x + N(0, std²), the reference's `DenoisingAutoencoder` (std 0.4).

    Args:
        std: the noise's standard deviation (>= 0).
    """

    def __init__(self, std: NonNegativeFloat = 0.4) -> None:
        self.std = check("denoising.std", std, NonNegativeFloat)

    def draw(self, shape, generator):
        return torch.randn(shape, generator=generator)

    def apply(self, clean, noise):
        return clean + self.std * noise


class BitFlips(Corruption):
    """Each value x becomes 1 - x with probability `probability`: noise that keeps binary
    data binary.

    Args:
        probability: the chance that a value flips, in [0, 1).
    """

    def __init__(self, probability: HalfOpenUnitInterval = 0.1) -> None:
        self.probability = check("denoising.probability", probability, HalfOpenUnitInterval)

    def draw(self, shape, generator):
        return torch.rand(shape, generator=generator)

    def apply(self, clean, noise):
        return torch.where(noise < self.probability, 1 - clean, clean)


#: The noise streams of a pass: each purpose draws from generators of its own.
INPUT_NOISE, LATENT_NOISE, SELECTION_NOISE = 0, 1, 2


def noise_generators(
    seeds: Sequence[int], generation: int, pass_index: int, purpose: int = INPUT_NOISE
) -> list:
    """One generator per trial for one pass's noise of `purpose`, from (seed, generation,
    pass) alone, apart from the generator of the pass's order (`training.pass_orders`)."""
    return [
        torch.Generator().manual_seed(
            (((seed * 1_000_033 + generation) * 10_009 + pass_index) * 7 + purpose) % 2**63
        )
        for seed in seeds
    ]


def per_stream(shape, streams: Sequence[tuple[torch.Generator, Tensor]], draw) -> Tensor:
    """A tensor of `shape` whose rows `positions` come from `draw(their shape, generator)`,
    for each (generator, positions) of `streams`: each trial's rows from its own stream."""
    drawn = torch.empty(shape)
    for generator, positions in streams:
        drawn[positions] = draw((len(positions), *shape[1:]), generator)
    return drawn
