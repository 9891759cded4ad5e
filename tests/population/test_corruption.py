"""Denoising's corruptions: what each does to a batch, and whose generator it draws from."""

import pytest
import torch

from lit_evoae.errors import ConfigError
from lit_evoae.population.corruption import BitFlips, GaussianNoise, noise_generators, per_stream


def corrupt(corruption, clean, streams):
    return corruption.apply(clean, per_stream(clean.shape, streams, corruption.draw))


def test_gaussian_noise_adds_std_times_each_rows_own_draws():
    clean = torch.rand(3, 4, 5)
    streams = [
        (torch.Generator().manual_seed(1), torch.tensor([0, 2])),
        (torch.Generator().manual_seed(2), torch.tensor([1])),
    ]
    noisy = corrupt(GaussianNoise(std=0.4), clean, streams)
    first = torch.randn((2, 4, 5), generator=torch.Generator().manual_seed(1))
    second = torch.randn((1, 4, 5), generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(noisy[[0, 2]], clean[[0, 2]] + 0.4 * first)
    torch.testing.assert_close(noisy[[1]], clean[[1]] + 0.4 * second)


def test_bit_flips_turn_about_q_of_the_values_and_keep_binary_data_binary():
    clean = torch.randint(0, 2, (2, 50, 100)).float()
    streams = [(torch.Generator().manual_seed(0), torch.tensor([0, 1]))]
    noisy = corrupt(BitFlips(probability=0.2), clean, streams)
    assert set(noisy.unique().tolist()) <= {0.0, 1.0}
    flipped = (noisy != clean).float().mean().item()
    assert 0.17 < flipped < 0.23
    assert torch.equal(corrupt(BitFlips(probability=0.0), clean, streams), clean)


def test_a_passes_noise_depends_on_the_trials_seed_generation_and_pass_only():
    def draw(seeds, generation, pass_index):
        generators = noise_generators(seeds, generation, pass_index)
        return [torch.randn(3, generator=g) for g in generators]

    assert torch.equal(draw([5, 6], 2, 1)[1], draw([6], 2, 1)[0])  # beside another trial
    assert not torch.equal(draw([6], 2, 1)[0], draw([6], 3, 1)[0])
    assert not torch.equal(draw([6], 2, 1)[0], draw([6], 2, 0)[0])


@pytest.mark.parametrize(
    "make, key",
    [
        (lambda: GaussianNoise(std=-0.1), "denoising.std"),
        (lambda: BitFlips(probability=1.0), "denoising.probability"),
        (lambda: BitFlips(probability=-0.5), "denoising.probability"),
    ],
)
def test_a_bad_amount_of_noise_is_one_line_naming_the_key(make, key):
    with pytest.raises(ConfigError, match=key):
        make()
