"""Pure selection decisions: solution concepts and tournaments, on loss tables."""

from typing import Literal

import torch
from torch import Tensor

SolutionConcept = Literal["best_case", "worst_case", "mean"]


def encoder_fitness(losses: Tensor, concept: SolutionConcept) -> Tensor:
    """Reduce each encoder's row of a pairing-loss table (..., encoders, decoders) to one loss.

    best_case: the loss with its best partner decoder (min); worst_case: with its worst (max);
    mean: the average over partners. Lower is fitter.
    """
    if concept == "best_case":
        return losses.amin(-1)
    if concept == "worst_case":
        return losses.amax(-1)
    if concept == "mean":
        return losses.mean(-1)
    raise ValueError(f"solution concept {concept!r} is not one of best_case, worst_case, mean")


def tournament(fitness: Tensor, size: int, generator: torch.Generator) -> Tensor:
    """For each row of `fitness` (cells, k), draw `size` entrants uniformly with replacement
    and return the position of the fittest (lowest) entrant, shape (cells,)."""
    cells, k = fitness.shape
    entrants = torch.randint(k, (cells, size), generator=generator, device=generator.device)
    entrants = entrants.to(fitness.device)
    winner = fitness.gather(1, entrants).argmin(1, keepdim=True)
    return entrants.gather(1, winner).squeeze(1)
