import pytest
import torch

from lit_evoae.population.orders import ALIASES, Sequential, Synchronous
from lit_evoae.population.packing import Pack


def generators(*seeds):
    return [torch.Generator().manual_seed(seed) for seed in seeds]


def pack(cells, *seeds):
    return Pack(seeds, cells)


def test_synchronous_is_one_group_of_every_cell_and_draws_nothing():
    drawn = pack(5, 1, 2)
    groups = Synchronous().groups(drawn)
    assert len(groups) == 1 and torch.equal(groups[0], torch.arange(10))
    assert all(
        torch.equal(g.get_state(), f.get_state())
        for g, f in zip(drawn.generators, generators(1, 2), strict=True)
    )
    assert Synchronous().group_size(drawn) == 10


def test_sequential_visits_every_cell_once_one_per_trial_per_group():
    groups = Sequential().groups(pack(4, 1, 2, 3))
    assert len(groups) == 4 and all(len(group) == 3 for group in groups)
    cells = torch.cat(groups)
    assert sorted(cells.tolist()) == list(range(12))
    for group in groups:  # position t holds a cell of trial t
        assert (group // 4).tolist() == [0, 1, 2]
    assert Sequential().group_size(pack(4, 1, 2, 3)) == 3


def test_a_trials_sequential_order_comes_from_its_own_generator():
    alone = Sequential().groups(pack(5, 7))
    together = Sequential().groups(pack(5, 3, 7))
    assert [int(g[0]) for g in alone] == [int(g[1]) - 5 for g in together]


@pytest.mark.parametrize(("name", "order"), ALIASES.items())
def test_the_papers_names_are_the_classes(name, order):
    assert order in (Synchronous, Sequential) and name == order.__name__.lower()
    assert Synchronous.splits_over_ranks and not Sequential.splits_over_ranks
