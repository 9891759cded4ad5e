import math

import pytest
import torch

from lit_evoae.pruning.coverage import coverage, mask_diversity, uniformity


def test_every_position_pruned_once_is_full_coverage_and_perfect_uniformity():
    counts = torch.ones(12, dtype=torch.int32)
    assert coverage(counts).item() == 1.0
    assert uniformity(counts).item() == pytest.approx(1.0)


def test_one_position_pruned_repeatedly_covers_one_in_p_with_no_uniformity():
    counts = torch.zeros(12, dtype=torch.int32)
    counts[3] = 9
    assert coverage(counts).item() == pytest.approx(1 / 12)
    assert uniformity(counts).item() == pytest.approx(0.0)


def test_half_the_positions_pruned_equally_is_half_coverage_and_log_ratio_uniformity():
    counts = torch.tensor([[2, 2, 0, 0], [1, 0, 0, 0]])
    torch.testing.assert_close(coverage(counts), torch.tensor([0.5, 0.25]))
    torch.testing.assert_close(uniformity(counts), torch.tensor([0.5, 0.0]))  # log 2 / log 4


def test_no_prune_event_leaves_uniformity_undefined():
    assert math.isnan(uniformity(torch.zeros(5, dtype=torch.int32)).item())
    assert coverage(torch.zeros(5, dtype=torch.int32)).item() == 0.0


def test_identical_masks_have_no_diversity_and_disjoint_masks_full_diversity():
    mask = torch.tensor([True, False, True, False, False, True])
    assert mask_diversity(torch.stack([mask, mask, mask])).item() == 0.0
    disjoint = torch.eye(4, dtype=torch.bool)
    assert mask_diversity(disjoint).item() == 1.0


def test_diversity_is_the_mean_jaccard_distance_over_pairs_with_any_pruning():
    sets = torch.tensor(
        [[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]], dtype=torch.bool
    )  # pairs: (0,1) share 1 of 3 -> 2/3; pairs with the empty set: 1 each
    assert mask_diversity(sets).item() == pytest.approx((2 / 3 + 1 + 1) / 3)
    empty = torch.zeros(3, 4, dtype=torch.bool)
    assert math.isnan(mask_diversity(empty).item())  # nothing pruned: no pair counts
    assert math.isnan(mask_diversity(sets[:1]).item())  # one network: no pair


def test_measures_work_per_trial_over_leading_dimensions():
    trials = torch.stack([torch.eye(3, dtype=torch.bool), torch.ones(3, 3, dtype=torch.bool)])
    torch.testing.assert_close(mask_diversity(trials), torch.tensor([1.0, 0.0]))
