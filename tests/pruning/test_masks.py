import pytest
import torch

from lit_evoae.pruning import masks
from lit_evoae.pruning.masks import (
    conjunctive_masks,
    live_units,
    prune_units,
    random_masks,
    variance_masks,
)


def full_masks(n=2, inputs=5, units=4):
    return torch.ones(n, inputs, units, dtype=torch.bool), torch.ones(n, units, dtype=torch.bool)


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


def pruned_units(weight_mask, bias_mask):
    return (~live_units(weight_mask, bias_mask)).nonzero().tolist()


# ------------------------------------------------------------------ random
def test_random_prunes_floor_amount_of_the_live_entries_per_tensor():
    weights, biases = full_masks(n=3, inputs=10, units=6)  # 60 weights, 6 biases each
    weights[1, :, :3] = False  # individual 1 has only 30 live weights
    new_weights, new_biases = random_masks(weights, biases, 0.25, generator())
    assert (weights & ~new_weights).flatten(1).sum(1).tolist() == [15, 7, 15]
    assert (biases & ~new_biases).sum(1).tolist() == [1, 1, 1]
    assert not bool((new_weights & ~weights).any())  # masks only lose entries


def test_random_is_reproducible_by_seed_and_differs_across_seeds():
    weights, biases = full_masks(inputs=20, units=10)
    first = random_masks(weights, biases, 0.5, generator(1))
    again = random_masks(weights, biases, 0.5, generator(1))
    other = random_masks(weights, biases, 0.5, generator(2))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])


def test_random_with_amount_zero_changes_nothing():
    weights, biases = full_masks()
    new_weights, new_biases = random_masks(weights, biases, 0.0, generator())
    assert torch.equal(new_weights, weights) and torch.equal(new_biases, biases)


# ------------------------------------------------------------------ variance
VARIANCE = torch.tensor([[0.0, 1.0, 2.0, 3.0]])  # unit 0 quietest, unit 3 busiest


def test_variance_with_a_cap_of_one_prunes_the_quietest_unit():
    weights, biases = full_masks(n=1)
    for seed in range(20):  # p = [1, 2/3, 1/3, 0]; with the cap only the top-p drawn unit goes
        new_weights, new_biases = variance_masks(
            weights, biases, VARIANCE, generator(seed), amount=0.25
        )
        assert pruned_units(new_weights, new_biases) == [[0, 0]]
        assert not bool(new_weights[0, :, 0].any()) and not new_biases[0, 0]


def test_variance_prunes_each_unit_with_its_linear_probability():
    weights, biases = full_masks(n=4000, units=4)
    variance = VARIANCE.repeat(4000, 1)
    new_weights, new_biases = variance_masks(weights, biases, variance, generator(0), amount=None)
    frequency = (~live_units(new_weights, new_biases)).double().mean(0)
    torch.testing.assert_close(
        frequency, torch.tensor([1, 2 / 3, 1 / 3, 0], dtype=torch.double), atol=0.03, rtol=0
    )


def test_variance_high_end_mirrors_the_low_end():
    weights, biases = full_masks(n=1)
    new_weights, new_biases = variance_masks(
        weights, biases, VARIANCE, generator(0), amount=0.25, prune_end="high"
    )
    assert pruned_units(new_weights, new_biases) == [[0, 3]]


def test_variance_never_removes_the_last_live_unit():
    weights, biases = full_masks(n=1)
    weights, biases = prune_units(weights, biases, torch.tensor([[True, True, False, False]]))
    for seed in range(20):
        new_weights, new_biases = variance_masks(
            weights, biases, VARIANCE, generator(seed), amount=None
        )
        assert live_units(new_weights, new_biases).sum() >= 1


def test_variance_reference_mode_never_removes_the_last_live_unit():
    # One input per unit, equal spreads: each unit dies with probability 1/4 per round, so
    # over 200 individuals x 6 rounds whole layers would die without the rule.
    weights, biases = full_masks(n=200, inputs=1, units=2)
    for round_ in range(6):
        variance = torch.ones(200, 2)
        draws = generator(round_)
        new_weights, new_biases = variance_masks(
            weights, biases, variance, draws, amount=None, prune_end="high", per_weight=True
        )
        assert bool(live_units(new_weights, new_biases).any(1).all())
        assert bool((new_weights <= weights).all() and (new_biases <= biases).all())
        weights, biases = new_weights, new_biases


def test_variance_ignores_units_already_pruned():
    weights, biases = full_masks(n=1)
    weights, biases = prune_units(weights, biases, torch.tensor([[True, False, False, False]]))
    # among live units 1..3 the quietest is unit 1 (p=1), the busiest unit 3 (p=0)
    new_weights, new_biases = variance_masks(weights, biases, VARIANCE, generator(0), amount=0.34)
    assert pruned_units(new_weights, new_biases) == [[0, 0], [0, 1]]


def test_variance_reference_mode_draws_per_weight_and_prunes_about_half():
    weights, biases = full_masks(n=50, inputs=40, units=30)
    variance = torch.rand(50, 30, generator=generator(5))
    new_weights, _ = variance_masks(
        weights, biases, variance, generator(0), amount=None, prune_end="high", per_weight=True
    )
    assert 0.4 < (~new_weights).double().mean().item() < 0.6
    partly = (~new_weights).any(1) & new_weights.any(1)  # units with some weights left
    assert bool(partly.any())


def test_variance_equal_spread_is_a_coin_toss():
    weights, biases = full_masks(n=4000, units=3)
    new_weights, new_biases = variance_masks(
        weights, biases, torch.ones(4000, 3), generator(0), amount=None
    )
    frequency = (~live_units(new_weights, new_biases)).double().mean().item()
    # p = 0.5 per unit, except that when all 3 are drawn (1/8) one is spared: 0.5 - 1/24
    assert abs(frequency - (0.5 - 1 / 24)) < 0.02


# ------------------------------------------------------------------ conjunctive
def cases(*rows):
    return torch.tensor([rows], dtype=torch.float)  # (1 individual, cases, units)


def test_conjunctive_intersects_quiet_units_until_the_next_case_would_empty_it():
    activations = cases(
        [0.00, 0.05, 0.08, 1.0],  # quiet: 0 1 2
        [0.00, 0.01, 0.90, 1.0],  # quiet: 0 1   -> {0, 1}
        [0.50, 0.60, 0.00, 1.0],  # quiet: 2     -> would empty: stop at {0, 1}
        [0.00, 0.90, 0.90, 1.0],  # quiet: 0     -> not applied: stopped
    )
    weights, biases = full_masks(n=1)
    new_weights, new_biases = conjunctive_masks(weights, biases, activations, threshold=0.1)
    assert pruned_units(new_weights, new_biases) == [[0, 0], [0, 1]]
    assert bool(new_weights[0, :, 2:].all()) and bool(new_biases[0, 2:].all())


def test_conjunctive_threshold_decides_what_is_quiet():
    activations = cases([0.0, 0.15, 0.5, 1.0])
    weights, biases = full_masks(n=1)
    assert pruned_units(*conjunctive_masks(weights, biases, activations, 0.1)) == [[0, 0]]
    assert pruned_units(*conjunctive_masks(weights, biases, activations, 0.2)) == [[0, 0], [0, 1]]


def test_conjunctive_spares_one_unit_when_every_unit_is_quiet():
    activations = cases([1.0, 1.0, 1.0, 1.0])  # no spread: normalised 0 everywhere -> all quiet
    weights, biases = full_masks(n=1)
    new_weights, new_biases = conjunctive_masks(weights, biases, activations, 0.1)
    assert live_units(new_weights, new_biases).sum() == 1


def test_conjunctive_without_cases_prunes_nothing():
    weights, biases = full_masks(n=1)
    new_weights, new_biases = conjunctive_masks(weights, biases, torch.zeros(1, 0, 4), 0.1)
    assert torch.equal(new_weights, weights) and torch.equal(new_biases, biases)


def test_conjunctive_normalises_over_live_units_only():
    weights, biases = full_masks(n=1)
    weights, biases = prune_units(weights, biases, torch.tensor([[False, False, False, True]]))
    activations = cases([0.0, 0.5, 0.55, 100.0])  # unit 3 is dead: it must not set the scale
    new_weights, new_biases = conjunctive_masks(weights, biases, activations, 0.1)
    assert pruned_units(new_weights, new_biases) == [[0, 0], [0, 3]]


@pytest.mark.parametrize("operator", ["random", "variance", "conjunctive"])
def test_masks_only_ever_lose_entries(operator):
    weights, biases = full_masks(n=6, inputs=8, units=5)
    for round_number in range(6):
        if operator == "random":
            new = random_masks(weights, biases, 0.3, generator(round_number))
        elif operator == "variance":
            new = variance_masks(
                weights,
                biases,
                torch.rand(6, 5, generator=generator()),
                generator(round_number),
                amount=0.4,
            )
        else:
            new = conjunctive_masks(
                weights, biases, torch.rand(6, 10, 5, generator=generator(round_number))
            )
        assert not bool((new[0] & ~weights).any()) and not bool((new[1] & ~biases).any())
        weights, biases = new


def test_conjunctive_at_one_intersects_while_several_are_marked_and_may_end_with_none():
    """The reference's rule: intersect while more than one unit is marked."""
    activations = cases(
        [0.00, 0.05, 0.08, 1.0],  # quiet: 0 1 2
        [0.00, 0.01, 0.90, 1.0],  # quiet: 0 1   -> {0, 1}: two marked, go on
        [0.50, 0.60, 0.00, 1.0],  # quiet: 2     -> {}: nothing is pruned
    )
    weights, biases = full_masks(n=1)
    assert pruned_units(*conjunctive_masks(weights, biases, activations, 0.1, "at_one")) == []
    stops_at_one = cases(
        [0.00, 0.05, 0.08, 1.0],  # quiet: 0 1 2
        [0.00, 0.90, 0.90, 1.0],  # quiet: 0     -> {0}: one marked, stop
        [0.90, 0.00, 0.90, 1.0],  # quiet: 1     -> not applied
    )
    assert pruned_units(*conjunctive_masks(weights, biases, stops_at_one, 0.1, "at_one")) == [
        [0, 0]
    ]


def intersected_case_by_case(quiet, stop):
    """The conjunctive rule as the reference states it: one intersection per case."""
    marked = quiet[:, 0]
    going = torch.ones_like(marked[:, :1])
    for case in range(1, quiet.shape[1]):
        narrowed = marked & quiet[:, case]
        if stop == "at_one":
            going = marked.sum(1, keepdim=True) > 1
        else:
            going = going & narrowed.any(1, keepdim=True)
        marked = torch.where(going, narrowed, marked)
    return marked


@pytest.mark.parametrize("stop", ["before_empty", "at_one"])
def test_conjunctive_intersection_at_once_equals_it_case_by_case(stop):
    draws = generator(7)
    outcomes = set()
    for trial in range(200):
        n, count, units = 1 + trial % 5, 1 + trial % 9, 1 + trial % 7
        density = (trial % 10) / 10 + 0.05
        quiet = torch.rand(n, count, units, generator=draws) < density
        expected = intersected_case_by_case(quiet, stop)
        assert torch.equal(masks._intersected(quiet, stop), expected), (trial, quiet)
        outcomes.update(int(row.sum()) for row in expected)
    assert {0, 1, 2} <= outcomes  # the draws reach empty, single and several marks


def test_the_first_entries_of_an_order_are_its_ranks_below_the_count():
    """One scatter stands for the second argsort of the ranking (ties included: scores of
    few distinct values, as dead entries' 2.0 and equal priorities give)."""
    draws = generator(3)
    for trial in range(200):
        n, width = 1 + trial % 6, 1 + trial % 40
        scores = torch.randint(0, 1 + trial % 5, (n, width), generator=draws).float()
        order = scores.argsort(1, descending=bool(trial % 2))
        count = torch.randint(0, width + 1, (n,), generator=draws)
        expected = order.argsort(1) < count.unsqueeze(1)
        assert torch.equal(masks._first_in_order(order, count), expected), trial
