import pytest
import torch

from lit_evoae.errors import ConfigError
from lit_evoae.population.cell_evaluation import Cooperative, Paired
from lit_evoae.population.orders import Sequential, Synchronous
from lit_evoae.population.strategy import CoevolutionStrategy


def test_select_returns_neighbourhood_positions_and_their_fitness():
    strategy = CoevolutionStrategy(solution_concept="worst_case", tournament_size=3)
    losses = torch.rand(8, 3, 3)
    winners, fitness = strategy.select(losses, torch.Generator().manual_seed(0))
    assert winners.shape == (8,) and bool(((winners >= 0) & (winners < 3)).all())
    torch.testing.assert_close(fitness, losses.amax(-1)[torch.arange(8), winners])


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"solution_concept": "median"}, "solution_concept"),
        ({"cell_evaluation": "lipi"}, "cell_evaluation"),
        ({"update_order": "random"}, "update_order"),
        ({"tournament_size": 0}, "tournament_size"),
        ({"lr_mutation_sigma": -1.0}, "lr_mutation_sigma"),
        ({"lr_bounds": (1.0, 0.1)}, "lr_bounds"),
        ({"lr_bounds": (0.0, 1.0)}, "lr_bounds"),
    ],
)
def test_invalid_strategy_arguments_name_the_field(arguments, named):
    with pytest.raises(ConfigError, match=named):
        CoevolutionStrategy(**arguments)


@pytest.mark.parametrize(
    ("arguments", "order", "evaluation"),
    [
        ({}, Synchronous, Paired),
        ({"update_order": "sequential", "cell_evaluation": "epoch_node"}, Sequential, Cooperative),
        ({"update_order": "synchronous", "cell_evaluation": "lipi_simple"}, Synchronous, Paired),
        ({"update_order": Sequential(), "cell_evaluation": Cooperative()}, Sequential, Cooperative),
        (
            {"update_order": {"class_path": "lit_evoae.population.orders.Sequential"}},
            Sequential,
            Paired,
        ),
    ],
)
def test_the_papers_names_and_class_paths_give_the_same_objects(arguments, order, evaluation):
    strategy = CoevolutionStrategy(**arguments)
    assert type(strategy.update_order) is order
    assert type(strategy.cell_evaluation) is evaluation


def test_an_unknown_name_lists_the_aliases_and_the_classes():
    with pytest.raises(
        ConfigError,
        match=r"synchronous, sequential or a class \(Synchronous, "
        r"Sequential\)",
    ):
        CoevolutionStrategy(update_order="random")
