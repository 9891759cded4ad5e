"""Cell evaluations: the loss a cell's trained pair minimises at each step of its pass.

Chosen in a config by class_path (`strategy.cell_evaluation`); the paper's names
`lipi_simple` (Paired) and `epoch_node` (Cooperative) are accepted as aliases. Each gives
`losses_of(step, inputs, targets)` for `train_pass`: the trainees' losses (n,) reconstructing
`targets` from `inputs` (n, batch, features; a corrupted copy for a denoising system), row
i being cell i's pair. A variational population's code is sampled with `sample(shape)`'s
noise, and its loss is its own (`StackedAutoencoder.losses`).
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import Tensor

from lit_evoae.population.stacked import StackedAutoencoder

Losses = Callable[[int, Tensor, Tensor], Tensor]


class CellEvaluation(ABC):
    """Base: the training loss of a group of trainees for one pass of `steps` minibatches."""

    @abstractmethod
    def losses(
        self,
        trainees: StackedAutoencoder,
        centers: StackedAutoencoder,
        neighbourhoods: Tensor,
        streams: Sequence[tuple[torch.Generator, Tensor]],
        steps: int,
        sample: Callable[[tuple], Tensor] | None = None,
    ) -> Losses:
        """`losses_of` for the trainees; row i trains for the cell whose neighbourhood is row
        i of `neighbourhoods` (cells, k). `streams` lists (a generator, the rows drawing from
        it): `Pack.streams`. `sample`: a variational population's latent noise."""


def latent_noise(sample, population: StackedAutoencoder, inputs: Tensor) -> Tensor | None:
    """Noise for the codes of `inputs` (n, batch, features), if `sample` gives any."""
    if sample is None:
        return None
    return sample((inputs.shape[0], inputs.shape[1], population.encoder_sizes[-1]))


def own_losses(population: StackedAutoencoder, sample=None) -> Losses:
    """`losses_of` for individuals trained with their own encoder and decoder (a pair, or a
    canonical network)."""

    def losses_of(step: int, inputs: Tensor, targets: Tensor) -> Tensor:
        code, divergence = population.latent(inputs, noise=latent_noise(sample, population, inputs))
        return population.losses(population.decode(code), targets, divergence)

    return losses_of


class Paired(CellEvaluation):
    """The selected encoder and decoder trained together (the paper's `lipi_simple`)."""

    def losses(self, trainees, centers, neighbourhoods, streams, steps, sample=None):
        return own_losses(trainees, sample)


class Cooperative(CellEvaluation):
    """Each trainee encoder against a random neighbour's decoder and each trainee decoder
    against a random neighbour's encoder, drawn anew at every step, the neighbours' centers
    held fixed (the paper's `epoch_node`)."""

    def losses(self, trainees, centers, neighbourhoods, streams, steps, sample=None):
        partners = draw_partners(neighbourhoods, streams, steps).to(
            trainees.encoders[0].weight.device
        )

        def losses_of(step: int, inputs: Tensor, targets: Tensor) -> Tensor:
            decoders, encoders = partners[step, :, 0], partners[step, :, 1]
            noise = latent_noise(sample, trainees, inputs)
            code, divergence = trainees.latent(inputs, noise=noise)
            encoder_side = trainees.losses(centers.decode(code, decoders), targets, divergence)
            noise = latent_noise(sample, trainees, inputs)
            code, divergence = centers.latent(inputs, encoders, noise=noise)
            decoder_side = trainees.losses(trainees.decode(code), targets, divergence)
            return (encoder_side + decoder_side) / 2

        return losses_of


def draw_partners(
    neighbourhoods: Tensor, streams: Sequence[tuple[torch.Generator, Tensor]], steps: int
) -> Tensor:
    """Partner cells (steps, cells, 2), a decoder's and an encoder's per step and row, drawn
    from each row's neighbourhood with its stream's generator."""
    picks = torch.empty(steps, len(neighbourhoods), 2, dtype=torch.long)
    for generator, rows in streams:
        picks[:, rows] = torch.randint(
            neighbourhoods.shape[1], (steps, len(rows), 2), generator=generator
        )
    return neighbourhoods.expand(steps, -1, -1).gather(2, picks)


#: The paper's names, kept so that configs written with them still parse.
ALIASES: dict[str, type[CellEvaluation]] = {"lipi_simple": Paired, "epoch_node": Cooperative}
CellEvaluationAlias = Literal[tuple(ALIASES)]  # type: ignore[valid-type]
