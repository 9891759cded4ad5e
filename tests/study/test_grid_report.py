"""The report's grid sections on hand-made results: heatmaps, Pareto front, size curves and
the best combination, in two regimes and a group that has one variant."""

import csv

import matplotlib.pyplot as plt
import pytest
from hand_made import pruned_with, write_result

from lit_evoae import keys
from lit_evoae.study import grid_plots
from lit_evoae.study.report import write_report
from lit_evoae.study.results import by_group, load_results

QUALITY = {  # (regime, pruning): final/train_l1_mean of each trial; capacity goes with it
    ("canonical", "none"): ([0.27, 0.26, 0.28], 1.0),
    ("canonical", "random_fixed"): ([0.50, 0.52, 0.51], 0.6),
    ("canonical", "random_exponential"): ([0.45, 0.46, 0.44], 0.7),
    ("canonical", "conjunctive_fixed"): ([0.27, 0.28, 0.29], 0.75),
    ("coevolution", "none"): ([0.15, 0.14, 0.16], 1.0),
    ("coevolution", "random_exponential"): ([0.10, 0.09, 0.11], 0.9),
}


@pytest.fixture
def out(tmp_path):
    entries = {**QUALITY, ("tiny", "none"): ([0.3, 0.31], 1.0)}
    for (regime, pruning), (values, capacity) in entries.items():
        for trial, value in enumerate(values):
            record = {
                "choices": {"regime": regime, "pruning": pruning},
                **pruned_with(pruning),
                keys.TEST_L1: value,
                keys.MODEL_SPARSITY: 1 - capacity,
                keys.FINAL_TRAIN_L1_MEAN: value,
                keys.final("capacity"): capacity,
                keys.MODEL_ENCODER_LIVE: 100 * capacity,
            }
            folder = write_result(tmp_path, f"{regime}__{pruning}", trial, record)
            with (folder / keys.METRICS_CSV).open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(
                    ["epoch", keys.VAL_L1, keys.MODEL_ENCODER_LIVE, keys.MODEL_DECODER_LIVE]
                )
                for epoch in range(4):
                    live = 100 - (100 - 100 * capacity) * epoch / 3
                    writer.writerow([epoch, value, live, live + 10])
    return tmp_path


@pytest.mark.integration
def test_the_report_draws_the_grid_and_names_the_best_per_regime(out):
    folder = write_report(out)
    for name in ("heatmap_train_l1_mean", "heatmap_capacity", "pareto", "size_curves"):
        assert (folder / f"{name}.png").stat().st_size > 1000, name
    text = (folder / keys.REPORT_MD).read_text()
    assert "regime=tiny: no heatmap, it has 1 variant(s) and 0 with a known operator" in text
    assert "regime=canonical: best **none**" in text
    assert "regime=coevolution: best **random_exponential** (median 0.1000, n = 3)" in text
    # canonical: none (0.27, 1.0), conjunctive_fixed (0.28, 0.75), random_exponential
    # (0.45, 0.7) and random_fixed (0.51, 0.6) each trade quality for capacity: all on the front
    assert (
        "regime=canonical: Pareto front (train L1, capacity): none (0.2700, 1.000), "
        "conjunctive_fixed (0.2800, 0.750), random_exponential (0.4500, 0.700), "
        "random_fixed (0.5100, 0.600)" in text
    )
    assert "regime=coevolution: Pareto front (train L1, capacity): random_exponential" in text


def test_heatmaps_share_one_colour_scale_and_layout_and_show_missing_cells(out, monkeypatch):
    figures = []
    monkeypatch.setattr(grid_plots, "save_figure", lambda f, path, **_: figures.append(f) or path)
    drawn, skipped = grid_plots.heatmap_groups(by_group(load_results(out)))
    assert [group for group, _ in drawn] == ["regime=canonical", "regime=coevolution"]
    assert len(skipped) == 1
    grid_plots.plot_heatmaps(drawn, keys.FINAL_TRAIN_L1_MEAN, "L1", out / "h.png")
    (figure,) = figures
    panels = [axis for axis in figure.axes if axis.get_images()]
    scales = {axis.get_images()[0].get_clim() for axis in panels}
    assert scales == {(0.1, 0.51)}  # both regimes' medians on one scale
    texts = [[t.get_text() for t in axis.texts] for axis in panels]
    assert "0.100\nn=3" in texts[1] and "0.270\nn=3" in texts[0]
    assert texts[0].count("not run") == 1  # conjunctive_exponential: the missing cell
    # One layout for both: what canonical has and coevolution lacks shows as not run there
    # (random_fixed, conjunctive_fixed, conjunctive_exponential).
    assert texts[1].count("not run") == 3
    for panel in panels:
        assert [t.get_text() for t in panel.get_yticklabels()] == ["random", "conjunctive", "none"]
        assert [t.get_text() for t in panel.get_xticklabels()] == ["fixed", "exponential"]
    plt.close(figure)


def test_the_report_sets_the_groups_side_by_side_per_pruning(out):
    """Across groups: `none` in three regimes (tiny's two runs too few to test), and
    random_exponential in two; variants in one group only have no row."""
    text = (write_report(out) / keys.REPORT_MD).read_text()
    across = text.split("## Across groups")[1].split("\n## ")[0]
    rows = [line for line in across.splitlines() if line.startswith("| none") or "random" in line]
    assert rows == [
        "| none | regime=canonical | 3 | 0.2700 | 0.0100 | 0.2 | +1.00 |",
        "| none | regime=coevolution | 3 | 0.1500 | 0.0100 | lowest | – |",
        "| none | regime=tiny | 2 | 0.3050 | 0.0050 | 0.2 | +1.00 |",
        "| random_exponential | regime=canonical | 3 | 0.4500 | 0.0100 | 0.1 | +1.00 |",
        "| random_exponential | regime=coevolution | 3 | 0.1000 | 0.0100 | lowest | – |",
    ]


def test_a_study_without_a_pruning_axis_compares_its_groups(tmp_path):
    """A study of networks, say, without pruning: each group holds one variant, so only the
    side-by-side table compares them."""
    quality = {"standard": [0.10, 0.11, 0.12, 0.13, 0.14], "large": [0.20, 0.21, 0.22, 0.23, 0.24]}
    quality["small"] = [0.105, 0.115, 0.125, 0.135, 0.145]
    for network, values in quality.items():
        for trial, value in enumerate(values):
            record = {
                "choices": {"network": network},
                **pruned_with("none"),
                keys.TEST_L1: value,
                keys.MODEL_SPARSITY: 0.0,
                keys.FINAL_TRAIN_L1_MEAN: value,
            }
            folder = write_result(tmp_path, network, trial, record)
            (folder / keys.METRICS_CSV).write_text(f"epoch,{keys.VAL_L1}\n0,{value}\n")
    text = (write_report(tmp_path) / keys.REPORT_MD).read_text()
    across = text.split("## Across groups")[1]
    # 5 against 5, fully apart: exact two-sided p = 2/252, doubled by Holm over two tests;
    # small against standard: p = 0.69 (exact), Holm keeps the larger of 2*0.0079 and 0.69.
    assert "| none | network=large | 5 | 0.2200 | 0.0200 | 0.0159 | +1.00 |" in across
    assert "| none | network=standard | 5 | 0.1200 | 0.0200 | lowest | – |" in across
    assert "| none | network=small | 5 | 0.1250 | 0.0200 | 0.69 | +0.20 |" in across
