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
        self.population = population
        self.pairs = _linear_activation_pairs(population)
        size = population.population_size
        device = population.encoders[0].weight.device
        widths = [linear.out_features for linear, _ in self.pairs]
        self.count = [torch.zeros(size, device=device) for _ in widths]
        self.mean = [torch.zeros(size, width, device=device) for width in widths]
        self.m2 = [torch.zeros_like(mean) for mean in self.mean]
        self._rows: list[Tensor | None] = [None] * len(self.pairs)
        self._handles: list[RemovableHandle] = []
        self._recorders: list[Callable[[], Tensor | None] | None] = [recorded]
        self._union: tuple[list, Tensor] | None = None  # the last rows joined, and the join

    @classmethod
    def shared(
        cls, pack, population: StackedAutoencoder, recorded: Callable[[], Tensor | None]
    ) -> "ActivationMoments":
        """The moments of `population` that every operator of `pack` recording it shares,
        attached; the pack keeps them.

        In a pack each variant's operator records its own trials' rows. Sharing one set of
        hooks means one update per layer and pass, over the union of their rows, where each
        operator would make its own (8-18% faster packs, issue 33): the same arithmetic per
        row, so each row's moments are what its operator alone would gather. Rows of
        different operators never overlap (a trial has one variant); each reads and resets
        only its own."""
        moments = pack.moments
        if moments is None or moments.population is not population or not moments._handles:
            moments = pack.moments = cls(population, recorded)
        else:
            moments._recorders.append(recorded)
            moments._union = None
        return moments.attach()

    def attach(self) -> "ActivationMoments":
        if not self._handles:
            for number, (linear, activation) in enumerate(self.pairs):
                self._handles.append(linear.register_forward_pre_hook(self._remember_rows(number)))
                self._handles.append(activation.register_forward_hook(self._record(number)))
        return self

    def detach(self) -> None:
        """Stop recording (for every operator sharing these moments: each detaches at the
        end of fit, when none records any more)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _remember_rows(self, number: int):
        def hook(module: nn.Module, args: tuple) -> None:
            self._rows[number] = args[1] if len(args) > 1 else None

        return hook

    def _wanted(self) -> Tensor | None:
        """The rows to record in a pass over the whole population: None for all."""
        parts = [None if recorded is None else recorded() for recorded in self._recorders]
        if any(part is None for part in parts):
            return None
        if len(parts) == 1:
            return parts[0]
        last = self._union  # each operator keeps its rows for a group: join them once
        if last is None or any(a is not b for a, b in zip(last[0], parts, strict=True)):
            self._union = last = (parts, torch.cat(parts))
        return last[1]

    def _record(self, number: int):
        def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
            if not module.training:
                return
            rows = self._rows[number]
            wanted = self._wanted() if rows is None else None
            if wanted is None:
                self.update(number, output.detach(), rows)
            elif len(wanted):
                self.update(number, output.detach().index_select(0, wanted), wanted)

        return hook

    @torch.no_grad()
    def update(self, layer: int, activations: Tensor, rows: Tensor | None = None) -> None:
        """Merge a batch of `activations` (n, batch, units) of individuals `rows` (all if None;
        no repeats) into layer `layer`'s running moments."""
        batch = activations.shape[1]
        batch_mean = activations.mean(1)
        batch_m2 = (activations - batch_mean.unsqueeze(1)).square().sum(1)
        stored = (self.count[layer], self.mean[layer], self.m2[layer])
        # A pack's rows are gathered once and written back once: index_select and
        # index_copy_ dispatch faster than advanced indexing, with the same arithmetic.
        seen, mean, m2 = stored if rows is None else (t.index_select(0, rows) for t in stored)
        total = seen + batch
        delta = batch_mean - mean
        mean += delta * (batch / total).unsqueeze(1)
        m2 += batch_m2 + delta.square() * (seen * batch / total).unsqueeze(1)
        seen.copy_(total)
        if rows is not None:
            for whole, part in zip(stored, (seen, mean, m2), strict=True):
                whole.index_copy_(0, rows, part)

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
    for part in population.parts():
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
