import pytest
import torch

from lit_evoae.population.selection import encoder_fitness, tournament

# one cell, 3 encoders (rows) x 3 decoders (columns)
TABLE = torch.tensor([[[0.5, 0.1, 0.9], [0.3, 0.3, 0.3], [0.2, 0.8, 0.4]]])


@pytest.mark.parametrize(
    ("concept", "expected"),
    [
        ("best_case", [0.1, 0.3, 0.2]),
        ("worst_case", [0.9, 0.3, 0.8]),
        ("mean", [0.5, 0.3, 0.4666667]),
    ],
)
def test_solution_concepts_reduce_each_encoder_row(concept, expected):
    torch.testing.assert_close(encoder_fitness(TABLE, concept)[0], torch.tensor(expected))


def test_unknown_solution_concept_is_refused():
    with pytest.raises(ValueError, match="best_case"):
        encoder_fitness(TABLE, "median")


def test_tournament_picks_the_fitter_entrant():
    fitness = torch.tensor([[0.3, 0.1, 0.2]]).repeat(2000, 1)
    winners = tournament(fitness, 2, torch.Generator().manual_seed(0))
    counts = torch.bincount(winners, minlength=3).double() / 2000
    # size 2 with replacement: P(best)=1-(2/3)^2=5/9, P(middle)=(2/3)^2-(1/3)^2=3/9, P(worst)=1/9
    torch.testing.assert_close(
        counts, torch.tensor([1 / 9, 5 / 9, 3 / 9], dtype=torch.double), atol=0.04, rtol=0
    )


def test_tournament_as_large_as_the_neighbourhood_almost_always_picks_the_best():
    fitness = torch.tensor([[0.3, 0.1, 0.2, 0.4]]).repeat(500, 1)
    winners = tournament(fitness, 30, torch.Generator().manual_seed(1))
    assert bool((winners == 1).all())


def test_tournament_is_reproducible_from_the_generator():
    fitness = torch.rand(10, 3)
    first = tournament(fitness, 2, torch.Generator().manual_seed(5))
    again = tournament(fitness, 2, torch.Generator().manual_seed(5))
    assert torch.equal(first, again)
