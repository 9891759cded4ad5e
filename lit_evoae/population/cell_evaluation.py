"""Cell evaluations: the loss a cell's trained pair minimises at each step of its pass.

Chosen in a config by class_path (`strategy.cell_evaluation`); the paper's names
`lipi_simple` (Paired) and `epoch_node` (Cooperative) are accepted as aliases. Each gives
`losses_of(step, inputs, targets)` for `train_pass`: the trainees' losses (n,) reconstructing
`targets` from `inputs` (n, batch, features; a corrupted copy for a denoising system), row
i being cell i's pair.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import Tensor

from lit_evoae.population.stacked import StackedAutoencoder
from lit_evoae.population.training import reconstruction_l1

Losses = Callable[[int, Tensor], Tensor]


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
    ) -> Losses:
        """`losses_of` for the trainees; row i trains for the cell whose neighbourhood is row
        i of `neighbourhoods` (cells, k). `streams` lists (a generator, the rows drawing from
        it): `Pack.streams`."""


class Paired(CellEvaluation):
    """The selected encoder and decoder trained together (the paper's `lipi_simple`)."""

    def losses(self, trainees, centers, neighbourhoods, streams, steps):
        def losses_of(step: int, inputs: Tensor, targets: Tensor) -> Tensor:
            return reconstruction_l1(trainees(inputs), targets)

        return losses_of


class Cooperative(CellEvaluation):
    """Each trainee encoder against a random neighbour's decoder and each trainee decoder
    against a random neighbour's encoder, drawn anew at every step, the neighbours' centers
    held fixed (the paper's `epoch_node`)."""

    def losses(self, trainees, centers, neighbourhoods, streams, steps):
        partners = draw_partners(neighbourhoods, streams, steps).to(
            trainees.encoders[0].weight.device
        )

        def losses_of(step: int, inputs: Tensor, targets: Tensor) -> Tensor:
            decoders, encoders = partners[step, :, 0], partners[step, :, 1]
            encoder_side = centers.decode(trainees.encode(inputs), decoders)
            decoder_side = trainees.decode(centers.encode(inputs, encoders))
            return (
                reconstruction_l1(encoder_side, targets) + reconstruction_l1(decoder_side, targets)
            ) / 2

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
