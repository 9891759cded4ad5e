"""How a population's pruning covers the weights: the paper's explanation made measurable.

The paper explains why random pruning wins in a coevolving population by "expanding the
total pruning dimensionality": many individuals pruning at random cover the weights more
evenly than one does. Three measures over a window of the last W generations (the
current one included), per trial, over weight positions (biases are left out):

- coverage: the fraction of positions that at least one prune event closed;
- uniformity: the entropy of the per-position prune counts, normalised by log(P) for P
  positions: 1 when every position was pruned equally often, 0 when one position takes
  every event; undefined (NaN) with no event in the window;
- mask diversity: the mean pairwise Jaccard distance 1 - |A & B| / |A | B| between the
  cells' pruned sets, a cell's set being the positions pruned at that cell within the
  window: 0 for identical sets, 1 for disjoint ones. Pairs whose union is empty are left
  out; NaN with fewer than two cells (one network) or no pair left. A cell's window, not
  its current mask, because the paper's pruned weights regrow (`regrow: true`) and
  selection moves networks between cells.

A prune event closes a position when the pruning's mask excludes it and the individual's
mask did not (every excluded position, under regrow, where masks stay open).
"""

import math

import torch
from torch import Tensor


def coverage(counts: Tensor) -> Tensor:
    """Prune counts (..., positions) -> the fraction of positions pruned at least once."""
    return (counts > 0).float().mean(-1)


def uniformity(counts: Tensor) -> Tensor:
    """Prune counts (..., positions) -> the normalised entropy of their distribution."""
    counts = counts.double()
    total = counts.sum(-1, keepdim=True)
    shares = counts / total
    entropy = -torch.where(shares > 0, shares * shares.log(), torch.zeros_like(shares)).sum(-1)
    return (entropy / math.log(counts.shape[-1])).float().where(total[..., 0] > 0, math.nan)


def mask_diversity(pruned: Tensor) -> Tensor:
    """Pruned sets (..., cells, positions) bool -> the mean pairwise Jaccard distance
    between the cells' sets."""
    cells = pruned.shape[-2]
    if cells < 2:
        return torch.full(pruned.shape[:-2], math.nan)
    sets = pruned.float()
    both = sets @ sets.transpose(-1, -2)  # |A & B|
    sizes = sets.sum(-1)
    either = sizes.unsqueeze(-1) + sizes.unsqueeze(-2) - both  # |A | B|
    pairs = torch.triu(torch.ones(cells, cells, dtype=torch.bool), diagonal=1)
    counted = pairs & (either > 0)
    distance = torch.where(counted, 1 - both / either.clamp(min=1), torch.zeros_like(both))
    number = counted.sum((-1, -2))
    return (distance.sum((-1, -2)) / number.clamp(min=1)).where(number > 0, math.nan)
