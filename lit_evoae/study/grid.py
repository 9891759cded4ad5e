"""The operator x schedule grid of a study group, from what its runs recorded pruning with.

Each run's result holds its operator and schedule, read from the classes its pruning
configures (study.fragments). These pure helpers lay a group's variants out on that grid,
find its Pareto front of quality against capacity, and the best combination with those
not significantly worse than it (the paper's third claim).
"""

from dataclasses import dataclass
from statistics import median

import numpy as np

from lit_evoae.study.fragments import NO_PRUNING, UNKNOWN

#: The paper's operators and schedules, in its order; others found in a study go after.
OPERATORS = ("random", "variance", "conjunctive", "magnitude")
SCHEDULES = ("fixed", "increase", "decrease", "population", "exponential", "final_n")

Cell = tuple[str, str]  # (operator, schedule)


def cells(variants: dict[str, list[dict]]) -> dict[str, Cell]:
    """Each variant's (operator, schedule), as its first run recorded them."""
    return {
        name: (runs[0].get("operator", UNKNOWN), runs[0].get("schedule", UNKNOWN))
        for name, runs in variants.items()
    }


def on_grid(cell: Cell) -> bool:
    """Whether a variant has a place on the grid: an operator and schedule both known."""
    return cell[0] not in (NO_PRUNING, UNKNOWN) and cell[1] != UNKNOWN


def grid_axes(found: list[Cell]) -> tuple[list[str], list[str]]:
    """The operators and schedules of the cells on the grid, known ones first in the paper's
    order."""
    pairs = [cell for cell in found if on_grid(cell)]
    return _ordered({o for o, _ in pairs}, OPERATORS), _ordered({s for _, s in pairs}, SCHEDULES)


def variant_at(found: dict[str, Cell], cell: Cell) -> str | None:
    """The variant at `cell` (the first by name if several are)."""
    return next((name for name in sorted(found) if found[name] == cell), None)


def _ordered(found: set[str], known: tuple[str, ...]) -> list[str]:
    return [name for name in known if name in found] + sorted(found - set(known))


@dataclass(frozen=True)
class Summary:
    """One variant's median and quartiles of a metric."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> "Summary":
        low, high = np.percentile(values, [25, 75])
        return cls(median(values), float(low), float(high), len(values))


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """The variants no other variant dominates, lower being better on both coordinates
    (e.g. (training L1, capacity)); sorted by the first coordinate."""
    front = [
        name
        for name, (x, y) in points.items()
        if not any(
            (ox <= x and oy <= y) and (ox < x or oy < y)
            for other, (ox, oy) in points.items()
            if other != name
        )
    ]
    return sorted(front, key=lambda name: points[name])


def best_and_ties(values: dict[str, list[float]], compare, holm, alpha: float) -> dict:
    """The variant of lowest median, and every variant not significantly different from it
    (two-sided Mann-Whitney against the best, Holm-corrected over those tests): the set from
    which data of this size cannot single out one best combination. `effect`: each tested
    variant's effect size against the best, as `compare` gives it."""
    best = min(values, key=lambda name: median(values[name]))
    others = [name for name in sorted(values) if name != best]
    tested = [name for name in others if len(values[name]) + len(values[best]) >= 3]
    outcomes = [compare(values[name], values[best]) for name in tested]
    adjusted = holm([p for p, _ in outcomes])
    p_values = dict(zip(tested, adjusted, strict=True))
    ties = [name for name in others if p_values.get(name, 1.0) >= alpha]
    effects = {name: effect for name, (_, effect) in zip(tested, outcomes, strict=True)}
    return {"best": best, "ties": ties, "p_holm": p_values, "effect": effects}
