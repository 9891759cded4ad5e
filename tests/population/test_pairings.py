import pytest
import torch

from lit_evoae.nets import layer_sizes
from lit_evoae.population.pairings import Pairings
from lit_evoae.population.stacked import StackedAutoencoder
from lit_evoae.population.topology import Ring, Torus


@pytest.mark.parametrize(
    "topology",
    [
        Ring(size=6, radius=1),
        Ring(size=7, radius=2),
        Torus(rows=3, columns=4, neighbourhood="von_neumann"),
    ],
    ids=["ring-r1", "ring-r2", "torus-vn"],
)
def test_pairing_losses_equal_each_pair_run_by_hand(topology):
    torch.manual_seed(0)
    population = StackedAutoencoder(topology.size, *layer_sizes(12, [5], 3))
    inputs = torch.rand(4, 12)
    table = Pairings(topology.neighbourhoods()).losses(population, inputs)
    neighbourhoods = topology.neighbourhoods()
    k = neighbourhoods.shape[1]
    assert table.shape == (topology.size, k, k)
    plain = [population.individual(i) for i in range(topology.size)]
    for cell in range(topology.size):
        for a, encoder in enumerate(neighbourhoods[cell].tolist()):
            for b, decoder in enumerate(neighbourhoods[cell].tolist()):
                expected = plain[decoder].decoder(plain[encoder].encoder(inputs)) - inputs
                torch.testing.assert_close(table[cell, a, b], expected.abs().mean())
