"""The pairings a selection scores: every encoder against every decoder of its neighbourhoods.

Scoring them one neighbourhood at a time would be a Python loop over cells; laid out as
one table, a generation's selection is one batched encode and one batched decode.
"""

from typing import Literal

import torch
from torch import Tensor

from lit_evoae.population.stacked import StackedAutoencoder

#: What a tournament scores a pairing by. l1: the mean L1 of the reconstruction from the
#: code (from the mean code of a variational network). loss: the network's training loss, as
#: the reference's tournaments score (`calculate_losses`): for a variational network binary
#: cross-entropy plus KL divergence on a sampled code, for the others the same L1.
Selection = Literal["l1", "loss"]


class Pairings:
    """Every encoder x decoder pairing the neighbourhoods need, scored in one batched call
    (what selection ranks).

    Decoder j is run on the latents of `partners[j]`: every encoder that shares a
    neighbourhood with j (padded by repeating j). `lookup[c, a, b]` says where the
    loss of (encoder n[c, a], decoder n[c, b]) sits in decoder n[c, b]'s row.
    """

    def __init__(self, neighbourhoods: Tensor) -> None:
        self.neighbourhoods = neighbourhoods
        size = len(neighbourhoods)
        sharing: list[set[int]] = [{decoder} for decoder in range(size)]
        for row in neighbourhoods.tolist():
            for decoder in row:
                sharing[decoder].update(row)
        width = max(len(encoders) for encoders in sharing)
        ordered = [sorted(encoders) for encoders in sharing]
        self.partners = torch.tensor(
            [
                encoders + [decoder] * (width - len(encoders))
                for decoder, encoders in enumerate(ordered)
            ]
        )
        position = [{encoder: at for at, encoder in enumerate(encoders)} for encoders in ordered]
        self.lookup = torch.tensor(
            [
                [[position[decoder][encoder] for decoder in row] for encoder in row]
                for row in neighbourhoods.tolist()
            ]
        )

    def losses(
        self, population: StackedAutoencoder, inputs: Tensor, noise: Tensor | None = None
    ) -> Tensor:
        """Mean L1 of every needed pairing: (cells, k, k) with [c, a, b] the loss of encoder
        n[c, a] with decoder n[c, b]. `inputs` is one batch (batch, features) for all cells,
        or (cells, batch, features), cell c's batch in row c (an encoder is scored on its own
        cell's batch: the cells of a neighbourhood, one trial's, share one). With `noise`
        (`noise_shape`), a variational population's pairings are scored by their training
        loss instead, each on a code sampled with its own noise (`Selection`'s loss)."""
        partners = self.partners.to(inputs.device)
        size, width = partners.shape
        if inputs.dim() == 2:
            inputs = inputs.expand(size, *inputs.shape)
        batch = inputs.shape[1]
        targets = inputs[partners]  # each encoder's own batch: (decoder, partner, batch, ...)
        if noise is not None:
            pairs = targets.flatten(0, 1)
            code, divergence = population.latent(pairs, partners.flatten(), noise.flatten(0, 1))
            reconstructions = population.decode(code.reshape(size, width * batch, -1))
            per_pairing = population.losses(
                reconstructions.reshape(size * width, batch, -1), pairs, divergence
            ).reshape(size, width)
        else:
            latents = population.encode(inputs)  # (size, batch, latent)
            paired = latents[partners].reshape(size, width * batch, -1)
            reconstructions = population.decode(paired).reshape(size, width, batch, -1)
            per_pairing = (reconstructions - targets).abs().mean(dim=(2, 3))  # (decoder, partner)
        neighbourhoods = self.neighbourhoods.to(inputs.device)
        decoders = neighbourhoods.unsqueeze(1).expand(-1, neighbourhoods.shape[1], -1)
        return per_pairing[decoders, self.lookup.to(inputs.device)]

    def noise_shape(self, population: StackedAutoencoder, batch: int) -> tuple[int, ...]:
        """The shape of `losses`' noise: one code per pairing and example."""
        return (*self.partners.shape, batch, population.encoder_sizes[-1])
