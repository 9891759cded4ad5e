import pytest
import torch

from lit_evoae.nets import layer_sizes
from lit_evoae.population.cell_evaluation import (
    AllVsAll,
    Cooperative,
    Paired,
    PruneThenEvaluate,
    draw_partners,
)
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


@pytest.mark.parametrize("one_pair_at_a_time", [False, True])
def test_all_vs_all_rounds_meet_every_pair_once_within_each_trial(one_pair_at_a_time):
    from lit_evoae.population.packing import Pack

    cells = 4
    rounds = AllVsAll.rounds(Pack([11, 12, 13], cells), one_pair_at_a_time)
    assert len(rounds) == (cells * cells if one_pair_at_a_time else cells)
    for trial in range(3):
        rows = range(trial * cells, (trial + 1) * cells)
        pairs = [
            (e, d)
            for encoders, decoders in rounds
            for e, d in zip(encoders.tolist(), decoders.tolist(), strict=True)
            if e in rows
        ]
        assert sorted(pairs) == [(e, d) for e in rows for d in rows]
    alone = AllVsAll.rounds(Pack([12], cells), one_pair_at_a_time)
    for (encoders, decoders), (own_encoders, own_decoders) in zip(rounds, alone, strict=True):
        in_trial = (encoders >= cells) & (encoders < 2 * cells)  # trial 1, seed 12
        assert torch.equal(encoders[in_trial] - cells, own_encoders)
        assert torch.equal(decoders[in_trial] - cells, own_decoders)


def test_the_references_cell_evaluation_names_are_aliases():
    from lit_evoae.population.strategy import CoevolutionStrategy

    for name, cls in [
        ("lipi_simple_pte", PruneThenEvaluate),
        ("all_vs_all", AllVsAll),
        ("lipi_simple", Paired),
        ("epoch_node", Cooperative),
    ]:
        assert type(CoevolutionStrategy(cell_evaluation=name).cell_evaluation) is cls
    assert PruneThenEvaluate.replacement_scored == "after_pruning"
    assert Paired(score_replacement=True).replacement_scored == "before_pruning"
    assert Paired().replacement_scored is None
