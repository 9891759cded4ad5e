"""Pack sizes: a number checked against the memory estimate, or `auto`, before any run."""

import copy

import pytest
import yaml

from lit_evoae.errors import ConfigError
from lit_evoae.population import memory
from lit_evoae.study import runner, sizing
from lit_evoae.study.cli import main
from lit_evoae.study.spec import load_study


@pytest.fixture
def study(tmp_path, tiny_coevolution_template):
    base = copy.deepcopy(tiny_coevolution_template)
    base["data"]["init_args"]["data_dir"] = str(tmp_path / "data")
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    spec = {"name": "sizes", "base": ["base.yaml"], "trials": 3}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(spec))
    return tmp_path / "study.yaml"


def test_a_trial_costs_what_the_population_estimate_says(study, tmp_path):
    (run,) = load_study(study).runs(1)
    per_trial, device = sizing.bytes_per_trial(run, tmp_path)
    # 4 cells of 20->8->3->8->20, 4 trainee slots (synchronous), neighbourhood 3, batch 20
    sizes = [20, 8, 3], [3, 8, 20]
    assert per_trial == memory.estimated_bytes(4, 4, *sizes, 3, 20)
    assert device.type == "cpu"


def test_auto_fills_half_the_free_memory(study, tmp_path, monkeypatch):
    (run,) = load_study(study).runs(1)
    per_trial, _ = sizing.bytes_per_trial(run, tmp_path)
    monkeypatch.setattr(sizing, "available_bytes", lambda device: 20 * per_trial)
    size, line = sizing.pack_size(run, "auto", tmp_path)
    assert size == 10 and line.startswith("--pack auto: packs of up to 10 runs")


def test_a_pack_that_cannot_fit_is_refused_in_one_line(study, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sizing, "available_bytes", lambda device: 1000)
    with pytest.raises(SystemExit) as exited:
        main(["run", "--study", str(study), "--out", str(tmp_path / "runs"), "--pack", "3"])
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("lit-evoae-study: error: --pack 3: a pack of 3 runs needs about ")
    assert line.endswith("use a smaller --pack, or --pack auto")
    assert not list((tmp_path / "runs").glob("**/trial_*"))  # no run started


def test_a_number_is_checked_for_as_many_packs_as_the_workers_run_at_once(
    study, tmp_path, monkeypatch
):
    (run,) = load_study(study).runs(1)
    per_trial, _ = sizing.bytes_per_trial(run, tmp_path)
    monkeypatch.setattr(sizing, "available_bytes", lambda device: 15 * per_trial)
    assert sizing.pack_size(run, 10, tmp_path, workers=1, runs=30)[0] == 10
    # 30 runs in packs of 10 over 2 workers: two packs of 10 train at once, 20 trials
    with pytest.raises(ConfigError) as refused:
        sizing.pack_size(run, 10, tmp_path, workers=2, runs=30)
    assert str(refused.value).startswith("--pack 10: 2 packs of 10 runs at once (--workers 2)")
    assert "use a smaller --pack or fewer --workers, or --pack auto" in str(refused.value)
    # 10 such runs make one pack, whatever the workers: it fits
    assert sizing.pack_size(run, 10, tmp_path, workers=2, runs=10)[0] == 10


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_a_pack_size_that_is_not_a_positive_number_or_auto_names_the_flag(value, study, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["run", "--study", str(study), "--out", "runs", "--pack", value])
    assert exited.value.code == 2
    assert "argument --pack: must be a positive integer or auto" in capsys.readouterr().err


def test_auto_shares_the_memory_among_workers_and_gives_each_worker_a_pack(
    study, tmp_path, monkeypatch
):
    (run,) = load_study(study).runs(1)
    per_trial, _ = sizing.bytes_per_trial(run, tmp_path)
    monkeypatch.setattr(sizing, "available_bytes", lambda device: 400 * per_trial)
    size, line = sizing.pack_size(run, "auto", tmp_path, workers=2, runs=30)
    assert size == 15 and "30 such runs over 2 workers, where 100 would fit" in line
    size, _ = sizing.pack_size(run, "auto", tmp_path, workers=1, runs=30)
    assert size == 200  # one worker: as large as fits, as before
    monkeypatch.setattr(sizing, "available_bytes", lambda device: 20 * per_trial)
    size, line = sizing.pack_size(run, "auto", tmp_path, workers=2, runs=30)
    assert size == 5 and "shared by 2 workers" in line  # two packs of 5 in half the memory


def test_auto_makes_the_same_packs_when_the_study_is_run_again(study, tmp_path, monkeypatch):
    runs = load_study(study).runs(3)
    per_trial, _ = sizing.bytes_per_trial(runs[0], tmp_path)
    monkeypatch.setattr(sizing, "available_bytes", lambda device: 400 * per_trial)
    first = runner.packs(runs, runner.pack_limits(runs, "auto", "sizes", workers=2))
    assert [len(group) for group in first] == [2, 1]
    # The first pack finished, the second was interrupted: the rerun packs the rest as before
    # (sized by the study's runs, not the unfinished ones), so it finds its checkpoint.
    pending = first[1]
    again = runner.packs(pending, runner.pack_limits(pending, "auto", "sizes", 2, runs))
    assert again == [first[1]]
