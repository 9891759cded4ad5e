"""Plain `nn.Module` autoencoders: the form one individual takes for export, inference and tests."""

import os
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from itertools import pairwise

import torch
from torch import Tensor, nn

from lit_evoae.io import atomic_save


@contextmanager
def eval_mode(module: nn.Module):
    """Eval mode for a side pass (a probe, a score), restored after it; activation statistics
    record training-mode passes only, so side passes do not pollute them."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def layer_sizes(
    input_dim: int, hidden_sizes: Sequence[int], latent_dim: int
) -> tuple[list[int], list[int]]:
    """Encoder and decoder widths, input to output; the decoder mirrors the encoder (paper).
    A code as wide as the input can copy it: that is allowed, with a warning."""
    if latent_dim >= input_dim:
        warnings.warn(
            f"latent_dim {latent_dim} is not smaller than the input width {input_dim}: the "
            "autoencoder can learn to copy its input instead of compressing it (check "
            "model.init_args.latent_dim and the data's width)",
            UserWarning,
            stacklevel=2,
        )
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
    """Encoder (ReLU after every layer) and decoder (ReLU, then Sigmoid) as in the paper;
    `variational`: the encoder's last layer is two heads without activation, `means` and
    `log_variances`, and the module reconstructs from the means (see `StackedAutoencoder`).

    Widths are given layer by layer so that a compacted individual, whose layers
    lost units, is still an `Autoencoder`.
    """

    def __init__(
        self, encoder_sizes: Sequence[int], decoder_sizes: Sequence[int], variational: bool = False
    ) -> None:
        super().__init__()
        if encoder_sizes[-1] != decoder_sizes[0] or encoder_sizes[0] != decoder_sizes[-1]:
            raise ValueError(
                f"encoder sizes {list(encoder_sizes)} and decoder sizes {list(decoder_sizes)} "
                "do not connect: latent and input widths must match"
            )
        self.encoder_sizes = list(encoder_sizes)
        self.decoder_sizes = list(decoder_sizes)
        self.variational = variational
        if variational:
            self.encoder = mlp(encoder_sizes[:-1], nn.ReLU)
            self.means = mlp(encoder_sizes[-2:], nn.Identity)
            self.log_variances = mlp(encoder_sizes[-2:], nn.Identity)
        else:
            self.encoder = mlp(encoder_sizes, nn.ReLU)
        self.decoder = mlp(decoder_sizes, nn.Sigmoid)

    def forward(self, x: Tensor) -> Tensor:
        code = self.encoder(x)
        return self.decoder(self.means(code) if self.variational else code)

    def linears(self) -> list[nn.Linear]:
        """The linear layers, encoder first (a variational one's heads: means, then log
        variances), input to output."""
        parts = [self.encoder, self.decoder]
        if self.variational:
            parts[1:1] = [self.means, self.log_variances]
        return [layer for part in parts for layer in part if isinstance(layer, nn.Linear)]


def save_autoencoder(autoencoder: Autoencoder, path: str | os.PathLike) -> None:
    """Store widths and weights as plain tensors and lists (loads with weights_only=True)."""
    atomic_save(
        {
            "encoder_sizes": autoencoder.encoder_sizes,
            "decoder_sizes": autoencoder.decoder_sizes,
            **({"variational": True} if autoencoder.variational else {}),  # plain: as before
            "state_dict": autoencoder.state_dict(),
        },
        path,
    )


def load_autoencoder(path: str | os.PathLike) -> Autoencoder:
    payload = torch.load(path, weights_only=True, map_location="cpu")
    sizes = payload["encoder_sizes"], payload["decoder_sizes"]
    autoencoder = Autoencoder(*sizes, payload.get("variational", False))
    autoencoder.load_state_dict(payload["state_dict"])
    return autoencoder
