"""An individual's encoder and decoder halves, moved apart.

All-vs-all trains encoder i with decoder j in one trainee slot, then returns each half to
its own cell. A half is every tensor of its side: weights, masks and, in the optimiser,
both Adam moments; the step counts and the pruning record go with both halves.
"""

import torch
from torch import Tensor, nn

from lit_evoae.population.optim import StackedAdam
from lit_evoae.population.stacked import StackedAutoencoder


def decoder_names(module: nn.Module, population: StackedAutoencoder) -> set[str]:
    """State-dict names of `module` (`population` itself or its StackedAdam) on the
    decoder's side."""
    if isinstance(module, StackedAdam):  # moments numbered as the parameters: encoder first
        encoder_tensors = 2 * sum(1 for part in population.parts()[:-1] for _ in part.linears())
        return {
            name
            for name in module.state_dict()
            if name.startswith("exp_avg") and int(name.rsplit("_", 1)[1]) >= encoder_tensors
        }
    return {name for name in module.state_dict() if name.startswith("decoders.")}


@torch.no_grad()
def copy_half_(
    destination: nn.Module,
    source: nn.Module,
    to_index: Tensor,
    from_index: Tensor,
    population: StackedAutoencoder,
    half: str,
) -> None:
    """destination[to_index] = source[from_index] for the tensors of `half` ("encoder" or
    "decoder"); both modules are populations of `population`'s kind, or their Adams."""
    targets = destination.state_dict(keep_vars=True)
    origins = source.state_dict(keep_vars=True)
    decoder = decoder_names(destination, population)
    shared = {"steps", "zeroed_at_last_prune"}
    for name, target in targets.items():
        if name in shared or (name in decoder) == (half == "decoder"):
            target.data[to_index] = origins[name].data[from_index]
