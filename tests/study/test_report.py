"""The report on hand-made results: numbers, tests and plots."""

import csv
import json

import pytest
from hand_made import pruned_with
from scipy.stats import mannwhitneyu

from lit_evoae import keys
from lit_evoae.errors import DataError
from lit_evoae.study.cli import main
from lit_evoae.study.report import (
    baseline,
    compare,
    holm,
    load_results,
    small_n_warning,
    summarise,
)

L1 = {  # per (regime, pruning): final test L1 of 4 trials
    ("canonical", "none"): [0.30, 0.31, 0.32, 0.33],
    ("canonical", "random_fixed"): [0.40, 0.41, 0.42, 0.43],
    ("canonical", "variance_fixed"): [0.20, 0.21, 0.22, 0.23],
    ("coevolution", "none"): [0.10, 0.12, 0.11, 0.13],
    ("coevolution", "variance_fixed"): [0.11, 0.10, 0.13, 0.12],
}


@pytest.fixture
def study(tmp_path):
    for (regime, pruning), values in L1.items():
        for trial, value in enumerate(values):
            folder = tmp_path / f"{regime}__{pruning}" / f"trial_{trial:03d}"
            folder.mkdir(parents=True)
            result = {
                "variant": f"{regime}__{pruning}",
                "trial": trial,
                "seed": trial,
                "choices": {"regime": regime, "pruning": pruning},
                **pruned_with(pruning),
                keys.TEST_L1: value,
                keys.MODEL_SPARSITY: 0.0 if pruning == "none" else 0.3,
            }
            (folder / keys.RESULT).write_text(json.dumps(result))
            with (folder / keys.METRICS_CSV).open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["epoch", keys.VAL_L1])
                writer.writerows([[epoch, value + 0.1 / (epoch + 1)] for epoch in range(5)])
    return tmp_path


def test_holm_adjusts_in_step_down_order():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5] and holm([0.9, 0.8]) == [1.0, 1.0]


def test_effect_size_is_the_rank_biserial_correlation():
    p_value, effect = compare([0.4, 0.5, 0.6], [0.1, 0.2, 0.3])
    assert effect == 1.0  # every variant run is worse than every baseline run
    assert p_value == pytest.approx(mannwhitneyu([0.4, 0.5, 0.6], [0.1, 0.2, 0.3]).pvalue)
    assert compare([0.1, 0.2], [0.1, 0.2])[1] == 0.0


def test_baselines_pair_schedules_by_what_the_variants_prune_with_not_their_names():
    found = {
        "mine": ("variance", "exponential"),
        "plain": ("random", "exponential"),
        "random_fixed": ("random", "fixed"),
        "control": ("none", "none"),
        "odd": ("unknown", "unknown"),
    }
    assert baseline("mine", found, "random") == "plain"
    assert baseline("mine", found, "none") == "control"
    assert baseline("mine", found, "magnitude") is None  # the group has none
    assert baseline("plain", found, "random") is None and baseline("control", found, "none") is None
    assert baseline("odd", found, "random") is None and baseline("odd", found, "none") == "control"


def test_tables_per_group_with_medians_and_corrected_tests(study):
    tables = summarise(load_results(study))
    assert sorted(tables) == ["regime=canonical", "regime=coevolution"]
    rows = {row["variant"]: row for row in tables["regime=canonical"]}
    assert rows["none"]["median_test_l1"] == pytest.approx(0.315)
    assert rows["variance_fixed"]["iqr_test_l1"] == pytest.approx(0.015)
    assert rows["variance_fixed"]["effect_vs_none"] == -1.0  # always better than no pruning
    assert rows["variance_fixed"]["effect_vs_random"] == -1.0
    raw = mannwhitneyu(L1[("canonical", "variance_fixed")], L1[("canonical", "none")]).pvalue
    assert rows["variance_fixed"]["p_vs_none_holm"] == pytest.approx(min(1.0, 2 * raw))
    assert "p_vs_none_holm" not in rows["none"]
    for table in tables.values():
        for row in table:
            for key, value in row.items():
                if key.startswith("p_"):
                    assert 0.0 <= value <= 1.0


@pytest.mark.integration
def test_report_command_writes_tables_and_plots(study, capsys):
    main(["report", str(study)])
    printed = capsys.readouterr().out
    assert "## regime=canonical" in printed and "variance_fixed" in printed
    folder = study / "report"
    with (folder / "report.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5 and {row["group"] for row in rows} == {
        "regime=canonical",
        "regime=coevolution",
    }
    for name in ("test_l1_boxplot.png", "test_l1_vs_sparsity.png", "val_l1_curves.png"):
        data = (folder / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000


def test_report_on_an_empty_folder_says_so(tmp_path):
    with pytest.raises(DataError, match="no finished runs"):
        load_results(tmp_path)


@pytest.mark.integration
def test_report_warns_when_n_is_too_small_for_any_significance(study, capsys):
    main(["report", str(study)])  # n = 4 per variant: p < 0.05 is reachable
    assert "too few" not in capsys.readouterr().out
    for folder in study.glob("*/trial_00[1-3]"):  # keep one trial per variant
        (folder / keys.RESULT).unlink()
    main(["report", str(study)])
    printed = capsys.readouterr().out
    assert printed.count("n = 1 trials per variant is too few") == 2  # once per group
    assert "the smallest possible p is 1" in printed


@pytest.mark.integration
def test_the_report_and_its_plots_say_how_the_runs_were_made(study, monkeypatch):
    from lit_evoae.study import grid_plots, plots, report

    history = [
        {"set": [], "only": ["canonical__*"]},
        {"set": [["trainer.max_epochs", 5]], "only": []},
    ]
    (study / keys.PLAN).write_text(json.dumps({"runs": [], "history": history}))
    expected = "made with: --only 'canonical__*'; then --set trainer.max_epochs=5"
    assert report.made_with(study) == expected
    subtitles = []
    original = plots.save_figure

    def save(figure, path, tight=True, subtitle=""):
        subtitles.append(subtitle)
        return original(figure, path, tight, subtitle)

    monkeypatch.setattr(plots, "save_figure", save)
    monkeypatch.setattr(grid_plots, "save_figure", save)
    folder = report.write_report(study)
    assert f"Runs {expected}." in (folder / keys.REPORT_MD).read_text()
    with (folder / keys.REPORT_CSV).open() as handle:
        assert {row["made_with"] for row in csv.DictReader(handle)} == {expected}
    assert len(subtitles) >= 4 and set(subtitles) == {expected}


def test_a_study_run_as_written_says_so(study):
    from lit_evoae.study.report import made_with

    (study / keys.PLAN).write_text(json.dumps({"runs": [], "set": [], "only": []}))
    assert made_with(study) == "made with: the study file as written (no --set, no --only)"


def test_the_small_n_warning_names_the_variants_still_too_small_to_test():
    rows = [
        {"variant": "none", "n": 5, **pruned_with("none")},
        {"variant": "random_fixed", "n": 5, **pruned_with("random_fixed")},
        {"variant": "random_final_n", "n": 2, **pruned_with("random_final_n")},  # still running
    ]
    warning = small_n_warning(rows)
    assert warning.startswith("**Warning:** the trials of random_final_n (n = 2) are too few")
    assert "the other rows are testable" in warning
    assert small_n_warning([{**row, "n": 5} for row in rows]) is None
    everyone = small_n_warning([{**row, "n": 1} for row in rows])
    assert everyone.startswith("**Warning:** n = 1 trials per variant is too few")
