"""Damaged state is named and never trusted; the report and `status` account for every run."""

import csv
import json
from types import SimpleNamespace

import pytest
import torch

from lit_evoae import keys
from lit_evoae.errors import ConfigError
from lit_evoae.study.cli import main
from lit_evoae.study.folders import run_lock
from lit_evoae.study.locks import locked
from lit_evoae.study.pack import readable_checkpoint
from lit_evoae.study.results import checked_result, finished_runs
from lit_evoae.study.spec import Run
from lit_evoae.study.status import run_states

VARIANTS = ("none", "random_fixed", "variance_fixed")


def plan_record(run: Run) -> dict:
    return run.to_plan()


def finish(run: Run, out, l1: float, generations: int = 3) -> None:
    folder = run.folder(out)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / keys.METRICS_CSV).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", keys.TRAIN_LOSS])
        writer.writerows([[epoch, 0.5] for epoch in range(generations)])
    record = {
        "variant": run.variant,
        "trial": run.trial,
        "seed": run.seed,
        "epochs": generations,
        "choices": dict(run.choices),
        keys.TEST_L1: l1,
        keys.MODEL_SPARSITY: 0.1,
    }
    (folder / keys.RESULT).write_text(json.dumps(record))


@pytest.fixture
def study(tmp_path):
    """4 trials of none, 4 of random_fixed with one failed and one deleted, and
    variance_fixed whose every run failed."""
    out = tmp_path / "out"
    runs = [
        Run(variant, trial, trial, (), (), (("pruning", variant),))
        for variant in VARIANTS
        for trial in range(4)
    ]
    out.mkdir()
    plan = {"name": "s", "out": str(out), "runs": [r.to_plan() for r in runs], "packs": []}
    (out / keys.PLAN).write_text(json.dumps(plan))
    for run in runs:
        if run.variant == "none" or (run.variant == "random_fixed" and run.trial < 2):
            finish(run, out, 0.1 + 0.01 * run.trial + (0.1 if run.variant == "none" else 0))
        elif run.variant == "random_fixed" and run.trial == 3:
            continue  # its folder was deleted
        else:
            run.folder(out).mkdir(parents=True)
            (run.folder(out) / keys.LOG).write_text("Traceback: it failed\n")
    return out, runs


def test_the_report_accounts_for_every_planned_run(study, capsys):
    out, _ = study
    main(["report", str(out)])
    text = (out / "report" / keys.REPORT_MD).read_text()
    assert text.startswith("**Not finished:** 6 of the 12 planned runs have no result")
    assert "(5 failed, 1 missing)" in text
    assert "| all runs | variance_fixed | 4 | 0 | 0 | 4 | 0 | 0 |" in text
    assert "| all runs | random_fixed | 4 | 2 | 0 | 1 | 0 | 1 |" in text
    assert "- `random_fixed/trial_003` missing" in text
    assert f"- `variance_fixed/trial_000` failed: failed or was stopped; see {out}" in text
    with (out / "report" / keys.REPORT_CSV).open() as handle:
        rows = {row["variant"]: row for row in csv.DictReader(handle)}
    assert rows["variance_fixed"]["n"] == "0" and rows["variance_fixed"]["failed"] == "4"
    assert (rows["random_fixed"]["finished"], rows["random_fixed"]["missing"]) == ("2", "1")
    assert rows["none"]["planned"] == "4" and rows["none"]["finished"] == "4"


def test_a_study_with_every_run_finished_has_no_warning(study):
    out, runs = study
    for run in runs:
        if not (run.folder(out) / keys.RESULT).exists():
            (run.folder(out) / keys.LOG).unlink(missing_ok=True)
            finish(run, out, 0.3)
    main(["report", str(out)])
    assert "Not finished" not in (out / "report" / keys.REPORT_MD).read_text()


def test_status_lists_each_run_and_the_generation_of_a_running_one(study, capsys):
    out, runs = study
    running = runs[-1]
    (running.folder(out) / keys.LOG).write_text("generation 3/40 · x\ngeneration 7/40 · y\n")
    with locked(run_lock(running, out), "it"):
        main(["status", "--out", str(out)])
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"{out}: 12 runs planned: 6 finished, 1 running, 4 failed, 1 missing"
    assert "  variance_fixed/trial_003 running: generation 7/40" in printed
    assert "  random_fixed/trial_003 missing" in printed
    assert not any("none/" in line for line in printed[1:])


def test_a_truncated_result_is_named_and_its_run_made_again(study, capsys):
    out, runs = study
    run = runs[0]
    path = run.folder(out) / keys.RESULT
    path.write_text(path.read_text()[:20])
    record, damage = checked_result(run.folder(out))
    assert record is None and str(path) in damage
    assert run not in finished_runs([run], out)
    assert f"{path} cannot be read" in capsys.readouterr().err
    assert {s.run.key: s.state for s in run_states(out)}[run.key] == "damaged"
    main(["report", str(out)])  # no traceback: the run is left out, visibly
    assert "`none/trial_000` damaged" in (out / "report" / keys.REPORT_MD).read_text()


def test_a_truncated_metrics_file_is_not_taken_as_finished(study):
    out, runs = study
    folder = runs[1].folder(out)
    text = (folder / keys.METRICS_CSV).read_text()
    (folder / keys.METRICS_CSV).write_text(text[: text.index("\n1,")])
    record, damage = checked_result(folder)
    assert record is None and "holds 1 generations, but" in damage and "claims 3" in damage
    assert runs[1] not in finished_runs([runs[1]], out)


def test_a_damaged_plan_is_one_line_that_says_how_to_recover(study, capsys):
    out, _ = study
    text = (out / keys.PLAN).read_text()
    (out / keys.PLAN).write_text(text[: len(text) // 2])
    with pytest.raises(SystemExit) as exited:
        main(["report", str(out)])
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"study plan {out / keys.PLAN} is damaged" in line
    assert "keeps every finished run" in line


def test_a_report_folder_that_is_a_file_is_one_line(study, capsys):
    out, _ = study
    (out / "report").write_text("in the way")
    with pytest.raises(SystemExit) as exited:
        main(["report", str(out)])
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"lit-evoae-study: error: cannot write {out / 'report'}")


def test_a_run_over_an_out_that_is_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "base.yaml").write_text("trainer: {max_epochs: 1}\n")
    (tmp_path / "s.yaml").write_text("base: [base.yaml]\n")
    (tmp_path / "out").write_text("a file")
    with pytest.raises(SystemExit) as exited:
        main(["run", "--study", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out")])
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"cannot write {tmp_path / 'out'}" in line and "--out" in line


def test_a_damaged_pack_checkpoint_is_moved_aside_and_the_previous_one_used(tmp_path, capsys):
    older = tmp_path / "hpc_ckpt_1.ckpt"
    torch.save({"epoch": 4}, older)
    newest = tmp_path / keys.CLOCK_CHECKPOINT
    torch.save({"epoch": 9, "state": torch.zeros(1000)}, newest)
    newest.write_bytes(newest.read_bytes()[:300])
    assert readable_checkpoint(newest, tmp_path) == (older, 4)
    assert (tmp_path / "clock.ckpt.damaged").is_file() and not newest.exists()
    assert f"checkpoint {newest} cannot be read" in capsys.readouterr().out
    older.write_bytes(b"not a checkpoint")
    assert readable_checkpoint(older, tmp_path) == (None, -1)  # from generation 1


def test_a_plan_naming_a_finished_run_is_read_by_the_locked_runner(tmp_path):
    """Two processes that find one run: the second sees it finished under the lock."""
    run = Run("none", 0, 1, (), ())
    finish(run, tmp_path, 0.2)
    from lit_evoae.study.runner import run_one

    assert run_one(run, tmp_path) is None  # finished meanwhile: nothing trained


def test_a_config_error_is_not_swallowed(tmp_path):
    with pytest.raises(ConfigError):
        Run.from_plan({"variant": "/abs", "trial": 0, "seed": 1, "configs": [], "overrides": []})


def test_a_study_run_in_parts_keeps_every_parts_runs_in_its_plan(tmp_path):
    """`run --only 'none'` and then `run --only 'random*'` over one --out: study.json, and so
    status and the report's accounting, hold both commands' runs."""
    from lit_evoae.study.runner import write_plan

    out = tmp_path / "out"
    study = SimpleNamespace(name="s", sets=(), only=("none",), claims=())
    first = [Run("none", t, t, (), (), (("pruning", "none"),)) for t in range(2)]
    write_plan(study, first, out, groups=[first])
    for run in first:
        finish(run, out, 0.2)
    second = [Run("random_fixed", t, t, (), (), (("pruning", "random"),)) for t in range(2)]
    study.only = ("random*",)
    write_plan(study, [second[0], first[0]], out)  # first[0] planned again: listed once
    write_plan(study, second, out)
    states = {state.run.key: state.state for state in run_states(out)}
    assert states == {
        "none/trial_000": "finished",
        "none/trial_001": "finished",
        "random_fixed/trial_000": "missing",
        "random_fixed/trial_001": "missing",
    }
    plan = json.loads((out / keys.PLAN).read_text())
    assert [c["only"] for c in plan["history"]] == [["none"], ["random*"]]
    assert plan["packs"] == [["none/trial_000", "none/trial_001"]]  # the first part's pack
