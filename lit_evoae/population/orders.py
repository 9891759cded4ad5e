"""Update orders: which cells of a generation select, train and replace together.

A generation walks the groups an order gives, one after another; each group selects
from the centers as they stand (earlier groups have already replaced theirs), trains
over one pass of the data, and replaces. The orders differ only in the groups.
Chosen in a config by class_path (`strategy.update_order`); the paper's names
`synchronous` and `sequential` are accepted as aliases.
"""

from abc import ABC, abstractmethod
from typing import Literal

import torch
from torch import Tensor

from lit_evoae.population.packing import Pack


class UpdateOrder(ABC):
    """Base: `groups` of a pack's cells, in the order they train."""

    #: Whether the cells of one group can be split over DDP ranks.
    splits_over_ranks: bool = True

    @abstractmethod
    def groups(self, pack: Pack) -> list[Tensor]:
        """The generation's groups of cells; draws from the pack's generators."""

    @abstractmethod
    def group_size(self, pack: Pack) -> int:
        """Cells of the largest group: how many pairs train at once."""


class Synchronous(UpdateOrder):
    """Every cell in one group: all select from the previous generation's centers and train
    at once, as one batched program over one pass of the data."""

    def groups(self, pack: Pack) -> list[Tensor]:
        return [torch.arange(pack.size)]

    def group_size(self, pack: Pack) -> int:
        return pack.size


class Sequential(UpdateOrder):
    """One cell of each trial per group, in a shuffled order drawn per trial: a cell selects
    from the centers its predecessors already replaced this generation (the reference
    implementation's order). Each group makes its own pass over the data, so a generation
    makes as many passes as a trial has cells; the trials' current cells train together."""

    splits_over_ranks = False

    def groups(self, pack: Pack) -> list[Tensor]:
        visits = torch.stack([torch.randperm(pack.cells, generator=g) for g in pack.generators])
        offsets = torch.arange(len(pack)).unsqueeze(1) * pack.cells
        return list((visits + offsets).T)  # group k: the k-th visited cell of every trial

    def group_size(self, pack: Pack) -> int:
        return len(pack)


#: The paper's names for the orders, kept so that configs written with them still parse.
ALIASES: dict[str, type[UpdateOrder]] = {"synchronous": Synchronous, "sequential": Sequential}
UpdateOrderAlias = Literal[tuple(ALIASES)]  # type: ignore[valid-type]
