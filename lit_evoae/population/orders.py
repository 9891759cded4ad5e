"""Update orders: which cells of a generation select, train and replace together.

A generation walks the groups an order gives, one after another; each group selects
from the centers as they stand (earlier groups have already replaced theirs), trains
over one pass of the data, and replaces. The orders differ only in the groups.
"""

from collections.abc import Sequence

import torch
from torch import Tensor


class Synchronous:
    """Every cell in one group: all select from the previous generation's centers and train
    at once, as one batched program over one pass of the data."""

    name = "synchronous"

    def groups(self, cells_per_trial: int, generators: Sequence[torch.Generator]) -> list[Tensor]:
        return [torch.arange(cells_per_trial * len(generators))]


class Sequential:
    """One cell of each trial per group, in a shuffled order drawn per trial: a cell selects
    from the centers its predecessors already replaced this generation (the reference
    implementation's order). Each group makes its own pass over the data, so a generation
    makes as many passes as a trial has cells; the trials' current cells train together."""

    name = "sequential"

    def groups(self, cells_per_trial: int, generators: Sequence[torch.Generator]) -> list[Tensor]:
        visits = torch.stack([torch.randperm(cells_per_trial, generator=g) for g in generators])
        offsets = torch.arange(len(generators)).unsqueeze(1) * cells_per_trial
        return list((visits + offsets).T)  # group k: the k-th visited cell of every trial


UPDATE_ORDERS = {order.name: order for order in (Synchronous(), Sequential())}
