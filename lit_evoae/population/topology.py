"""Spatial topologies: which cells a cell draws its encoders and decoders from.

A topology is a fixed table: row c lists cell c's neighbourhood, c itself first.
Classes are interchangeable in the config (`model.init_args.topology.class_path`).
"""

from abc import ABC, abstractmethod
from typing import Literal

import torch
from torch import Tensor

from lit_evoae.arguments import NonNegativeInt, PositiveInt, check, check_each
from lit_evoae.components import build
from lit_evoae.errors import ConfigError


class Topology(ABC):
    """Base: `size` cells and a (size, neighbourhood_size) table of cell indices."""

    size: int
    #: Independent trials in the population (see `Trials`): consecutive equal blocks of cells.
    trials: int = 1

    @abstractmethod
    def neighbourhoods(self) -> Tensor:
        """Long tensor (size, k): row c is cell c's neighbourhood, c first, no repeats."""

    def neighbourhood_size(self) -> int:
        """Cells in one neighbourhood, the cell itself included."""
        return self.neighbourhoods().shape[1]


class Ring(Topology):
    """Cells on a ring; a cell sees the `radius` cells on either side (the paper's, radius 1)."""

    def __init__(self, size: PositiveInt = 10, radius: PositiveInt = 1) -> None:
        self.size = check("topology.size", size, PositiveInt)
        self.radius = check("topology.radius", radius, PositiveInt)
        if 2 * self.radius + 1 > self.size:
            raise ConfigError(
                f"topology: a ring of size {self.size} cannot hold a neighbourhood of radius "
                f"{self.radius} ({2 * self.radius + 1} cells); use size >= {2 * self.radius + 1} "
                f"or radius <= {(self.size - 1) // 2}"
            )

    def neighbourhoods(self) -> Tensor:
        offsets = [0]
        for step in range(1, self.radius + 1):
            offsets += [-step, step]
        cells = torch.arange(self.size).unsqueeze(1)
        return (cells + torch.tensor(offsets)) % self.size


class Torus(Topology):
    """A rows x columns grid that wraps around (Lipizzaner's).

    `von_neumann` sees the 4 orthogonal neighbours (5 cells), `moore` all 8 (9 cells).
    """

    def __init__(
        self,
        rows: PositiveInt = 3,
        columns: PositiveInt = 3,
        neighbourhood: Literal["von_neumann", "moore"] = "moore",
    ) -> None:
        self.rows = check("topology.rows", rows, PositiveInt)
        self.columns = check("topology.columns", columns, PositiveInt)
        if neighbourhood not in ("von_neumann", "moore"):
            raise ConfigError(
                f"topology.neighbourhood={neighbourhood!r} is invalid: use 'von_neumann' or 'moore'"
            )
        self.neighbourhood = neighbourhood
        if min(self.rows, self.columns) < 3:
            raise ConfigError(
                f"topology: a {self.rows}x{self.columns} torus is too small for a "
                f"{neighbourhood} neighbourhood (cells would repeat); use rows and columns >= 3"
            )
        self.size = self.rows * self.columns

    def neighbourhoods(self) -> Tensor:
        offsets = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)]
        if self.neighbourhood == "moore":
            offsets += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
        row = torch.arange(self.size) // self.columns
        column = torch.arange(self.size) % self.columns
        shifts = torch.tensor(offsets)
        rows = (row.unsqueeze(1) + shifts[:, 0]) % self.rows
        columns = (column.unsqueeze(1) + shifts[:, 1]) % self.columns
        return rows * self.columns + columns


class Trials(Topology):
    """`trials` independent copies of `topology` in one population, trained as one batched
    program: trial t owns cells t*n .. t*n+n-1 and its neighbourhoods never leave them, so
    the trials never mix. This keeps a wide device busy with many trials of one variant.
    """

    def __init__(self, topology: Topology | None = None, trials: PositiveInt = 4) -> None:
        self.topology = build(topology, Topology) if topology is not None else Ring()
        self.trials = check("topology.trials", trials, PositiveInt)
        self.size = self.topology.size * self.trials

    def neighbourhood_size(self) -> int:
        return self.topology.neighbourhood_size()

    def neighbourhoods(self) -> Tensor:
        one = self.topology.neighbourhoods()
        return torch.cat([one + trial * self.topology.size for trial in range(self.trials)])


def trial_seeds(seeds: list[int] | None, trials: int) -> list[int]:
    """One seed per trial: `seeds` checked, or the run's seed (seed_everything) plus t."""
    if seeds is None:
        return [(torch.initial_seed() + trial) % 2**63 for trial in range(trials)]
    seeds = list(check_each("seeds", seeds, NonNegativeInt))
    if len(seeds) != trials:
        raise ConfigError(
            f"seeds has {len(seeds)} entries but the topology holds {trials} "
            "trial(s): give one seed per trial, or null"
        )
    return seeds
