"""A coevolving population sharded over DDP ranks: contiguous blocks of cells, one per rank.

Every rank holds the whole population and makes the same selection draws for every cell,
so selection at a block's edge sees the neighbour rank's current centers. Each rank trains
and prunes only the cells of its block; after replacement the blocks are exchanged with
`all_gather`, so every rank holds the whole population again. On one process every
method here is the identity.
"""

import contextlib
import inspect
from typing import TYPE_CHECKING

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from lit_evoae import compat
from lit_evoae.errors import ConfigError

if TYPE_CHECKING:
    from lit_evoae.population.strategy import CoevolutionStrategy


def check_split(world: int, size: int, strategy: "CoevolutionStrategy | None") -> None:
    """A ConfigError when `size` cells cannot be split over `world` processes (training
    with `strategy`; None: only scoring). The CLI asks before any rank starts, so the
    refusal is one line, once; each rank asks again as it sets up."""
    if world == 1:
        return
    reason = strategy.unsplittable() if strategy is not None else None
    if reason is not None:
        raise ConfigError(f"{reason} with DDP: it cannot be split over {world} processes")
    if size % world:
        raise ConfigError(
            f"{size} cells cannot be split evenly over {world} processes; "
            "use a number of devices x nodes that divides the topology's size"
        )


class Sharding:
    """Rank `rank` of `world` owns cells `block` of a population of `size`."""

    def __init__(self, size: int, world: int = 1, rank: int = 0) -> None:
        self.world = world
        width = size // world
        self.block = slice(rank * width, (rank + 1) * width)

    @classmethod
    def prepare(cls, trainer: pl.Trainer, size: int, strategy) -> "Sharding":
        """Check that the population can be split over the trainer's ranks (for training
        with `strategy`; None: only scoring it), and set DDP up for ranks that train different
        networks."""
        world = trainer.world_size
        if world == 1:
            return cls(size)
        check_split(world, size, strategy)
        compat.keep_whole_training_set_per_rank(trainer)
        # Masks and Adam moments differ between ranks until shared: DDP must not broadcast them.
        options = compat.ddp_options(trainer.strategy)
        if options is not None:
            parameters = inspect.signature(torch.nn.parallel.DistributedDataParallel).parameters
            sync = "forward_sync_buffers"
            options[sync if sync in parameters else "broadcast_buffers"] = False
        return cls(size, world, trainer.global_rank)

    def own(self, cells: Tensor) -> Tensor:
        """The cells of `cells` that this rank trains, in their order."""
        if self.world == 1:
            return cells
        return cells[(cells >= self.block.start) & (cells < self.block.stop)]

    @staticmethod
    def no_gradient_sync(trainer: pl.Trainer | None):
        """Ranks train disjoint cells: DDP must not average their gradients."""
        wrapper = trainer.model if trainer is not None else None
        return wrapper.no_sync() if hasattr(wrapper, "no_sync") else contextlib.nullcontext()

    @torch.no_grad()
    def share_(self, trainer: pl.Trainer | None, *modules: nn.Module) -> None:
        """Give every rank every other rank's block of each tensor of `modules` (stacked:
        population first), through `trainer`'s strategy."""
        if self.world == 1:
            return
        for module in modules:
            for tensor in module.state_dict(keep_vars=True).values():
                part = tensor.data[self.block]
                wire = part.to(torch.uint8) if part.dtype == torch.bool else part
                gathered = trainer.strategy.all_gather(wire.contiguous())
                tensor.data.copy_(gathered.reshape(-1, *part.shape[1:]).to(part.dtype))
