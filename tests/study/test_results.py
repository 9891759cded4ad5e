"""A run's record and the rerun check: a finished run is skipped only when it was made with
the settings the command asks for now."""

import json

import pytest

from lit_evoae import keys
from lit_evoae.errors import ConfigError
from lit_evoae.study.results import by_group, finished_runs, first_difference, group_key
from lit_evoae.study.spec import Run


def make_run(tmp_path, max_epochs=5, trial=0) -> Run:
    config = tmp_path / "base.yaml"
    if not config.exists():
        config.write_text("trainer: {max_epochs: 5}\n")
    return Run("none", trial, 7 + trial, (config,), (("trainer.max_epochs", max_epochs),))


def finish(run: Run, out, settings=True) -> None:
    folder = run.folder(out)
    folder.mkdir(parents=True)
    record = {"variant": run.variant, "trial": run.trial}
    if settings:
        record["settings"] = run.settings()
    (folder / keys.RESULT).write_text(json.dumps(record))


def test_a_run_made_with_the_same_settings_is_finished(tmp_path):
    run, other = make_run(tmp_path), make_run(tmp_path, trial=1)
    finish(run, tmp_path / "out")
    assert finished_runs([run, other], tmp_path / "out") == [run]


def test_a_run_made_with_other_settings_stops_the_command_in_one_line(tmp_path):
    finish(make_run(tmp_path, max_epochs=5), tmp_path / "out")
    with pytest.raises(ConfigError) as raised:
        finished_runs([make_run(tmp_path, max_epochs=10)], tmp_path / "out")
    message = str(raised.value)
    assert "none/trial_000 in " in message and "\n" not in message
    assert (
        "was made with trainer.max_epochs=5, but this command asks for trainer.max_epochs=10"
        in (message)
    )
    assert message.endswith("write to a new --out, or add --rerun to make such runs again")


def test_an_edited_config_file_counts_as_other_settings(tmp_path):
    run = make_run(tmp_path)
    finish(run, tmp_path / "out")
    (tmp_path / "base.yaml").write_text("trainer: {max_epochs: 6}\n")
    from lit_evoae.study import spec

    spec._digest.cache_clear()
    with pytest.raises(ConfigError, match=r"was made with config 1=base.yaml \(sha256 "):
        finished_runs([run], tmp_path / "out")


def test_rerun_clears_the_runs_that_differ_and_keeps_the_rest(tmp_path):
    out = tmp_path / "out"
    same, differs = make_run(tmp_path, trial=0), make_run(tmp_path, trial=1)
    finish(same, out)
    finish(Run("none", 1, 8, same.configs, (("trainer.max_epochs", 3),)), out)
    assert finished_runs([same, differs], out, rerun=True) == [same]
    assert not differs.folder(out).exists() and same.folder(out).exists()


def test_runs_recorded_before_settings_were_recorded_are_kept(tmp_path):
    finish(make_run(tmp_path), tmp_path / "out", settings=False)
    asked = make_run(tmp_path, max_epochs=10)
    assert finished_runs([asked], tmp_path / "out") == [asked]


def test_the_first_difference_names_a_key_set_on_one_side_only():
    assert first_difference({"a": 1}, {"a": 1}) is None
    assert first_difference({"a": 1}, {"a": 1, "b": [2]}) == ("b", "(not set)", "[2]")
    assert first_difference({"a": 1, "c": "x"}, {"a": 1}) == ("c", "x", "(not set)")


def test_groups_are_named_once_per_axis_and_ordered_by_their_numbers():
    def result(population: str) -> dict:
        return {"choices": {"population": population, "pruning": "none"}, "variant": "x"}

    names = [result(name) for name in ("population=10", "population=2", "population=1")]
    assert [group for group, _ in by_group(names)] == [
        "population=1",
        "population=2",
        "population=10",
    ]
    assert group_key({"regime": "canonical", "pruning": "none"}) == "regime=canonical"
