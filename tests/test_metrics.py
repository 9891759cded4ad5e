"""Population scores: computed a chunk of individuals at a time, to the same bits."""

import torch

import lit_evoae.metrics as metrics
from lit_evoae.nets import layer_sizes
from lit_evoae.population.stacked import StackedAutoencoder


def test_row_chunks_cover_the_rows_once_within_the_bound(monkeypatch):
    monkeypatch.setattr(metrics, "CHUNK_ELEMENTS", 100)
    chunks = metrics.row_chunks(slice(3, 20), per_row=30)
    assert [(c.start, c.stop) for c in chunks] == [
        (3, 6),
        (6, 9),
        (9, 12),
        (12, 15),
        (15, 18),
        (18, 20),
    ]
    assert metrics.row_chunks(slice(0, 2), per_row=10**9) == [slice(0, 1), slice(1, 2)]


def test_scoring_in_chunks_of_individuals_changes_no_bit(monkeypatch):
    torch.manual_seed(0)
    population = StackedAutoencoder(7, *layer_sizes(30, [9], 4))
    inputs = torch.rand(50, 30)
    whole = metrics.split_l1(population, inputs, batch_size=20)
    monkeypatch.setattr(metrics, "CHUNK_ELEMENTS", 2 * 20 * 30)  # two individuals a chunk
    assert torch.equal(metrics.split_l1(population, inputs, batch_size=20), whole)
    every = metrics.PopulationL1(7)
    every.update(population(inputs), inputs)
    chunked = metrics.PopulationL1(7)
    for rows in metrics.row_chunks(slice(0, 7), inputs.numel()):
        chunk = inputs.expand(rows.stop - rows.start, *inputs.shape)
        chunked.update(population(chunk, rows), inputs, rows)
    assert torch.equal(chunked.compute(), every.compute())
