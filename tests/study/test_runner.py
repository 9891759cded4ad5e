"""A real tiny study through `lit-evoae-study run`: 2 variants x 2 trials x 2 epochs."""

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from lit_evoae import keys
from lit_evoae.study.cli import main

ROOT = Path(__file__).resolve().parents[2]


def make_study(folder: Path, base: dict, **grid_overrides) -> Path:
    base["data"]["init_args"]["data_dir"] = str(folder / "data")
    (folder / "base.yaml").write_text(yaml.safe_dump(base))
    study = {
        "name": "tiny",
        "base": ["base.yaml"],
        "trials": 2,
        "grid": {
            "pruning": [
                str(ROOT / "callbacks" / "none.yaml"),
                str(ROOT / "callbacks" / "random_fixed.yaml"),
            ],
            **grid_overrides,
        },
        "overrides": {"pruning.probability": 1.0},
    }
    (folder / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
    return folder / "study.yaml"


def results(out: Path) -> dict[tuple[str, int], dict]:
    found = {}
    for path in out.glob("*/trial_*/result.json"):
        result = json.loads(path.read_text())
        found[(result["variant"], result["trial"])] = result
    return found


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory, tiny_coevolution_template):
    folder = tmp_path_factory.mktemp("study")
    study = make_study(folder, copy.deepcopy(tiny_coevolution_template))
    main(["run", "--study", str(study), "--out", str(folder / "runs"), "--workers", "2"])
    return study, folder / "runs"


@pytest.mark.slow  # a subprocess, DDP or SLURM run
def test_every_run_writes_its_folder_and_result(finished_study):
    _, out = finished_study
    found = results(out)
    assert sorted(found) == [("none", 0), ("none", 1), ("random_fixed", 0), ("random_fixed", 1)]
    for (variant, _), result in found.items():
        assert 0 < result[keys.TEST_L1] < 1 and result["epochs"] == 2
        assert (result[keys.MODEL_SPARSITY] > 0) == (variant == "random_fixed")
    run = out / "random_fixed" / "trial_001"
    assert {"config.yaml", keys.METRICS_CSV, "log.txt", keys.BEST_AUTOENCODER} <= {
        p.name for p in run.iterdir()
    }
    assert (
        yaml.safe_load((run / "config.yaml").read_text())["seed_everything"]
        == found[("random_fixed", 1)]["seed"]
    )
    assert len(json.loads((out / keys.PLAN).read_text())["runs"]) == 4


@pytest.mark.slow  # a subprocess, DDP or SLURM run
def test_rerun_skips_finished_runs(finished_study, capsys):
    study, out = finished_study
    before = {path: path.stat().st_mtime_ns for path in out.glob("*/trial_*/result.json")}
    main(["run", "--study", str(study), "--out", str(out), "--workers", "2"])
    assert "0 runs finished, 4 already done" in capsys.readouterr().out
    assert before == {path: path.stat().st_mtime_ns for path in out.glob("*/trial_*/result.json")}


@pytest.mark.slow  # a subprocess, DDP or SLURM run
def test_an_interrupted_study_resumes_without_redoing_work(tmp_path, tiny_coevolution):
    study = make_study(tmp_path, tiny_coevolution)
    out = tmp_path / "runs"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lit_evoae.study.cli",
            "run",
            "--study",
            str(study),
            "--out",
            str(out),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not list(out.glob("*/trial_*/result.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the study and its running fit, mid-way
    process.wait()
    first = {path: path.read_text() for path in out.glob("*/trial_*/result.json")}
    assert len(first) == 1
    main(["run", "--study", str(study), "--out", str(out), "--workers", "2"])
    assert len(results(out)) == 4
    assert all(path.read_text() == text for path, text in first.items())  # not redone


@pytest.mark.slow  # a subprocess, DDP or SLURM run
def test_a_failing_run_is_reported_and_left_unfinished(tmp_path, capsys, tiny_coevolution):
    study = make_study(tmp_path, tiny_coevolution, size={"broken": {"data.init_args.dim": -1}})
    with pytest.raises(SystemExit) as exited:
        main(
            [
                "run",
                "--study",
                str(study),
                "--out",
                str(tmp_path / "runs"),
                "--workers",
                "2",
                "--trials",
                "1",
            ]
        )
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "none__broken trial 0 failed; see" in err and "log.txt" in err
    assert results(tmp_path / "runs") == {}


def test_a_missing_study_file_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["run", "--study", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "runs")])
    assert exited.value.code == 2
    assert "lit-evoae-study: error: study file" in capsys.readouterr().err


@pytest.mark.slow  # a subprocess, DDP or SLURM run
def test_runs_can_log_to_wandb_grouped_by_variant(tmp_path, tiny_coevolution, monkeypatch):
    from test_wandb import run_records

    from lit_evoae.study.runner import run_one
    from lit_evoae.study.spec import load_study

    monkeypatch.setenv("WANDB_MODE", "offline")
    tiny_coevolution["trainer"]["max_epochs"] = 1
    run = load_study(make_study(tmp_path, tiny_coevolution)).runs()[2]  # random_fixed, trial 0
    out = tmp_path / "runs"
    result = run_one(run, out, wandb_project="tiny")
    assert result["epochs"] == 1  # the CSV log the result is read from is still there
    (offline,) = (run.folder(out) / "wandb").glob("offline-run-*")
    (described,) = [r.run for r in run_records(offline) if r.WhichOneof("record_type") == "run"]
    assert (described.project, described.run_group) == ("tiny", "random_fixed")
    assert described.display_name == "random_fixed/trial_000"
    assert list(described.tags) == ["pruning=random_fixed"]


@pytest.mark.slow  # a subprocess, DDP or SLURM run
def test_packed_trials_match_unpacked_ones_and_leave_the_same_files(
    tmp_path, finished_study, tiny_coevolution_template
):
    """--pack 2: both trials of a variant train as one process, each with its own seed; each
    trial's folder has what an unpacked run leaves, and its validation L1 per generation
    matches the unpacked run of the same trial (1e-5)."""
    study, unpacked = finished_study
    out = tmp_path / "packed"
    main(["run", "--study", str(study), "--out", str(out), "--workers", "1", "--pack", "2"])
    assert sorted(p.name for p in (out / "random_fixed").iterdir()) == [
        "pack_000-001",
        "trial_000",
        "trial_001",
    ]
    packed, alone = results(out), results(unpacked)
    assert sorted(packed) == sorted(alone)
    for key, result in packed.items():
        assert result["packed_with"] == 2 and result["seed"] == alone[key]["seed"]
        folder = out / key[0] / f"trial_{key[1]:03d}"
        assert {keys.METRICS_CSV, keys.BEST_AUTOENCODER, keys.RESULT} <= {
            p.name for p in folder.iterdir()
        }
        mine = metric_column(folder / keys.METRICS_CSV, keys.VAL_L1)
        theirs = metric_column(
            unpacked / key[0] / f"trial_{key[1]:03d}" / keys.METRICS_CSV, keys.VAL_L1
        )
        assert len(mine) == len(theirs) == 2
        assert mine == pytest.approx(theirs, abs=1e-5, rel=0)
        assert result[keys.TEST_L1] == pytest.approx(alone[key][keys.TEST_L1], abs=1e-5)
        assert result[keys.MODEL_SPARSITY] == pytest.approx(
            alone[key][keys.MODEL_SPARSITY], abs=1e-6
        )
    main(["report", str(out)])  # the report reads packed trials as it reads any


def metric_column(path: Path, key: str) -> list[float]:
    import csv

    with path.open() as handle:
        return [float(row[key]) for row in csv.DictReader(handle) if row.get(key)]


def test_packs_group_consecutive_trials_of_one_variant():
    from lit_evoae.study.runner import packs
    from lit_evoae.study.spec import Run

    runs = [Run(variant, trial, trial, (), ()) for variant in ("a", "b") for trial in range(3)]
    assert [[(r.variant, r.trial) for r in group] for group in packs(runs, 2)] == [
        [("a", 0), ("a", 1)],
        [("a", 2)],
        [("b", 0), ("b", 1)],
        [("b", 2)],
    ]
    assert len(packs(runs, 1)) == 6


@pytest.mark.slow  # a subprocess, DDP or SLURM run
def test_a_canonical_variant_asked_to_pack_runs_its_trials_alone(
    tmp_path, tiny_coevolution_template
):
    base = copy.deepcopy(tiny_coevolution_template)
    base["model"] = {
        "class_path": "lit_evoae.systems.CanonicalAutoencoder",
        "init_args": {"hidden_sizes": [8], "latent_dim": 3, "lr": 0.01},
    }
    study = make_study(tmp_path, base)
    main(
        [
            "run",
            "--study",
            str(study),
            "--out",
            str(tmp_path / "runs"),
            "--workers",
            "1",
            "--pack",
            "2",
            "--trials",
            "2",
        ]
    )
    found = results(tmp_path / "runs")
    assert len(found) == 4 and all("packed_with" not in result for result in found.values())


def test_set_and_only_are_recorded_in_study_json(tmp_path, tiny_coevolution, monkeypatch):
    import lit_evoae.study.runner as runner

    monkeypatch.setattr(runner, "run_group", lambda *args, **kwargs: None)  # plan only
    study = make_study(tmp_path, tiny_coevolution)
    main(
        [
            "run",
            "--study",
            str(study),
            "--out",
            str(tmp_path / "runs"),
            "--trials",
            "1",
            "--only",
            "random*",
            "--set",
            "trainer.max_epochs=3",
        ]
    )
    plan = json.loads((tmp_path / "runs" / keys.PLAN).read_text())
    assert plan["only"] == ["random*"]
    assert plan["set"] == [["trainer.max_epochs", 3]]
    assert {run["variant"] for run in plan["runs"]} == {"random_fixed"}
    assert all(["trainer.max_epochs", 3] == run["overrides"][-1] for run in plan["runs"])
