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


def test_a_variational_pairings_loss_is_its_training_loss_on_its_own_sampled_code():
    """Selection by loss (the reference's tournament): binary cross-entropy summed over the
    batch plus the encoder's KL divergence, each pairing on a code sampled with its noise."""
    torch.manual_seed(0)
    topology = Ring(size=5, radius=1)
    population = StackedAutoencoder(5, *layer_sizes(12, [5], 3), variational=True)
    inputs = torch.rand(5, 4, 12)  # cell c's own batch in row c
    pairings = Pairings(topology.neighbourhoods())
    noise = torch.randn(pairings.noise_shape(population, 4))
    table = pairings.losses(population, inputs, noise)
    for cell, row in enumerate(topology.neighbourhoods().tolist()):
        for a, encoder in enumerate(row):
            for b, decoder in enumerate(row):
                batch = inputs[encoder]
                w = pairings.partners[decoder].tolist().index(encoder)
                index = torch.tensor([encoder])
                hidden = population.encoders(batch[None], index)
                mean = population.means(hidden, index)[0]
                log_variance = population.log_variances(hidden, index)[0]
                code = mean + (0.5 * log_variance).exp() * noise[decoder, w]
                made = population.decoders(code[None], torch.tensor([decoder]))[0]
                entropy = torch.nn.functional.binary_cross_entropy(made, batch, reduction="sum")
                kl = -0.5 * (1 + log_variance - mean.square() - log_variance.exp()).sum()
                torch.testing.assert_close(table[cell, a, b], entropy + kl)
    by_l1 = pairings.losses(population, inputs)  # the default: L1 from the mean code
    assert not torch.allclose(table, by_l1) and by_l1.max() < 1
