"""`lit-evoae-study plan`: the runner's runs and packs, and a cost from measured rates."""

import json
from pathlib import Path

import pytest
import yaml

from lit_evoae import keys
from lit_evoae.study.cli import main
from lit_evoae.study.fragments import shared_part
from lit_evoae.study.plan import Kind, plan_lines
from lit_evoae.study.runner import packs
from lit_evoae.study.spec import load_study

ROOT = Path(__file__).resolve().parents[2]


def two_kinds(folder: Path, base: dict) -> Path:
    """2 pruning variants x 2 regimes (two kinds of run), 3 trials, 2 generations."""
    base["data"]["init_args"]["data_dir"] = str(folder / "data")
    (folder / "base.yaml").write_text(yaml.safe_dump(base))
    study = {
        "name": "planned",
        "base": ["base.yaml"],
        "trials": 3,
        "grid": {
            "regime": {
                "coevolution": {},
                "canonical": {"model.class_path": "lit_evoae.systems.CanonicalAutoencoder"},
            },
            "pruning": [
                str(ROOT / "callbacks" / f"{name}.yaml") for name in ("none", "random_fixed")
            ],
        },
    }
    (folder / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
    return folder / "study.yaml"


def test_the_plan_is_the_runners_packs_and_trains_nothing(tmp_path, tiny_coevolution, capsys):
    study = two_kinds(tmp_path, tiny_coevolution)
    main(["plan", "--study", str(study), "--pack", "4", "--workers", "1"])
    printed = capsys.readouterr().out.strip().splitlines()
    runs = load_study(study).runs()
    groups = packs(runs, 4)  # what `run --pack 4` makes
    assert printed[-4].startswith("planned: 4 variants, 12 runs, 2 kind(s) of run")
    assert f"{len(groups)} process(es)" in printed[-4]
    for line in printed[-3:-1]:
        assert "6 runs of 2 variant(s), 12 trial-generations, in 2 pack(s) of up to 4" in line
        assert line.endswith("cost unknown")
    assert printed[-1].startswith("projected cost: unknown for 2 kind(s); add --calibrate")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.yaml", "study.yaml"]


def test_rates_of_finished_runs_give_the_cost(tmp_path, tiny_coevolution, capsys):
    """A pack of 3 trials x 2 generations in 4 s: 1.5 trial-generations/s, counted once."""
    study = two_kinds(tmp_path, tiny_coevolution)
    out = tmp_path / "runs"
    for run in load_study(study).runs():
        if dict(run.choices)["regime"] == "coevolution" and run.trial < 3:
            folder = run.folder(out)
            folder.mkdir(parents=True)
            (folder / keys.METRICS_CSV).write_text("epoch,val/l1\n0,0.5\n1,0.4\n")
            (folder / keys.RESULT).write_text(
                json.dumps({"seconds": 4.0, "packed_with": 3, "epochs": 2, "trial": run.trial})
            )
    main(["plan", "--study", str(study), "--out", str(out), "--workers", "1"])
    printed = capsys.readouterr().out
    assert "1.50 trial-generations/s (the median of 6 runs finished in" in printed
    assert "cost unknown" in printed  # the canonical runs: none finished, none calibrated


def test_cost_lines_add_each_kinds_trial_generations_over_its_rate():
    study = load_study(ROOT / "configs" / "studies" / "pruning_demo.yaml")
    runs = study.runs(2)
    first, second = (
        [r for r in runs if shared_part(r) == k]
        for k in {shared_part(runs[0]), shared_part(runs[-1])}
    )
    kinds = [Kind(first, 4, 2, 2.0, "a"), Kind(second, 8, 1, 4.0, "b")]
    lines = plan_lines(study, kinds, workers=2, threads=1)
    seconds = 8 * 50 / 2.0 + 8 * 50 / 4.0  # 8 runs of 50 generations each
    assert lines[-1] == (
        f"projected cost: {seconds / 3600:.1f} core-hours, about "
        f"{seconds / 3600 / 2:.1f} hours with 2 worker(s) on this machine"
    )


@pytest.mark.integration
def test_calibrate_times_a_pack_of_each_kind(tmp_path, tiny_coevolution, capsys):
    study = two_kinds(tmp_path, tiny_coevolution)
    main(["plan", "--study", str(study), "--pack", "2", "--workers", "1", "--calibrate"])
    printed = capsys.readouterr().out
    assert printed.count("(timed now: a pack of 2)") == 2
    assert "projected cost: " in printed and "core-hours" in printed


def test_a_study_that_cannot_run_is_the_same_one_line_error(tmp_path, capsys):
    (tmp_path / "study.yaml").write_text(
        yaml.safe_dump({"name": "broken", "base": ["missing.yaml"]})
    )
    with pytest.raises(SystemExit) as exited:
        main(["plan", "--study", str(tmp_path / "study.yaml")])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "missing.yaml" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
