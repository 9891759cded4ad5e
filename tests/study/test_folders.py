"""Nothing a study writes or removes lies outside --out, and it removes only its own folders."""

import pytest
import yaml

from lit_evoae.errors import ConfigError
from lit_evoae.study import runner
from lit_evoae.study.folders import (
    MARKER,
    clear_own_folder,
    make_own_folder,
    remove_checkpoints,
    remove_stale_temporaries,
)
from lit_evoae.study.results import RunFailed
from lit_evoae.study.spec import Run, load_study


def study_file(folder, grid: dict):
    (folder / "base.yaml").write_text("trainer: {max_epochs: 1}\n")
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "base": ["base.yaml"], "grid": grid}))
    return path


@pytest.mark.parametrize("name", ["../../escape", "/data/victim", "a/b", "..", "sp ace"])
def test_an_entry_name_that_would_leave_out_is_refused_naming_file_and_entry(tmp_path, name):
    path = study_file(tmp_path, {"data": {name: {"data.init_args.dim": 5}}})
    with pytest.raises(ConfigError) as refused:
        load_study(path)
    message = str(refused.value)
    assert str(path) in message and "grid.data" in message and repr(name) in message
    assert "\n" not in message


def test_a_plan_read_from_disk_cannot_name_a_folder_outside_out():
    record = {"variant": "../../x", "trial": 0, "seed": 1, "configs": [], "overrides": []}
    record["choices"] = {}
    with pytest.raises(ConfigError, match="must be letters, digits"):
        Run.from_plan(record)
    with pytest.raises(ConfigError, match="trial"):
        Run.from_plan({**record, "variant": "ok", "trial": -1})


def test_a_fragment_listed_twice_is_refused(tmp_path):
    fragment = tmp_path / "random_fixed.yaml"
    fragment.write_text("pruning: {probability: 0.5}\n")
    path = study_file(tmp_path, {"pruning": ["random_fixed.yaml", "./random_fixed.yaml"]})
    with pytest.raises(ConfigError, match="lists 'random_fixed' twice"):
        load_study(path)


def test_two_axes_that_make_one_variant_name_twice_are_refused(tmp_path):
    grid = {"a": {"p": {}, "p__q": {}}, "b": {"q__r": {}, "r": {}}}
    with pytest.raises(ConfigError, match="p__q__r more than once"):
        load_study(study_file(tmp_path, grid))


def test_a_huge_study_is_refused_in_one_line_before_planning(tmp_path):
    path = study_file(tmp_path, {"data": {"a": {}, "b": {}}})
    study = load_study(path)
    with pytest.raises(ConfigError, match="200,000 runs, more than the 20,000"):
        study.runs(100_000)


def test_a_folder_the_runner_did_not_make_is_never_removed(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "important.txt").write_text("keep me")
    with pytest.raises(RunFailed, match="did not write"):
        clear_own_folder(victim)
    assert (victim / "important.txt").read_text() == "keep me"
    own = make_own_folder(tmp_path / "own")
    (own / "metrics.csv").write_text("epoch\n")
    clear_own_folder(own)
    assert not own.exists()
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(RunFailed, match="is in the way"):
        clear_own_folder(tmp_path / "a_file")


def test_a_run_whose_folder_holds_foreign_files_fails_and_keeps_them(tmp_path):
    run = Run("victim", 0, 1, (), ())
    folder = run.folder(tmp_path / "out")
    folder.mkdir(parents=True)
    (folder / "important.txt").write_text("keep me")
    with pytest.raises(RunFailed, match="did not write"):
        runner.run_one(run, tmp_path / "out")
    assert (folder / "important.txt").read_text() == "keep me"
    assert not (folder / MARKER).exists()


def test_leftovers_are_removed_but_a_finished_runs_results_stay(tmp_path):
    folder = make_own_folder(tmp_path / "run")
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "last.ckpt").write_bytes(b"x" * 100)
    for name in ("hpc_ckpt_1.ckpt", "clock.ckpt", ".clock.ckpt.abc.tmp"):
        (folder / name).write_bytes(b"x")
    for name in ("metrics.csv", "result.json", "best_autoencoder.pt"):
        (folder / name).write_text("kept")
    remove_stale_temporaries(folder)
    remove_checkpoints(folder)
    assert sorted(p.name for p in folder.iterdir()) == [
        MARKER,
        "best_autoencoder.pt",
        "metrics.csv",
        "result.json",
    ]
