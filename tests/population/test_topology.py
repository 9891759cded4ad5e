import pytest
import torch

from lit_evoae.errors import ConfigError
from lit_evoae.population.topology import Ring, Torus


def test_ring_radius_one_wraps_around():
    table = Ring(size=10, radius=1).neighbourhoods()
    assert table.shape == (10, 3)
    assert table[0].tolist() == [0, 9, 1]
    assert table[9].tolist() == [9, 8, 0]
    assert table[4].tolist() == [4, 3, 5]


def test_ring_radius_two():
    table = Ring(size=6, radius=2).neighbourhoods()
    assert table[0].tolist() == [0, 5, 1, 4, 2]
    assert all(len(set(row.tolist())) == 5 for row in table)


@pytest.mark.parametrize(("kind", "k"), [("von_neumann", 5), ("moore", 9)])
def test_torus_neighbourhoods_wrap_and_have_no_repeats(kind, k):
    topology = Torus(rows=3, columns=4, neighbourhood=kind)
    table = topology.neighbourhoods()
    assert topology.size == 12 and table.shape == (12, k)
    assert torch.equal(table[:, 0], torch.arange(12))
    assert all(len(set(row.tolist())) == k for row in table)
    # cell 0 (row 0, column 0) wraps to the last row and the last column
    expected = {0, 8, 4, 3, 1} if kind == "von_neumann" else {0, 8, 4, 3, 1, 11, 9, 7, 5}
    assert set(table[0].tolist()) == expected


def test_every_cell_is_in_as_many_neighbourhoods_as_it_has_neighbours():
    for topology in (Ring(size=7, radius=2), Torus(rows=4, columns=3)):
        table = topology.neighbourhoods()
        counts = torch.bincount(table.flatten(), minlength=topology.size)
        assert bool((counts == table.shape[1]).all())


def test_neighbourhood_that_does_not_fit_is_refused():
    with pytest.raises(ConfigError, match="radius 2"):
        Ring(size=4, radius=2)
    with pytest.raises(ConfigError, match="too small"):
        Torus(rows=2, columns=5)
    with pytest.raises(ConfigError, match="neighbourhood='hex'"):
        Torus(neighbourhood="hex")


def test_a_wrapped_ring_smaller_than_a_neighbourhood_repeats_cells_as_the_reference():
    """The reference's get_neighbors wraps indices: [self, self, self] and [self, other, other]."""
    with pytest.raises(ConfigError, match="wrap: true"):
        Ring(size=2, radius=1)
    assert Ring(size=1, radius=1, wrap=True).neighbourhoods().tolist() == [[0, 0, 0]]
    assert Ring(size=2, radius=1, wrap=True).neighbourhoods().tolist() == [[0, 1, 1], [1, 0, 0]]
    assert torch.equal(Ring(size=5, wrap=True).neighbourhoods(), Ring(size=5).neighbourhoods())
