"""The coevolution strategy: how cells select, train and mutate, and in which order.

A plain object the coevolution system calls; swap it (or subclass it) from the
config under `model.init_args.strategy`. Its behaviours are objects too: the update
order (`population/orders.py`) and the cell evaluation (`population/cell_evaluation.py`).
"""

from typing import Any

import torch
from torch import Tensor

from lit_evoae.arguments import (
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    check,
    check_choice,
    check_each,
)
from lit_evoae.components import build
from lit_evoae.errors import ConfigError
from lit_evoae.population.cell_evaluation import ALIASES as CELL_EVALUATIONS
from lit_evoae.population.cell_evaluation import AllVsAll, CellEvaluation, CellEvaluationAlias
from lit_evoae.population.mutation import mutate_learning_rates
from lit_evoae.population.orders import ALIASES as UPDATE_ORDERS
from lit_evoae.population.orders import UpdateOrder, UpdateOrderAlias
from lit_evoae.population.selection import SolutionConcept, encoder_fitness, tournament


class CoevolutionStrategy:
    """Lipizzaner-style coevolution of encoders and decoders on a spatial grid.

    Args:
        solution_concept: how an encoder's losses against its neighbourhood's decoders
            become one fitness: best_case (min), worst_case (max) or mean.
        tournament_size: entrants per tournament (drawn with replacement).
        lr_mutation_sigma: standard deviation of the Gaussian step of each cell's learning rate.
        lr_bounds: the learning rate is clamped to [low, high] after each step.
        cell_evaluation: Paired trains the selected pair together (the paper's, alias
            lipi_simple); PruneThenEvaluate is Paired scoring the pair after pruning (alias
            lipi_simple_pte); Cooperative trains the selected encoder against a random
            neighbour decoder and the selected decoder against a random neighbour encoder,
            batch by batch (alias epoch_node); AllVsAll trains every encoder with every
            decoder, without selection (alias all_vs_all).
        update_order: Synchronous cells all read the previous generation's centers and train
            at once (alias synchronous); Sequential cells go one at a time in a shuffled
            order, each seeing the centers its predecessors already replaced (the reference
            implementation's, alias sequential). Under AllVsAll: rounds of disjoint pairs
            at once, or one pair at a time.
    """

    def __init__(
        self,
        solution_concept: SolutionConcept = "best_case",
        tournament_size: PositiveInt = 2,
        lr_mutation_sigma: NonNegativeFloat = 1e-5,
        lr_bounds: tuple[PositiveFloat, PositiveFloat] = (1e-9, 10.0),
        cell_evaluation: CellEvaluation | CellEvaluationAlias = "lipi_simple",
        update_order: UpdateOrder | UpdateOrderAlias = "synchronous",
    ) -> None:
        self.solution_concept = check_choice(
            "strategy.solution_concept", solution_concept, SolutionConcept
        )
        self.tournament_size = check("strategy.tournament_size", tournament_size, PositiveInt)
        self.lr_mutation_sigma = check(
            "strategy.lr_mutation_sigma", lr_mutation_sigma, NonNegativeFloat
        )
        low, high = check_each("strategy.lr_bounds", lr_bounds, PositiveFloat)
        if low > high:
            raise ConfigError(f"strategy.lr_bounds={list(lr_bounds)} is invalid: low exceeds high")
        self.lr_bounds = (low, high)
        self.cell_evaluation = _component(
            "strategy.cell_evaluation", cell_evaluation, CellEvaluation, CELL_EVALUATIONS
        )
        self.update_order = _component(
            "strategy.update_order", update_order, UpdateOrder, UPDATE_ORDERS
        )

    @property
    def all_vs_all(self) -> bool:
        return isinstance(self.cell_evaluation, AllVsAll)

    def unsplittable(self) -> str | None:
        """Why training cannot be split over DDP ranks, with what can (None: it can)."""
        if self.all_vs_all:
            return (
                "strategy.cell_evaluation=AllVsAll pairs every cell's encoder with every "
                "cell's decoder round after round; use Paired or Cooperative"
            )
        if not self.update_order.splits_over_ranks:
            return (
                f"strategy.update_order={type(self.update_order).__name__} trains cells one "
                "group after another; use Synchronous"
            )
        return None

    def select(self, pairing_losses: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Tournament over each neighbourhood: (winning positions (cells,), their fitness)."""
        fitness = encoder_fitness(pairing_losses, self.solution_concept)
        winners = tournament(fitness, self.tournament_size, generator)
        return winners, fitness.gather(1, winners.unsqueeze(1)).squeeze(1)

    def mutate(self, learning_rates: Tensor, generator: torch.Generator) -> Tensor:
        return mutate_learning_rates(
            learning_rates, self.lr_mutation_sigma, self.lr_bounds, generator
        )


def _component(name: str, value: Any, base: type, aliases: dict[str, type]) -> Any:
    """An instance of `base` from an instance, a class_path dict (a checkpoint's) or one of
    the paper's names in `aliases`."""
    if isinstance(value, str):
        if value not in aliases:
            classes = ", ".join(cls.__name__ for cls in base.__subclasses__())
            raise ConfigError(
                f"{name}={value!r} is invalid: choose one of "
                f"{', '.join(aliases)} or a class ({classes})"
            )
        return aliases[value]()
    return build(value, base)
