import pytest
import torch

from lit_evoae.errors import ConfigError
from lit_evoae.nets import layer_sizes
from lit_evoae.population.stacked import StackedAutoencoder
from lit_evoae.population.strategy import CoevolutionStrategy, PairingPlan
from lit_evoae.population.topology import Ring, Torus


@pytest.mark.parametrize("topology", [Ring(size=6, radius=1), Ring(size=7, radius=2),
                                      Torus(rows=3, columns=4, neighbourhood="von_neumann")],
                         ids=["ring-r1", "ring-r2", "torus-vn"])
def test_pairing_losses_equal_each_pair_run_by_hand(topology):
    torch.manual_seed(0)
    population = StackedAutoencoder(topology.size, *layer_sizes(12, [5], 3))
    inputs = torch.rand(4, 12)
    plan = PairingPlan(topology.neighbourhoods())
    table = plan.losses(population, inputs)
    neighbourhoods = topology.neighbourhoods()
    k = neighbourhoods.shape[1]
    assert table.shape == (topology.size, k, k)
    plain = [population.individual(i) for i in range(topology.size)]
    for cell in range(topology.size):
        for a, encoder in enumerate(neighbourhoods[cell].tolist()):
            for b, decoder in enumerate(neighbourhoods[cell].tolist()):
                expected = (plain[decoder].decoder(plain[encoder].encoder(inputs)) - inputs)
                torch.testing.assert_close(table[cell, a, b], expected.abs().mean())


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
