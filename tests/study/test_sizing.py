"""Pack sizes: a number checked against the memory estimate, or `auto`, before any run."""

import copy

import pytest
import yaml

from lit_evoae.errors import ConfigError
from lit_evoae.population import memory
from lit_evoae.study import runner, sizing
from lit_evoae.study.calibration import Calibration, Measured
from lit_evoae.study.cli import main
from lit_evoae.study.spec import load_study

MIB = 2**20


@pytest.fixture
def study(tmp_path, tiny_coevolution_template):
    base = copy.deepcopy(tiny_coevolution_template)
    base["data"]["init_args"]["data_dir"] = str(tmp_path / "data")
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    spec = {"name": "sizes", "base": ["base.yaml"], "trials": 3}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(spec))
    return tmp_path / "study.yaml"


@pytest.mark.integration
def test_a_trial_costs_what_the_population_estimate_says(study, tmp_path):
    (run,) = load_study(study).runs(1)
    per_trial, device = sizing.bytes_per_trial(run, tmp_path)
    # 4 cells of 20->8->3->8->20, 4 trainee slots (synchronous), neighbourhood 3, batch 20
    sizes = [20, 8, 3], [3, 8, 20]
    assert per_trial == memory.estimated_bytes(4, 4, *sizes, 3, 20)
    assert device.type == "cpu"


@pytest.mark.integration
def test_a_pack_that_cannot_fit_is_refused_in_one_line(study, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sizing, "available_bytes", lambda device: 1000)
    with pytest.raises(SystemExit) as exited:
        main(["run", "--study", str(study), "--out", str(tmp_path / "runs"), "--pack", "3"])
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("lit-evoae-study: error: --pack 3: a pack of 3 runs needs about ")
    assert line.endswith("use a smaller --pack, or --pack auto")
    assert not list((tmp_path / "runs").glob("**/trial_*"))  # no run started


@pytest.mark.integration
def test_a_number_is_checked_for_as_many_packs_as_the_workers_run_at_once(
    study, tmp_path, monkeypatch
):
    (run,) = load_study(study).runs(1)
    per_trial, _ = sizing.bytes_per_trial(run, tmp_path)
    monkeypatch.setattr(sizing, "available_bytes", lambda device: 15 * per_trial)
    assert sizing.pack_size([run] * 30, 10, tmp_path, workers=1)[0] == 10
    # 30 runs in packs of 10 over 2 workers: two packs of 10 train at once, 20 trials
    with pytest.raises(ConfigError) as refused:
        sizing.pack_size([run] * 30, 10, tmp_path, workers=2)
    assert str(refused.value).startswith("--pack 10: 2 packs of 10 runs at once (--workers 2)")
    assert "use a smaller --pack or fewer --workers, or --pack auto" in str(refused.value)
    # 10 such runs make one pack, whatever the workers: it fits
    assert sizing.pack_size([run] * 10, 10, tmp_path, workers=2)[0] == 10


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_a_pack_size_that_is_not_a_positive_number_or_auto_names_the_flag(value, study, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["run", "--study", str(study), "--out", "runs", "--pack", value])
    assert exited.value.code == 2
    assert "argument --pack: must be a positive integer or auto" in capsys.readouterr().err


#: A calibration as `calibration.calibrated` returns it: a pack of 4 is the fastest per trial.
MEASURED = Calibration(
    (Measured(1, 1000 * MIB, 1.0), Measured(4, 1400 * MIB, 2.0), Measured(16, 2600 * MIB, 10.0))
)


@pytest.fixture
def measured(monkeypatch):
    asked = []

    def calibrated(runs, cap, budget, threads, scratch, say):
        asked.append((len(runs), cap, budget, threads))
        return MEASURED

    monkeypatch.setattr(sizing, "calibrated", calibrated)
    return asked


@pytest.mark.integration
def test_auto_takes_the_fastest_size_per_trial_that_fits(study, tmp_path, monkeypatch, measured):
    runs = load_study(study).runs(30)
    monkeypatch.setattr(sizing, "available_bytes", lambda device: 100 * 2**30)
    size, line = sizing.pack_size(runs, "auto", tmp_path, threads=1)
    assert size == 4 and measured == [(30, 30, int(sizing.AUTO_SHARE * 100 * 2**30), 1)]
    assert line.startswith("--pack auto: packs of up to 4 runs (fastest per trial at 4 of 1, 4, 16")
    # 1.4 GiB to fill: 1.1 x (1000 MiB + 133 MiB a trial above one) fits 3, not the fastest 4
    monkeypatch.setattr(
        sizing, "available_bytes", lambda device: int(1.4 * 2**30 / sizing.AUTO_SHARE)
    )
    assert sizing.pack_size(runs, "auto", tmp_path)[0] == 3


@pytest.mark.integration
def test_auto_shares_memory_and_runs_among_the_workers(study, tmp_path, monkeypatch, measured):
    runs = load_study(study).runs(6)
    monkeypatch.setattr(sizing, "available_bytes", lambda device: 100 * 2**30)
    size, line = sizing.pack_size(runs, "auto", tmp_path, workers=2, threads=1)
    assert size == 3 and "shared by 2 workers" in line  # 6 runs, 2 workers: packs of 3
    assert measured[-1] == (6, 3, int(sizing.AUTO_SHARE * 100 * 2**30 / 2), 1)


@pytest.mark.integration
def test_auto_makes_the_same_packs_when_the_study_is_run_again(
    study, tmp_path, monkeypatch, measured
):
    runs = load_study(study).runs(3)
    monkeypatch.setattr(sizing, "available_bytes", lambda device: 100 * 2**30)
    first = runner.packs(runs, runner.pack_limits(runs, "auto", "sizes", workers=2))
    assert [len(group) for group in first] == [2, 1]
    # The first pack finished, the second was interrupted: the rerun packs the rest as before
    # (sized by the study's runs, not the unfinished ones), so it finds its checkpoint.
    pending = first[1]
    again = runner.packs(pending, runner.pack_limits(pending, "auto", "sizes", 2, runs))
    assert again == [first[1]]
