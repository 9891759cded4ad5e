"""Cell evaluations: the loss a cell's trained pair minimises at each step of its pass.

Each returns `losses_of(step, inputs)` for `train_pass`: the trainees' losses (n,) on
`inputs` (n, batch, features), row i being cell i's pair.
"""

from collections.abc import Callable

from torch import Tensor

from lit_evoae.population.stacked import StackedAutoencoder
from lit_evoae.population.training import reconstruction_l1

Losses = Callable[[int, Tensor], Tensor]


def paired(trainees: StackedAutoencoder) -> Losses:
    """lipi_simple (the paper's): the selected encoder and decoder trained together."""

    def losses_of(step: int, inputs: Tensor) -> Tensor:
        return reconstruction_l1(trainees(inputs), inputs)

    return losses_of


def cooperative(trainees: StackedAutoencoder, centers: StackedAutoencoder,
                partners: Tensor) -> Losses:  # fmt: skip
    """epoch_node: each trainee encoder against a neighbour's decoder and each trainee decoder
    against a neighbour's encoder, the neighbours' centers held fixed; `partners`
    (steps, n, 2) names, per step and row, the decoder's cell and the encoder's cell."""

    def losses_of(step: int, inputs: Tensor) -> Tensor:
        decoders, encoders = partners[step, :, 0], partners[step, :, 1]
        encoder_side = centers.decode(trainees.encode(inputs), decoders)
        decoder_side = trainees.decode(centers.encode(inputs, encoders))
        return (reconstruction_l1(encoder_side, inputs)
                + reconstruction_l1(decoder_side, inputs)) / 2  # fmt: skip

    return losses_of
