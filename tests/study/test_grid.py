"""The operator x schedule grid's pure helpers, on hand-made names and values."""

import pytest

from lit_evoae.study.grid import (
    Summary,
    best_and_ties,
    cells,
    grid_axes,
    pareto_front,
    variant_at,
)
from lit_evoae.study.report import compare, holm


def test_a_variant_sits_where_its_runs_recorded_their_pruning():
    variants = {
        "my_fancy_prune": [{"operator": "random", "schedule": "fixed"}],
        "old": [{}],  # a record older than the fields
    }
    found = cells(variants)
    assert found == {"my_fancy_prune": ("random", "fixed"), "old": ("unknown", "unknown")}
    assert variant_at(found, ("random", "fixed")) == "my_fancy_prune"
    assert variant_at(found, ("random", "final_n")) is None


def test_axes_keep_the_papers_order_and_put_other_classes_last():
    found = [
        ("none", "none"),
        ("magnitude", "fixed"),
        ("random", "final_n"),
        ("random", "fixed"),
        ("lottery", "warm"),
        ("unknown", "fixed"),
    ]
    assert grid_axes(found) == (["random", "magnitude", "lottery"], ["fixed", "final_n", "warm"])


def test_the_pareto_front_keeps_what_nothing_dominates():
    points = {"a": (0.1, 0.9), "b": (0.2, 0.5), "c": (0.3, 0.6), "d": (0.2, 0.5), "e": (0.4, 0.4)}
    assert pareto_front(points) == ["a", "b", "d", "e"]  # c is worse than b on both


def test_a_summary_is_the_median_and_quartiles():
    summary = Summary.of([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (summary.median, summary.low, summary.high, summary.n) == (3.0, 2.0, 4.0, 5)


def test_the_best_and_those_not_significantly_worse():
    values = {
        "best": [0.10, 0.11, 0.12, 0.13, 0.14, 0.15],
        "close": [0.105, 0.115, 0.125, 0.135, 0.145, 0.155],
        "worse": [0.30, 0.31, 0.32, 0.33, 0.34, 0.35],
    }
    found = best_and_ties(values, compare, holm, 0.05)
    assert found["best"] == "best" and found["ties"] == ["close"]
    assert found["p_holm"]["worse"] < 0.05 <= found["p_holm"]["close"]
    assert found["effect"]["worse"] == 1.0  # every "worse" value above every "best" one
    values["close"] = [v + 0.2 for v in values["close"]]
    assert best_and_ties(values, compare, holm, 0.05)["ties"] == []


def test_too_few_trials_to_test_leave_a_variant_tied():
    found = best_and_ties({"a": [0.1], "b": [0.2]}, compare, holm, 0.05)
    assert found == {"best": "a", "ties": ["b"], "p_holm": {}, "effect": {}}


@pytest.mark.parametrize("values", [[0.1, 0.2], [0.3]])
def test_a_summary_of_few_values_is_still_defined(values):
    assert Summary.of(values).n == len(values)
