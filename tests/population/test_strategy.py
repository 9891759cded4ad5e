import pytest
import torch

from lit_evoae.errors import ConfigError
from lit_evoae.population.strategy import CoevolutionStrategy


def test_select_returns_neighbourhood_positions_and_their_fitness():
    strategy = CoevolutionStrategy(solution_concept="worst_case", tournament_size=3)
    losses = torch.rand(8, 3, 3)
    winners, fitness = strategy.select(losses, torch.Generator().manual_seed(0))
    assert winners.shape == (8,) and bool(((winners >= 0) & (winners < 3)).all())
    torch.testing.assert_close(fitness, losses.amax(-1)[torch.arange(8), winners])


@pytest.mark.parametrize(("arguments", "named"), [
    ({"solution_concept": "median"}, "solution_concept"),
    ({"cell_evaluation": "lipi"}, "cell_evaluation"),
    ({"update_order": "random"}, "update_order"),
    ({"tournament_size": 0}, "tournament_size"),
    ({"lr_mutation_sigma": -1.0}, "lr_mutation_sigma"),
    ({"lr_bounds": (1.0, 0.1)}, "lr_bounds"),
    ({"lr_bounds": (0.0, 1.0)}, "lr_bounds"),
])
def test_invalid_strategy_arguments_name_the_field(arguments, named):
    with pytest.raises(ConfigError, match=named):
        CoevolutionStrategy(**arguments)
