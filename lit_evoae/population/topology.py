"""Spatial topologies: which cells a cell draws its encoders and decoders from.

A topology is a fixed table: row c lists cell c's neighbourhood, c itself first.
Classes are interchangeable in the config (`model.init_args.topology.class_path`).
"""

from abc import ABC, abstractmethod
from typing import Literal

import torch
from torch import Tensor

from lit_evoae.arguments import PositiveInt, check
from lit_evoae.errors import ConfigError


class Topology(ABC):
    """Base: `size` cells and a (size, neighbourhood_size) table of cell indices."""

    size: int

    @abstractmethod
    def neighbourhoods(self) -> Tensor:
        """Long tensor (size, k): row c is cell c's neighbourhood, c first (no repeats but
        in a wrapped `Ring`)."""

    def neighbourhood_size(self) -> int:
        """Cells in one neighbourhood, the cell itself included."""
        return self.neighbourhoods().shape[1]


class Ring(Topology):
    """Cells on a ring; a cell sees the `radius` cells on either side (the paper's, radius 1).

    `wrap`: a ring smaller than a neighbourhood wraps its indices around, as the reference's
    `get_neighbors` does, so a cell may appear more than once: a ring of 1 sees [itself,
    itself, itself], a ring of 2 [itself, the other, the other] (its population-size study).
    """

    def __init__(self, size: PositiveInt = 10, radius: PositiveInt = 1, wrap: bool = False) -> None:
        self.size = check("topology.size", size, PositiveInt)
        self.radius = check("topology.radius", radius, PositiveInt)
        self.wrap = bool(wrap)
        if 2 * self.radius + 1 > self.size and not self.wrap:
            raise ConfigError(
                f"topology: a ring of size {self.size} cannot hold a neighbourhood of radius "
                f"{self.radius} ({2 * self.radius + 1} cells); use size >= {2 * self.radius + 1} "
                f"or radius <= {(self.size - 1) // 2}, or wrap: true to repeat cells as the "
                "reference does"
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
