"""Running per-unit activation statistics of a stacked population, gathered by forward hooks.

The reference kept every activation of the epoch; here each unit of each
individual keeps a count, a mean and a sum of squared deviations, merged batch by
batch (Chan et al.'s parallel form of Welford's update), so memory does not grow
with the number of batches.
"""

from collections.abc import Callable
from itertools import pairwise

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from lit_evoae.population.stacked import StackedAutoencoder, StackedLinear


class ActivationMoments:
    """Mean and variance of every unit's activation (the output of the activation that follows
    each linear layer), per individual, over the forward passes made in training mode.

    Layers are numbered as `population.linears()` yields them (encoder first). Use
    `attach()` / `detach()` around the passes to record, `reset_(rows)` to start over.
    """

    def __init__(
        self, population: StackedAutoencoder, recorded: Callable[[], Tensor | None] | None = None
    ) -> None:
        """`recorded()`, if given, names the rows to record now (None: all): a pack's
        operator records only the rows of the trials it prunes."""
        self.recorded = recorded
        self.pairs = _linear_activation_pairs(population)
        size = population.population_size
        device = population.encoders[0].weight.device
        widths = [linear.out_features for linear, _ in self.pairs]
        self.count = [torch.zeros(size, device=device) for _ in widths]
        self.mean = [torch.zeros(size, width, device=device) for width in widths]
        self.m2 = [torch.zeros_like(mean) for mean in self.mean]
        self._rows: list[Tensor | None] = [None] * len(self.pairs)
        self._handles: list[RemovableHandle] = []

    def attach(self) -> "ActivationMoments":
        if not self._handles:
            for number, (linear, activation) in enumerate(self.pairs):
                self._handles.append(linear.register_forward_pre_hook(self._remember_rows(number)))
                self._handles.append(activation.register_forward_hook(self._record(number)))
        return self

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _remember_rows(self, number: int):
        def hook(module: nn.Module, args: tuple) -> None:
            self._rows[number] = args[1] if len(args) > 1 else None

        return hook

    def _record(self, number: int):
        def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
            if not module.training:
                return
            rows = self._rows[number]
            wanted = self.recorded() if self.recorded is not None and rows is None else None
            if wanted is None:
                self.update(number, output.detach(), rows)
            elif len(wanted):
                self.update(number, output.detach()[wanted], wanted)

        return hook

    @torch.no_grad()
    def update(self, layer: int, activations: Tensor, rows: Tensor | None = None) -> None:
        """Merge a batch of `activations` (n, batch, units) of individuals `rows` (all if None;
        no repeats) into layer `layer`'s running moments."""
        rows = slice(None) if rows is None else rows
        batch = activations.shape[1]
        batch_mean = activations.mean(1)
        batch_m2 = (activations - batch_mean.unsqueeze(1)).square().sum(1)
        seen = self.count[layer][rows]
        total = seen + batch
        delta = batch_mean - self.mean[layer][rows]
        self.mean[layer][rows] += delta * (batch / total).unsqueeze(1)
        self.m2[layer][rows] += batch_m2 + delta.square() * (seen * batch / total).unsqueeze(1)
        self.count[layer][rows] = total

    def variance(self, layer: int) -> Tensor:
        """Population variance of each unit, (individuals, units); 0 where nothing was seen."""
        return self.m2[layer] / self.count[layer].clamp(min=1).unsqueeze(1)

    def reset_(self, rows: Tensor | slice = slice(None)) -> None:
        for tensor in self.count + self.mean + self.m2:
            tensor[rows] = 0

    def state_dict(self) -> dict[str, list[Tensor]]:
        return {"count": list(self.count), "mean": list(self.mean), "m2": list(self.m2)}

    def load_state_dict(self, state: dict[str, list[Tensor]]) -> None:
        for name in ("count", "mean", "m2"):
            for mine, theirs in zip(getattr(self, name), state[name], strict=True):
                mine.copy_(theirs)


def _linear_activation_pairs(
    population: StackedAutoencoder,
) -> list[tuple[StackedLinear, nn.Module]]:
    pairs = []
    for part in (population.encoders, population.decoders):
        for layer, following in pairwise(part):
            if isinstance(layer, StackedLinear):
                pairs.append((layer, following))
    return pairs


@torch.no_grad()
def layer_activations(
    population: StackedAutoencoder,
    inputs: Tensor,
    rows: Tensor | None = None,
    output_logits: bool = False,
) -> list[Tensor]:
    """Every layer's activations of individuals `rows` on `inputs` (cases, features):
    one (n, cases, units) tensor per linear layer, encoder first. `output_logits`: the
    output layer's values before its activation (the reference scored the logits)."""
    recorded: list[Tensor] = []
    pairs = _linear_activation_pairs(population)
    modules = [activation for _, activation in pairs]
    if output_logits:
        modules[-1] = pairs[-1][0]  # the output layer's linear: its logits
    handles = [
        module.register_forward_hook(lambda module, args, output: recorded.append(output))
        for module in modules
    ]
    try:
        population(inputs, rows)
    finally:
        for handle in handles:
            handle.remove()
    return recorded
