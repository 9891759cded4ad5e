"""A population of autoencoders stored as stacked tensors with a leading population dimension.

Every layer of every individual lives in one tensor, so a forward/backward pass
of the whole population is a handful of batched matrix products rather than a
Python loop over individuals. A canonical run is a population of one.
"""

import math
from collections.abc import Iterator, Sequence
from itertools import pairwise

import torch
from torch import Tensor, nn

from lit_evoae.nets import Autoencoder


def reconstruction_l1(reconstructions: Tensor, inputs: Tensor) -> Tensor:
    """Mean L1 per individual: (n, batch, features) against (n or 1, batch, features) -> (n,)."""
    return (reconstructions - inputs).abs().mean(dim=(1, 2))


class StackedLinear(nn.Module):
    """`population_size` independent `nn.Linear` layers of one shape, run as one `baddbmm`.

    Weights are stored (population, in_features, out_features), the transpose of
    `nn.Linear`'s, so the forward needs no transpose and the weight gradient comes
    out contiguous (autograd then keeps it instead of copying it every step).
    Column j of an individual's weight is unit j's incoming weights.

    Masks are boolean buffers beside the weights: a False entry is a pruned
    weight that `apply_masks_` keeps at exactly zero. They are buffers so that
    checkpoints, device moves and exports carry them with the weights.
    """

    def __init__(self, population_size: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(population_size, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(population_size, out_features))
        self.register_buffer("weight_mask", torch.ones_like(self.weight, dtype=torch.bool))
        self.register_buffer("bias_mask", torch.ones_like(self.bias, dtype=torch.bool))
        self.reset_parameters()

    @property
    def population_size(self) -> int:
        return self.weight.shape[0]

    def reset_parameters(self) -> None:
        """Draw each individual as `nn.Linear` would: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    @torch.no_grad()
    def reset_rows_(self, rows: slice, generator: torch.Generator) -> None:
        """Draw individuals `rows` anew as `reset_parameters` does, from `generator`."""
        bound = 1.0 / math.sqrt(self.in_features)
        for tensor in (self.weight, self.bias):
            drawn = torch.rand(tensor[rows].shape, generator=generator) * (2 * bound) - bound
            tensor[rows] = drawn.to(tensor.device)

    def forward(self, inputs: Tensor, index: Tensor | None = None) -> Tensor:
        """(population, batch, in_features) -> (population, batch, out_features).

        With `index` (long, shape (n,)), runs individuals `index` instead: (n, batch, ...).
        """
        weight, bias = self.weight, self.bias
        if index is not None:
            weight, bias = weight[index], bias[index]
        return torch.baddbmm(bias.unsqueeze(1), inputs, weight)

    @torch.no_grad()
    def apply_masks_(self) -> None:
        self.weight.mul_(self.weight_mask)
        self.bias.mul_(self.bias_mask)

    @torch.no_grad()
    def copy_into_(self, index: int, linear: nn.Linear) -> None:
        linear.weight.copy_(self.weight[index].T)
        linear.bias.copy_(self.bias[index])

    @torch.no_grad()
    def load_linear_(self, index: int, linear: nn.Linear) -> None:
        self.weight[index].copy_(linear.weight.T)
        self.bias[index].copy_(linear.bias)

    def extra_repr(self) -> str:
        return (
            f"population_size={self.population_size}, "
            f"in_features={self.in_features}, out_features={self.out_features}"
        )


class StackedMLP(nn.Sequential):
    """Stacked linear layers with ReLU between them and a chosen output activation.

    Activations are modules of their own, so forward hooks on them see every
    unit's output for every individual (what the pruning statistics need).
    """

    def __init__(
        self, population_size: int, sizes: Sequence[int], output_activation: type[nn.Module]
    ) -> None:
        layers: list[nn.Module] = []
        for index, (fan_in, fan_out) in enumerate(pairwise(sizes)):
            layers.append(StackedLinear(population_size, fan_in, fan_out))
            last = index == len(sizes) - 2
            layers.append(output_activation() if last else nn.ReLU())
        super().__init__(*layers)

    def linears(self) -> Iterator[StackedLinear]:
        return (layer for layer in self if isinstance(layer, StackedLinear))

    def forward(self, inputs: Tensor, index: Tensor | None = None) -> Tensor:
        for layer in self:
            inputs = layer(inputs, index) if isinstance(layer, StackedLinear) else layer(inputs)
        return inputs


class StackedAutoencoder(nn.Module):
    """`population_size` encoders and as many decoders, stacked layer by layer.

    Encoder i and decoder i form individual i's autoencoder; coevolution pairs
    them otherwise by indexing the population dimension.

    `variational` (the reference's VAE): the encoder's last layer becomes two heads without
    an activation, `means` (mu) and `log_variances` (log sigma^2), both reading the last
    hidden layer; `latent` samples z = mu + exp(log sigma^2 / 2) * noise where noise is
    given, and the code is mu elsewhere, so validation, selection and the test score the
    reconstruction at z = mu. Its `losses` are binary cross-entropy summed over the elements
    plus the KL divergence from N(0, 1), as the reference's.
    """

    def __init__(
        self,
        population_size: int,
        encoder_sizes: Sequence[int],
        decoder_sizes: Sequence[int],
        variational: bool = False,
    ) -> None:
        super().__init__()
        self.encoder_sizes = list(encoder_sizes)
        self.decoder_sizes = list(decoder_sizes)
        self.variational = variational
        if variational:
            trunk, head = encoder_sizes[:-1], encoder_sizes[-2:]
            self.encoders = StackedMLP(population_size, trunk, nn.ReLU)
            self.means = StackedMLP(population_size, head, nn.Identity)
            self.log_variances = StackedMLP(population_size, head, nn.Identity)
        else:
            self.encoders = StackedMLP(population_size, encoder_sizes, nn.ReLU)
        self.decoders = StackedMLP(population_size, decoder_sizes, nn.Sigmoid)
        # Parameters the most recent pruning of each individual's lineage zeroed (the
        # reference's count, which the paper's capacity uses when pruned weights regrow).
        self.register_buffer("zeroed_at_last_prune", torch.zeros(population_size))

    @property
    def population_size(self) -> int:
        return next(self.linears()).population_size

    def like(self, population_size: int) -> "StackedAutoencoder":
        """A population of `population_size` individuals of this one's kind and shape."""
        sizes = self.encoder_sizes, self.decoder_sizes
        made = StackedAutoencoder(population_size, *sizes, variational=self.variational)
        return made.to(next(self.parameters()).device)

    def parts(self) -> list[StackedMLP]:
        """The stacks in the order their layers are numbered: encoder (trunk, then the
        variational heads), decoder."""
        if self.variational:
            return [self.encoders, self.means, self.log_variances, self.decoders]
        return [self.encoders, self.decoders]

    def capacity_at_last_prune(self) -> Tensor:
        """Per individual, the fraction of parameters the last pruning left: (population,)."""
        return 1 - self.zeroed_at_last_prune / self.parameters_per_individual()

    def linears(self) -> Iterator[StackedLinear]:
        for part in self.parts():
            yield from part.linears()

    def forward(self, inputs: Tensor, index: Tensor | None = None) -> Tensor:
        """Reconstruct a batch with every individual (or with individuals `index`).

        `inputs` is (batch, features), shared by all, or (n, batch, features);
        the result is (n, batch, features).
        """
        return self.decode(self.encode(inputs, index), index)

    def encode(self, inputs: Tensor, index: Tensor | None = None) -> Tensor:
        """The code: the encoder's output, or mu for a variational one."""
        return self.latent(inputs, index)[0]

    def latent(
        self, inputs: Tensor, index: Tensor | None = None, noise: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """(the code, each individual's KL divergence summed over the batch, (n,)), the KL
        None unless variational; with `noise` (n, batch, latent), z is sampled with it."""
        if inputs.dim() == 2:
            count = self.population_size if index is None else len(index)
            inputs = inputs.expand(count, *inputs.shape)
        hidden = self.encoders(inputs, index)
        if not self.variational:
            return hidden, None
        mean, log_variance = self.means(hidden, index), self.log_variances(hidden, index)
        divergence = -0.5 * (1 + log_variance - mean.square() - log_variance.exp()).sum((1, 2))
        if noise is None:
            return mean, divergence
        return mean + (0.5 * log_variance).exp() * noise, divergence

    def decode(self, latents: Tensor, index: Tensor | None = None) -> Tensor:
        return self.decoders(latents, index)

    def losses(self, reconstructions: Tensor, targets: Tensor, divergence: Tensor | None) -> Tensor:
        """Each individual's training loss (n,): mean L1, or for a variational population
        binary cross-entropy summed over the batch and features plus `divergence`."""
        if not self.variational:
            return reconstruction_l1(reconstructions, targets)
        targets = targets.expand_as(reconstructions)
        entropy = nn.functional.binary_cross_entropy(reconstructions, targets, reduction="none")
        return entropy.sum((1, 2)) + divergence

    def apply_masks_(self) -> None:
        for linear in self.linears():
            linear.apply_masks_()

    @torch.no_grad()
    def prune_(
        self, rows: Tensor, masks: Sequence[tuple[Tensor, Tensor]], regrow: bool = False
    ) -> None:
        """Give individuals `rows` the new `masks`, one (weight, bias) pair per linear layer,
        and zero what they exclude; record per individual how many nonzero parameters this
        pruning zeroed (`zeroed_at_last_prune`). `regrow`: zero them once but keep the masks
        open, so training can regrow them (the reference's behaviour)."""
        zeroed = torch.zeros(len(rows), device=rows.device)
        for linear, (weight_mask, bias_mask) in zip(self.linears(), masks, strict=True):
            zeroed += ((linear.weight[rows] != 0) & ~weight_mask).flatten(1).sum(1)
            zeroed += ((linear.bias[rows] != 0) & ~bias_mask).sum(1)
            linear.weight[rows] = linear.weight[rows] * weight_mask
            linear.bias[rows] = linear.bias[rows] * bias_mask
            if not regrow:
                linear.weight_mask[rows] = weight_mask
                linear.bias_mask[rows] = bias_mask
        self.zeroed_at_last_prune[rows] = zeroed

    def reset_rows_(self, rows: slice, generator: torch.Generator) -> None:
        """Draw individuals `rows` anew from `generator`, layer by layer, encoder first."""
        for linear in self.linears():
            linear.reset_rows_(rows, generator)

    @torch.no_grad()
    def init_rows_as_alone_(self, seeds: Sequence[int]) -> None:
        """Draw individual t as `reset_parameters` draws a population of one right after
        `torch.manual_seed(seeds[t])` (the same kernel, from a generator of its own): a
        canonical network packed with others starts exactly where it starts alone."""
        for row, seed in enumerate(seeds):
            generator = torch.Generator().manual_seed(seed)
            for linear in self.linears():
                bound = 1.0 / math.sqrt(linear.in_features)
                linear.weight[row].uniform_(-bound, bound, generator=generator)
                linear.bias[row].uniform_(-bound, bound, generator=generator)

    @torch.no_grad()
    def pruned(self, index: Tensor | slice = slice(None)) -> bool:
        """Whether any of individuals `index` has a pruned (masked) entry."""
        return any(
            not bool(mask[index].all())
            for linear in self.linears()
            for mask in (linear.weight_mask, linear.bias_mask)
        )

    def parameters_per_individual(self) -> int:
        return sum(linear.weight[0].numel() + linear.bias[0].numel() for linear in self.linears())

    @torch.no_grad()
    def finite(self) -> Tensor:
        """Per individual, whether every weight and bias is finite: (population,) bool."""
        return torch.stack(
            [
                torch.isfinite(linear.weight).flatten(1).all(1) & torch.isfinite(linear.bias).all(1)
                for linear in self.linears()
            ]
        ).all(0)

    @torch.no_grad()
    def live_parameters(self) -> tuple[Tensor, Tensor]:
        """Per individual, its encoder's and its decoder's nonzero weights and biases."""
        *encoder, decoder = self.parts()
        return tuple(
            sum(
                (linear.weight != 0).flatten(1).sum(1) + (linear.bias != 0).sum(1)
                for mlp in part
                for linear in mlp.linears()
            )
            for part in (encoder, [decoder])
        )

    @torch.no_grad()
    def sparsity(self, rows: Tensor | None = None) -> Tensor:
        """Per individual (of `rows` only, if given), the fraction of weights and biases
        exactly zero: (population,) or (len(rows),)."""
        picked = slice(None) if rows is None else rows
        zeros = sum(
            (linear.weight[picked] == 0).flatten(1).sum(1) + (linear.bias[picked] == 0).sum(1)
            for linear in self.linears()
        )
        return zeros / self.parameters_per_individual()

    def individual(self, index: int) -> Autoencoder:
        """A plain, independent copy of individual `index` (pruned weights included as zeros)."""
        autoencoder = Autoencoder(self.encoder_sizes, self.decoder_sizes, self.variational).to(
            next(self.parameters()).device
        )
        for stacked, linear in zip(self.linears(), autoencoder.linears(), strict=True):
            stacked.copy_into_(index, linear)
        return autoencoder

    def load_individual_(self, index: int, autoencoder: Autoencoder) -> None:
        """Put a plain autoencoder of the same shape back in slot `index`."""
        plain = autoencoder.linears()
        stacked = list(self.linears())
        shapes = [tuple(layer.weight.shape) for layer in plain]
        expected = [(layer.out_features, layer.in_features) for layer in stacked]
        if shapes != expected:
            raise ValueError(
                f"autoencoder layer shapes {shapes} do not match population {expected}"
            )
        for stacked_layer, linear in zip(stacked, plain, strict=True):
            stacked_layer.load_linear_(index, linear)


@torch.no_grad()
def copy_individuals_(
    destination: nn.Module, source: nn.Module, to_index: Tensor, from_index: Tensor
) -> None:
    """destination[to_index] = source[from_index] for every parameter and buffer.

    Both modules must have the same structure and keep the population first in every
    tensor (a `StackedAutoencoder`, a `StackedAdam`): weights, masks and optimiser
    moments of an individual then move together.
    """
    targets = destination.state_dict(keep_vars=True)
    origins = source.state_dict(keep_vars=True)
    if targets.keys() != origins.keys():
        raise ValueError("copy_individuals_ needs two modules of the same structure")
    for name, target in targets.items():
        target.data[to_index] = origins[name].data[from_index]
