"""The plots on hand-made results: one file each, n under every box, curves in epoch order."""

import csv
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from hand_made import write_result

from lit_evoae import keys
from lit_evoae.study import plots
from lit_evoae.study.results import load_results


@pytest.fixture
def results(tmp_path):
    for pruning, values in {"none": [0.3, 0.32, 0.31], "random_fixed": [0.2, 0.25]}.items():
        for trial, value in enumerate(values):
            record = {
                keys.TEST_L1: value,
                "choices": {"pruning": pruning},
                keys.MODEL_SPARSITY: 0.1 * trial,
                keys.FINAL_TRAIN_L1_MEAN: value + 0.01,
            }
            folder = write_result(tmp_path, pruning, trial, record)
            with (folder / keys.METRICS_CSV).open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["epoch", keys.VAL_L1])
                writer.writerows([[2, value], [0, value + 0.2], [1, value + 0.1], [1, ""]])
    return load_results(tmp_path)


@pytest.mark.integration
def test_every_plot_is_written_and_the_papers_metric_only_when_logged(results, tmp_path):
    paths = plots.plot_all(results, tmp_path)
    assert [p.name for p in paths] == [
        "test_l1_boxplot.png",
        "test_l1_vs_sparsity.png",
        "val_l1_curves.png",
        "train_l1_mean_boxplot.png",
    ]
    assert all(p.stat().st_size > 1000 for p in paths)
    del results[0][keys.FINAL_TRAIN_L1_MEAN]
    assert len(plots.plot_all(results, tmp_path)) == 3


def test_boxes_say_n_under_each_variant(results, tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(
        plots, "save_figure", lambda figure, path, **_: figures.append(figure) or path
    )
    plots.plot_boxes(results, tmp_path / "boxes.png")
    labels = [tick.get_text() for tick in figures[0].axes[0].get_xticklabels()]
    assert labels == ["none\nn=3", "random_fixed\nn=2"]
    plt.close(figures[0])


def test_a_curve_is_read_in_epoch_order_skipping_rows_without_val_l1(results):
    curve = plots.read_curve(Path(results[0]["folder"]) / keys.METRICS_CSV)
    assert curve == pytest.approx([0.5, 0.4, 0.3])
