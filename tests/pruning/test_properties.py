"""Property-based tests (hypothesis) of the pruning operators and schedules.

Operators, applied round after round to small random layers: a pruned entry never comes
back, sparsity never decreases, unit operators remove whole units only and never a layer's
last live unit, random pruning never empties a weight tensor or a bias. Schedules: every
value is finite and in [0, 1], with the monotonicity and windows their formulas promise.

Examples are derandomized (the same ones on every run, so CI is stable) and no example
database is kept.
"""

import math
from fractions import Fraction

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lit_evoae.errors import ConfigError
from lit_evoae.pruning.masks import live_units, prune_units
from lit_evoae.pruning.operators import (
    ConjunctivePruning,
    MagnitudePruning,
    RandomPruning,
    VariancePruning,
)
from lit_evoae.pruning.schedules import (
    Decrease,
    Exponential,
    FinalN,
    Fixed,
    Increase,
    Population,
    PruneAfter,
)

PROPERTY = settings(max_examples=50, deadline=None, derandomize=True, database=None)
ROUNDS = 4

# RandomPruning / VariancePruning: [0, 1), often just below 1 where rounding could reach 1
amounts = st.floats(0.0, 1.0, exclude_max=True) | st.floats(0.999999, 1.0, exclude_max=True)
thresholds = st.floats(0.0, 1.0, exclude_min=True, exclude_max=True)  # ConjunctivePruning
unit_fractions = st.floats(0.0, 1.0)
steepnesses = st.floats(min_value=0.0, exclude_min=True)  # Exponential: any positive float, inf too
seeds = st.integers(0, 2**32 - 1)
# float32 values, with exact ties likely (equal variances, units with no spread)
variances = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1e6, width=32))
activations = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(-1e3, 1e3, width=32))


# ------------------------------------------------------------------ strategies
@st.composite
def layers(draw):
    """(weight_mask (n, in, out), bias_mask (n, out)): full, or an arbitrary earlier pruning."""
    n, inputs, units = draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    if draw(st.booleans()):
        return torch.ones(n, inputs, units, dtype=torch.bool), torch.ones(
            n, units, dtype=torch.bool
        )
    weights = draw(
        st.lists(st.booleans(), min_size=n * inputs * units, max_size=n * inputs * units)
    )
    biases = draw(st.lists(st.booleans(), min_size=n * units, max_size=n * units))
    return (
        torch.tensor(weights, dtype=torch.bool).view(n, inputs, units),
        torch.tensor(biases, dtype=torch.bool).view(n, units),
    )


def values(draw, elements, *shape) -> torch.Tensor:
    size = math.prod(shape)
    drawn = draw(st.lists(elements, min_size=size, max_size=size))
    return torch.tensor(drawn, dtype=torch.float32).view(*shape)


def sparsity(weight_mask, bias_mask) -> torch.Tensor:
    """(n,): the fraction of each individual's weights and biases that are pruned."""
    pruned = (~weight_mask).flatten(1).sum(1) + (~bias_mask).sum(1)
    return pruned / (weight_mask[0].numel() + bias_mask[0].numel())


def assert_only_lost_entries(old, new):
    (old_weights, old_biases), (new_weights, new_biases) = old, new
    assert new_weights.shape == old_weights.shape and new_weights.dtype == torch.bool
    assert new_biases.shape == old_biases.shape and new_biases.dtype == torch.bool
    assert not bool((new_weights & ~old_weights).any()), "a pruned weight came back"
    assert not bool((new_biases & ~old_biases).any()), "a pruned bias came back"
    assert bool((sparsity(*new) >= sparsity(*old)).all()), "sparsity decreased"


def assert_whole_units_and_never_the_last(old, new):
    """Unit operators: each unit is either left as it was or loses all its incoming weights
    and its bias; an individual with a live unit keeps at least one."""
    old_live, new_live = live_units(*old), live_units(*new)
    removed = old_live & ~new_live
    expected = prune_units(*old, removed)
    assert torch.equal(new[0], expected[0]) and torch.equal(new[1], expected[1])
    had_some = old_live.any(1)
    assert bool(new_live.any(1)[had_some].all()), "a layer lost its last live unit"


# ------------------------------------------------------------------ random
@pytest.mark.integration
@PROPERTY
@example(
    layer=(torch.ones(1, 3, 2, dtype=torch.bool), torch.ones(1, 2, dtype=torch.bool)),
    amount=1 - 1e-8,
    seed=0,
)  # 1 - 1e-8 rounds to 1.0 in float32
@example(
    layer=(torch.ones(1, 1, 2, dtype=torch.bool), torch.ones(1, 2, dtype=torch.bool)),
    amount=0.49999999999999994,
    seed=0,
)  # float32: 2 x amount rounds to 1
@given(layer=layers(), amount=amounts, seed=seeds)
def test_random_pruning_only_removes_floor_amount_and_never_empties_a_tensor(layer, amount, seed):
    operator, generator = RandomPruning(amount), torch.Generator().manual_seed(seed)
    masks = layer
    for _ in range(ROUNDS):
        new = operator.layer_masks(*masks, None, generator)
        assert_only_lost_entries(masks, new)
        for old_mask, new_mask in zip(masks, new, strict=True):
            live = old_mask.flatten(1).sum(1).tolist()
            pruned = (old_mask & ~new_mask).flatten(1).sum(1).tolist()
            # floor(amount x live) <= live - 1 for amount < 1: a tensor is never emptied
            assert pruned == [min(math.floor(amount * n), max(n - 1, 0)) for n in live]
        # random pruning acts on entries, not units, but since the weight tensor keeps a
        # live entry, a layer that had a live unit keeps one
        assert bool(live_units(*new).any(1)[live_units(*masks).any(1)].all())
        masks = new


# ------------------------------------------------------------------ magnitude
@pytest.mark.integration
@PROPERTY
@given(data=st.data(), layer=layers(), amount=st.floats(0.0, 1.0), seed=seeds)
def test_magnitude_pruning_removes_floor_amount_of_the_smallest_live_entries(
    data, layer, amount, seed
):
    operator, generator = MagnitudePruning(amount), torch.Generator().manual_seed(seed)
    masks = layer
    n, inputs, units = masks[0].shape
    for _ in range(ROUNDS):
        weights = (
            values(data.draw, activations, n, inputs, units),
            values(data.draw, activations, n, units),
        )
        new = operator.layer_masks(*masks, weights, generator)
        assert_only_lost_entries(masks, new)
        for old_mask, new_mask, value in zip(masks, new, weights, strict=True):
            for row in range(n):
                live, kept = old_mask[row].flatten(), new_mask[row].flatten()
                pruned = live & ~kept
                assert int(pruned.sum()) == math.floor(amount * int(live.sum()))
                magnitude = value[row].flatten().abs()
                if pruned.any() and (live & kept).any():  # never a larger one before a smaller
                    assert magnitude[pruned].max() <= magnitude[live & kept].min()
        masks = new


def test_magnitude_pruning_ranks_as_torchs_l1_unstructured():
    torch.manual_seed(0)
    layer = torch.nn.Linear(7, 5)
    expected = torch.nn.utils.prune.l1_unstructured(layer, "weight", amount=0.3).weight_mask
    weight = layer.weight_orig.detach().T.unsqueeze(0)  # stacked: (1, in, out)
    full = torch.ones_like(weight, dtype=torch.bool)
    new_weight, _ = MagnitudePruning(0.3).layer_masks(
        full, full[:, 0], (weight, weight[:, 0]), None
    )
    # torch rounds 0.3 x 35 = 10.5 to 10 here, as the floor does
    assert torch.equal(new_weight[0].T, expected.bool())


# ------------------------------------------------------------------ variance
@pytest.mark.integration
@PROPERTY
@given(
    data=st.data(),
    layer=layers(),
    amount=st.none() | amounts,
    prune_end=st.sampled_from(["low", "high"]),
    seed=seeds,
)
def test_variance_pruning_removes_whole_units_within_the_cap_never_the_last(
    data, layer, amount, prune_end, seed
):
    operator = VariancePruning(amount, prune_end=prune_end)
    generator = torch.Generator().manual_seed(seed)
    masks = layer
    n, units = masks[1].shape
    for _ in range(ROUNDS):
        variance = values(data.draw, variances, n, units)
        new = operator.layer_masks(*masks, variance, generator)
        assert_only_lost_entries(masks, new)
        assert_whole_units_and_never_the_last(masks, new)
        if amount is not None:
            live = live_units(*masks).sum(1).tolist()
            removed = (live_units(*masks) & ~live_units(*new)).sum(1).tolist()
            caps = [math.floor(amount * count) for count in live]
            assert all(r <= cap for r, cap in zip(removed, caps, strict=True)), (removed, caps)
        masks = new


@pytest.mark.integration
@PROPERTY
@given(data=st.data(), layer=layers(), prune_end=st.sampled_from(["low", "high"]), seed=seeds)
def test_variance_reference_mode_only_loses_entries_and_keeps_a_live_unit(
    data, layer, prune_end, seed
):
    # per_weight=True draws per weight, not per unit, so it may leave units partly pruned;
    # unlike the reference it reproduces, it spares a unit where the draws would kill every
    # live unit of a layer (`variance_masks`): a layer with a live unit keeps one.
    operator = VariancePruning(None, prune_end=prune_end, per_weight=True)
    generator = torch.Generator().manual_seed(seed)
    masks = layer
    n, units = masks[1].shape
    for _ in range(ROUNDS):
        new = operator.layer_masks(*masks, values(data.draw, variances, n, units), generator)
        assert_only_lost_entries(masks, new)
        had_one = live_units(*masks).any(1)
        assert bool(live_units(*new).any(1)[had_one].all())
        masks = new


# ------------------------------------------------------------------ conjunctive
@pytest.mark.integration
@PROPERTY
@given(data=st.data(), layer=layers(), threshold=thresholds, cases=st.integers(0, 5), seed=seeds)
def test_conjunctive_pruning_removes_quiet_whole_units_never_the_last(
    data, layer, threshold, cases, seed
):
    operator = ConjunctivePruning(threshold, cases=max(cases, 1))
    generator = torch.Generator().manual_seed(seed)
    masks = layer
    n, units = masks[1].shape
    for _ in range(ROUNDS):
        case_activations = values(data.draw, activations, n, cases, units)
        new = operator.layer_masks(*masks, case_activations, generator)
        assert_only_lost_entries(masks, new)
        assert_whole_units_and_never_the_last(masks, new)
        removed = live_units(*masks) & ~live_units(*new)
        if cases == 0:
            assert not bool(removed.any())
        else:  # a pruned unit was quiet on the first case: at most the threshold's share
            first = case_activations[:, 0].double()  # of the live units' span above their min
            live = live_units(*masks)
            low = torch.where(live, first, torch.inf).amin(1, keepdim=True)
            high = torch.where(live, first, -torch.inf).amax(1, keepdim=True)
            quiet = (first - low) <= threshold * (high - low) * (1 + 1e-5)  # float32 rounding
            assert not bool((removed & ~quiet).any())
        masks = new


# the smallest cases the properties above found, kept as plain regression tests
def test_variance_cap_is_floor_amount_times_live_without_float32_rounding():
    weights, biases = torch.ones(200, 3, 2, dtype=torch.bool), torch.ones(200, 2, dtype=torch.bool)
    generator = torch.Generator().manual_seed(0)  # equal variances: each unit a coin toss
    new = VariancePruning(0.49999999999999994).layer_masks(
        weights, biases, torch.ones(200, 2), generator
    )
    assert bool(live_units(*new).all())  # floor(0.49999999999999994 x 2) = 0 units may go


def test_conjunctive_normalises_a_tiny_but_nonzero_spread():
    activations = torch.tensor([[[0.0, 0.0, 0.0, -3e-42]]])  # subnormal spread: unit 3 is quiet
    weights, biases = torch.ones(1, 1, 4, dtype=torch.bool), torch.ones(1, 4, dtype=torch.bool)
    new = ConjunctivePruning(0.5).layer_masks(weights, biases, activations, None)
    assert live_units(*new).tolist() == [[True, True, True, False]]


# ------------------------------------------------------------------ schedules
schedules = st.one_of(
    st.builds(Fixed),
    st.builds(Increase),
    st.builds(Decrease),
    st.builds(Population),
    st.builds(Exponential, steepness=steepnesses),
    st.builds(FinalN, fraction=unit_fractions),
    st.builds(PruneAfter),
)
probabilities = st.floats(0.0, 1.0)
population_sizes = st.integers(1, 1000)


@st.composite
def times(draw):
    """(generation, max_generations) with 0 <= generation < max_generations."""
    total = draw(st.integers(1, 10_000))
    return draw(st.integers(0, total - 1)), total


@st.composite
def two_times(draw):
    """(earlier, later, max_generations) with 0 <= earlier <= later < max_generations."""
    total = draw(st.integers(1, 10_000))
    earlier, later = sorted(draw(st.lists(st.integers(0, total - 1), min_size=2, max_size=2)))
    return earlier, later, total


@PROPERTY
@given(schedule=schedules, time=times(), probability=probabilities, size=population_sizes)
def test_every_schedule_is_a_probability(schedule, time, probability, size):
    value = schedule(*time, probability, size)
    assert isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 1.0


@PROPERTY
@given(time=times(), probability=probabilities, size=population_sizes)
def test_fixed_is_the_base_probability(time, probability, size):
    assert Fixed()(*time, probability, size) == probability


@PROPERTY
@given(
    schedule=st.one_of(
        st.builds(Increase),
        st.builds(Population),
        st.builds(Exponential, steepness=steepnesses),
        st.builds(FinalN, fraction=unit_fractions),
        st.builds(PruneAfter),
    ),
    pair=two_times(),
    probability=probabilities,
    size=population_sizes,
)
def test_rising_schedules_never_fall(schedule, pair, probability, size):
    earlier, later, total = pair
    assert schedule(earlier, total, probability, size) <= schedule(later, total, probability, size)


@PROPERTY
@given(pair=two_times(), probability=probabilities, size=population_sizes)
def test_decrease_never_rises_and_stays_above_one_minus_p(pair, probability, size):
    earlier, later, total = pair
    first = Decrease()(earlier, total, probability, size)
    second = Decrease()(later, total, probability, size)
    assert second <= first
    assert 1.0 - probability <= second <= 1.0 and first <= 1.0


@PROPERTY
@given(time=times(), probability=probabilities, size=population_sizes, steepness=steepnesses)
def test_rising_schedules_stay_below_p_and_start_at_zero(time, probability, size, steepness):
    for schedule in (Increase(), Population(), Exponential(steepness)):
        assert 0.0 <= schedule(*time, probability, size) <= probability
        assert schedule(0, time[1], probability, size) == 0.0
    assert Population()(*time, probability, size) <= Increase()(*time, probability, size)


@PROPERTY
@example(fraction=0.07, total=100, probability=1.0)  # 0.07 * 100 == 7.000000000000001
@example(fraction=0.28, total=25, probability=1.0)
@given(
    fraction=st.one_of(st.integers(0, 100).map(lambda percent: percent / 100), unit_fractions),
    total=st.integers(1, 2_000) | st.sampled_from([25, 50, 100, 1000]),
    probability=probabilities,
)
def test_final_n_is_p_in_the_last_fraction_of_generations_and_zero_before(
    fraction, total, probability
):
    # the window is the last ceil(fraction x T) generations, with the fraction as written:
    # 7% of 100 generations is 7 of them
    window = math.ceil(Fraction(repr(fraction)) * total)
    expected = [0.0] * (total - window) + [probability] * window
    assert [FinalN(fraction)(g, total, probability) for g in range(total)] == expected


@PROPERTY
@given(total=st.integers(1, 2_000), probability=probabilities)
def test_prune_after_is_p_at_the_last_generation_only(total, probability):
    values_ = [PruneAfter()(g, total, probability) for g in range(total)]
    assert values_ == [0.0] * (total - 1) + [probability]


@PROPERTY
@given(schedule=schedules, total=st.integers(-3, 50), generation=st.integers(-50, 100))
def test_generations_outside_the_run_are_refused(schedule, total, generation):
    if total >= 1 and 0 <= generation < total:
        schedule(generation, total, 0.5)
    else:
        with pytest.raises(ConfigError, match="generation"):
            schedule(generation, total, 0.5)
