import torch

from lit_evoae.nets import layer_sizes
from lit_evoae.population.cell_evaluation import Cooperative, Paired, draw_partners
from lit_evoae.population.stacked import StackedAutoencoder, reconstruction_l1

SIZES = layer_sizes(6, [4], 2)


def populations():
    torch.manual_seed(0)
    return StackedAutoencoder(2, *SIZES), StackedAutoencoder(5, *SIZES)


def test_paired_scores_each_trainee_with_its_own_decoder():
    trainees, centers = populations()
    inputs, targets = torch.rand(2, 3, 6), torch.rand(2, 3, 6)
    losses_of = Paired().losses(trainees, centers, torch.zeros(2, 3, dtype=torch.long), [], 4)
    expected = reconstruction_l1(trainees(inputs), targets)  # from the inputs, to the targets
    torch.testing.assert_close(losses_of(0, inputs, targets), expected)


def test_cooperative_pairs_each_half_with_a_drawn_neighbours_center():
    trainees, centers = populations()
    neighbourhoods = torch.tensor([[0, 4, 1], [3, 2, 4]])
    trials = [(torch.Generator().manual_seed(1), torch.tensor([0, 1]))]
    losses_of = Cooperative().losses(trainees, centers, neighbourhoods, trials, steps=3)
    partners = draw_partners(
        neighbourhoods, [(torch.Generator().manual_seed(1), torch.tensor([0, 1]))], 3
    )
    inputs, targets = torch.rand(2, 3, 6), torch.rand(2, 3, 6)
    for step in range(3):
        decoders, encoders = partners[step, :, 0], partners[step, :, 1]
        expected = (
            reconstruction_l1(centers.decode(trainees.encode(inputs), decoders), targets)
            + reconstruction_l1(trainees.decode(centers.encode(inputs, encoders)), targets)
        ) / 2
        torch.testing.assert_close(losses_of(step, inputs, targets), expected)


def test_partners_come_from_each_rows_neighbourhood_and_its_trials_generator():
    neighbourhoods = torch.tensor([[0, 1, 2], [5, 6, 7]])
    partners = draw_partners(
        neighbourhoods,
        [
            (torch.Generator().manual_seed(3), torch.tensor([0])),
            (torch.Generator().manual_seed(4), torch.tensor([1])),
        ],
        steps=50,
    )
    assert partners.shape == (50, 2, 2)
    assert set(partners[:, 0].flatten().tolist()) == {0, 1, 2}
    assert set(partners[:, 1].flatten().tolist()) == {5, 6, 7}
    alone = draw_partners(
        neighbourhoods[1:], [(torch.Generator().manual_seed(4), torch.tensor([0]))], steps=50
    )
    assert torch.equal(alone[:, 0], partners[:, 1])  # a trial draws what it draws alone
