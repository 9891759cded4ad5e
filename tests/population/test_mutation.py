import torch

from lit_evoae.population.mutation import mutate_learning_rates


def test_learning_rate_mutation_moves_and_stays_in_bounds():
    rates = torch.tensor([1e-5, 1e-9, 9.9999], dtype=torch.double)
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        rates = mutate_learning_rates(rates, 1e-5, (1e-9, 10.0), generator)
        assert bool(((rates >= 1e-9) & (rates <= 10.0)).all())
    assert rates[0] != 1e-5
    spread = (
        mutate_learning_rates(
            torch.full((5000,), 1.0, dtype=torch.double),
            1e-2,
            (1e-9, 10.0),
            torch.Generator().manual_seed(1),
        )
        - 1.0
    )
    assert abs(spread.std().item() - 1e-2) < 1e-3 and abs(spread.mean().item()) < 1e-3
