"""The pairings a selection scores: every encoder against every decoder of its neighbourhoods.

Scoring them one neighbourhood at a time would be a Python loop over cells; laid out as
one table, a generation's selection is one batched encode and one batched decode.
"""

import torch
from torch import Tensor

from lit_evoae.population.stacked import StackedAutoencoder


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

    def losses(self, population: StackedAutoencoder, inputs: Tensor) -> Tensor:
        """Mean L1 of every needed pairing: (cells, k, k) with [c, a, b] the loss of encoder
        n[c, a] with decoder n[c, b]. `inputs` is one batch (batch, features) for all cells,
        or (cells, batch, features), cell c's batch in row c (an encoder is scored on its own
        cell's batch: the cells of a neighbourhood, one trial's, share one)."""
        partners = self.partners.to(inputs.device)
        size, width = partners.shape
        if inputs.dim() == 2:
            inputs = inputs.expand(size, *inputs.shape)
        latents = population.encode(inputs)  # (size, batch, latent)
        batch = inputs.shape[1]
        paired = latents[partners].reshape(size, width * batch, -1)
        reconstructions = population.decode(paired).reshape(size, width, batch, -1)
        targets = inputs[partners]  # each encoder's own batch
        per_pairing = (reconstructions - targets).abs().mean(dim=(2, 3))  # (decoder, partner)
        neighbourhoods = self.neighbourhoods.to(inputs.device)
        decoders = neighbourhoods.unsqueeze(1).expand(-1, neighbourhoods.shape[1], -1)
        return per_pairing[decoders, self.lookup.to(inputs.device)]
