"""`lit-evoae-study slurm`: array scripts rendered, chunked and submitted to a real SLURM."""

import copy
import csv
import json
import time
from pathlib import Path

import pytest
import yaml
from test_runner import make_study, results

from lit_evoae import keys
from lit_evoae.errors import ConfigError
from lit_evoae.study.cli import main
from lit_evoae.study.folders import run_lock
from lit_evoae.study.locks import locked
from lit_evoae.study.slurm import PLACEHOLDER, _ranges, array_chunks, render
from lit_evoae.study.spec import load_study
from lit_evoae.study.status import planned_runs

pytestmark = pytest.mark.slow  # a real SLURM


def test_array_ranges_use_slurm_syntax():
    assert _ranges([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert _ranges([4]) == "4"


def test_large_studies_are_split_into_arrays_below_the_cluster_limit():
    chunks = array_chunks([0, 1, 2, 3, 5, 9, 10, 11], max_size=4)
    assert chunks == [(0, "0-3"), (5, "0"), (9, "0-2")]
    covered = []
    for offset, spec in chunks:
        for part in spec.split(","):
            low, _, high = part.partition("-")
            covered += [offset + i for i in range(int(low), int(high or low) + 1)]
    assert covered == [0, 1, 2, 3, 5, 9, 10, 11]


def test_a_template_field_nothing_fills_is_an_error():
    with pytest.raises(ConfigError, match=r"\['partition'\]"):
        render("#SBATCH --partition=@{partition}\nsrun x $@ @90", {})
    assert render("a @{x} $@ @90", {"x": 1}) == "a 1 $@ @90"


@pytest.fixture
def tiny_study(tmp_path, tiny_coevolution) -> Path:
    return make_study(tmp_path, tiny_coevolution)


def test_dry_run_writes_scripts_for_unfinished_runs_only(tiny_study, tmp_path, capsys):
    out = tmp_path / "runs"
    runs = load_study(tiny_study).runs()
    finished = runs[1].folder(out)
    finished.mkdir(parents=True)
    (finished / keys.RESULT).write_text("{}")
    main(
        [
            "slurm",
            "--study",
            str(tiny_study),
            "--out",
            str(out),
            "--dry-run",
            "--parallel",
            "2",
            "--sbatch=--partition=debug --account=me",
        ]
    )
    printed = capsys.readouterr().out
    (script,) = out.glob("slurm/*/array_000.sbatch")
    text = script.read_text()
    assert not PLACEHOLDER.search(text)
    assert "#SBATCH --array=0,2-3%2" in text  # run 1 had finished
    assert f"--plan {script.parent / 'plan.json'} --index $((SLURM_ARRAY_TASK_ID + 0))" in text
    assert "would run: sbatch --parsable --partition=debug --account=me" in printed
    assert "jobs: none (dry run)" in printed
    plan = json.loads((script.parent / "plan.json").read_text())
    assert [(r["variant"], r["trial"]) for r in plan["runs"]] == [
        (r.variant, r.trial) for r in runs
    ]


def test_a_task_index_outside_the_plan_is_a_clear_error(tiny_study, tmp_path, capsys):
    out = tmp_path / "runs"
    main(["slurm", "--study", str(tiny_study), "--out", str(out), "--dry-run"])
    (plan,) = out.glob("slurm/*/plan.json")
    with pytest.raises(SystemExit) as exited:
        main(["task", "--plan", str(plan), "--index", "4"])
    assert exited.value.code == 2
    assert "--index 4 is outside the plan" in capsys.readouterr().err


def test_a_study_runs_as_an_array_on_a_real_slurm(
    local_slurm, tmp_path, tiny_coevolution, monkeypatch, capsys
):
    monkeypatch.setenv("SLURM_CONF", str(local_slurm.conf))
    study = make_study(tmp_path, copy.deepcopy(tiny_coevolution))
    out = tmp_path / "runs"
    main(
        [
            "slurm",
            "--study",
            str(study),
            "--out",
            str(out),
            "--cpus-per-task",
            "1",
            "--time",
            "00:10:00",
        ]
    )
    assert "4 runs in 4 array task(s) of 1 array(s)" in capsys.readouterr().out
    local_slurm.wait_until_empty(timeout=300)
    logs = "\n".join(p.read_text() for p in out.glob("slurm/*/logs/*.out"))
    found = results(out)
    assert sorted(found) == [("none", 0), ("none", 1), ("random_fixed", 0), ("random_fixed", 1)], (
        logs
    )
    assert all(0 < result[keys.TEST_L1] < 1 and result["epochs"] == 2 for result in found.values())
    assert len(list(out.glob("slurm/*/logs/*_[0-3].out"))) == 4
    # Submitting again finds nothing left to do.
    main(["slurm", "--study", str(study), "--out", str(out)])
    assert "nothing to submit" in capsys.readouterr().out
    main(["report", str(out)])
    assert (out / "report" / "report.md").is_file()


def preempt_mid_run(local_slurm, task: str, folder: Path, deadline: float) -> None:
    """Once the run in `folder` has logged, send SLURM's warning signal to `task`; wait for
    its checkpoint, then start the requeued task at once (skipping SLURM's requeue delay)."""
    while not list(folder.rglob(keys.METRICS_CSV)):  # it has trained a while
        assert time.monotonic() < deadline, f"{folder} never logged"
        time.sleep(0.5)
    local_slurm.command("scancel", "--signal=USR1", task)
    while not list(folder.rglob("hpc_ckpt_*.ckpt")):
        assert time.monotonic() < deadline, "no checkpoint after the signal"
        time.sleep(0.5)
    time.sleep(3)  # let the requeue land
    local_slurm.command("scontrol", "update", f"JobId={task}", "StartTime=now", check=False)


def test_a_preempted_array_task_is_requeued_and_resumes(
    local_slurm, tmp_path, tiny_coevolution, monkeypatch, capsys
):
    """SLURM's warning signal mid-run: Lightning checkpoints and requeues; nothing is lost."""
    monkeypatch.setenv("SLURM_CONF", str(local_slurm.conf))
    epochs = 500  # the first log lands at epoch 100; signalled then, 400 are left
    tiny_coevolution["trainer"]["max_epochs"] = epochs
    tiny_coevolution["data"]["init_args"]["data_dir"] = str(tmp_path / "data")
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(tiny_coevolution))
    (tmp_path / "study.yaml").write_text(yaml.safe_dump({"name": "pre", "base": ["base.yaml"]}))
    out = tmp_path / "runs"
    main(
        [
            "slurm",
            "--study",
            str(tmp_path / "study.yaml"),
            "--out",
            str(out),
            "--cpus-per-task",
            "1",
        ]
    )
    job = capsys.readouterr().out.split("jobs: ")[1].split(";")[0]
    folder = out / "base" / "trial_000"
    preempt_mid_run(local_slurm, f"{job}_0", folder, deadline=time.monotonic() + 120)
    local_slurm.wait_until_empty(timeout=300)
    log = (folder / "log.txt").read_text()
    assert "stopped by SIGUSR1" in log and "the requeued job resumes from it" in log, log
    assert "Restored all states from the checkpoint" in log, log
    result = json.loads((folder / keys.RESULT).read_text())
    assert result["epochs"] == epochs
    with (folder / keys.METRICS_CSV).open() as handle:
        validated = [int(row["epoch"]) for row in csv.DictReader(handle) if row[keys.VAL_L1]]
    assert sorted(set(validated)) == list(range(epochs))  # no epoch's metrics lost


def test_with_pack_an_array_task_trains_a_pack(tiny_study, tmp_path, capsys):
    out = tmp_path / "runs"
    main(["slurm", "--study", str(tiny_study), "--out", str(out), "--dry-run", "--pack", "3"])
    printed = capsys.readouterr().out
    (script,) = out.glob("slurm/*/array_000.sbatch")
    assert "#SBATCH --array=0-1" in script.read_text()  # two packs: 3 runs, then 1
    plan = json.loads((script.parent / "plan.json").read_text())
    assert plan["task_packs"] == [[0, 1, 2], [3]]
    assert "4 runs in 2 array task(s) of 1 array(s)" in printed
    # While the first task's pack trains, status reads its generation from the pack's log.
    runs, pack_of = planned_runs(out)
    first = runs[0]
    assert set(pack_of) == {run.key for run in runs[:3]}
    pack_of[first.key].mkdir(parents=True)
    (pack_of[first.key] / keys.LOG).write_text("generation 2/5 · x\n")
    with locked(run_lock(first, out), "a task"):
        main(["status", "--out", str(out)])
    assert f"  {first.key} running: generation 2/5" in capsys.readouterr().out.splitlines()


def test_a_packed_study_runs_as_an_array_on_a_real_slurm(
    local_slurm, tmp_path, tiny_coevolution, monkeypatch, capsys
):
    monkeypatch.setenv("SLURM_CONF", str(local_slurm.conf))
    study = make_study(tmp_path, copy.deepcopy(tiny_coevolution))
    out = tmp_path / "runs"
    command = [
        "slurm",
        "--study",
        str(study),
        "--out",
        str(out),
        "--cpus-per-task",
        "1",
        "--time",
        "00:10:00",
        "--pack",
        "4",
    ]
    main(command)
    assert "4 runs in 1 array task(s) of 1 array(s)" in capsys.readouterr().out
    local_slurm.wait_until_empty(timeout=300)
    logs = "\n".join(p.read_text() for p in out.glob("slurm/*/logs/*.out"))
    found = results(out)
    assert sorted(found) == [("none", 0), ("none", 1), ("random_fixed", 0), ("random_fixed", 1)], (
        logs
    )
    assert all(result["packed_with"] == 4 for result in found.values())
    main(command)
    assert "nothing to submit" in capsys.readouterr().out


def test_a_preempted_pack_is_requeued_and_resumes_from_its_checkpoint(
    local_slurm, tmp_path, tiny_coevolution, monkeypatch, capsys
):
    """The chain a long pack on a cluster goes through: SLURM's warning signal, the pack's
    checkpoint and `scontrol requeue`, then the requeued task resuming that checkpoint."""
    monkeypatch.setenv("SLURM_CONF", str(local_slurm.conf))
    epochs = 500  # the first log lands at epoch 100; signalled then, 400 are left
    tiny_coevolution["trainer"]["max_epochs"] = epochs
    study = make_study(tmp_path, tiny_coevolution)
    out = tmp_path / "runs"
    command = ["slurm", "--study", str(study), "--out", str(out), "--cpus-per-task", "1"]
    main([*command, "--pack", "4"])
    job = capsys.readouterr().out.split("jobs: ")[1].split(";")[0]
    deadline = time.monotonic() + 180
    while not list(out.glob("packs/*")):
        assert time.monotonic() < deadline, "the pack never started"
        time.sleep(0.5)
    (folder,) = out.glob("packs/*")
    preempt_mid_run(local_slurm, f"{job}_0", folder, deadline)
    local_slurm.wait_until_empty(timeout=400)
    log = (folder / keys.LOG).read_text()
    assert "stopped by SIGUSR1" in log and "the requeued job resumes from it" in log, log
    resumed = [line for line in log.splitlines() if line.startswith("resuming from")]
    assert len(resumed) == 1 and "hpc_ckpt_" in resumed[0], log
    found = results(out)
    assert sorted(found) == [("none", 0), ("none", 1), ("random_fixed", 0), ("random_fixed", 1)]
    for (variant, trial), result in found.items():
        assert result["epochs"] == epochs and result["packed_with"] == 4
        with (out / variant / f"trial_{trial:03d}" / keys.METRICS_CSV).open() as handle:
            validated = [int(row["epoch"]) for row in csv.DictReader(handle) if row[keys.VAL_L1]]
        assert sorted(validated) == list(range(epochs))  # every generation once, none lost
    assert not list(folder.rglob("*.ckpt"))  # a finished pack keeps no checkpoint
