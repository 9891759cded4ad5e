"""Plain `nn.Module` autoencoders: the form one individual takes for export, inference and tests."""

from collections.abc import Sequence
from itertools import pairwise

from torch import Tensor, nn


def layer_sizes(
    input_dim: int, hidden_sizes: Sequence[int], latent_dim: int
) -> tuple[list[int], list[int]]:
    """Encoder and decoder widths, input to output; the decoder mirrors the encoder (paper)."""
    encoder = [input_dim, *hidden_sizes, latent_dim]
    return encoder, encoder[::-1]


def mlp(sizes: Sequence[int], output_activation: type[nn.Module]) -> nn.Sequential:
    """Linear layers with ReLU between them and `output_activation` after the last one."""
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(pairwise(sizes)):
        layers.append(nn.Linear(fan_in, fan_out))
        last = index == len(sizes) - 2
        layers.append(output_activation() if last else nn.ReLU())
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """Encoder (ReLU after every layer) and decoder (ReLU, then Sigmoid) as in the paper.

    Widths are given layer by layer so that a compacted individual, whose layers
    lost units, is still an `Autoencoder`.
    """

    def __init__(self, encoder_sizes: Sequence[int], decoder_sizes: Sequence[int]) -> None:
        super().__init__()
        if encoder_sizes[-1] != decoder_sizes[0] or encoder_sizes[0] != decoder_sizes[-1]:
            raise ValueError(
                f"encoder sizes {list(encoder_sizes)} and decoder sizes {list(decoder_sizes)} "
                "do not connect: latent and input widths must match"
            )
        self.encoder = mlp(encoder_sizes, nn.ReLU)
        self.decoder = mlp(decoder_sizes, nn.Sigmoid)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))
