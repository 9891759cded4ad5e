import pytest
import torch

from lit_evoae.errors import ConfigError
from lit_evoae.nets import layer_sizes
from lit_evoae.population import memory
from lit_evoae.population.memory import (
    CENTER_BYTES,
    TRAINEE_BYTES,
    check_population_fits,
    estimated_bytes,
    parameters_per_individual,
)
from lit_evoae.population.stacked import StackedAutoencoder


def test_parameters_per_individual_matches_a_real_population():
    sizes = layer_sizes(40, [7, 5], 3)
    assert (
        parameters_per_individual(*sizes)
        == StackedAutoencoder(1, *sizes).parameters_per_individual()
    )


def test_the_estimate_grows_with_cells_slots_and_the_pairing_table():
    sizes = layer_sizes(100, [30], 10)
    parameters = parameters_per_individual(*sizes)
    base = estimated_bytes(10, 0, *sizes, neighbourhood=3, batch=5)
    assert estimated_bytes(20, 0, *sizes, 3, 5) - base >= 10 * parameters * CENTER_BYTES
    assert estimated_bytes(10, 4, *sizes, 3, 5) - base == 4 * parameters * TRAINEE_BYTES
    assert estimated_bytes(10, 0, *sizes, 3, 50) > base


def test_a_population_that_fits_passes_and_one_that_does_not_names_its_size(monkeypatch):
    sizes = layer_sizes(100, [30], 10)
    check_population_fits(10, 3, 10, sizes, torch.device("cpu"))
    monkeypatch.setattr(memory, "available_bytes", lambda device: 10**6)
    with pytest.raises(ConfigError, match=r"a population of 40 cells needs about .* GiB"):
        check_population_fits(40, 3, 40, sizes, torch.device("cpu"))
    monkeypatch.setattr(memory, "available_bytes", lambda device: None)  # unknown: no refusal
    check_population_fits(40, 3, 40, sizes, torch.device("cpu"))
