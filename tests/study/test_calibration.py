"""`--pack auto` measures packs of the study's own runs: memory by line, speed per trial."""

import copy
import json
import subprocess

import pytest
import yaml

from lit_evoae.study import calibration
from lit_evoae.study.calibration import (
    MARGIN,
    Calibration,
    Measured,
    cache_key,
    calibrated,
    interleaved,
    sizes_to_try,
)
from lit_evoae.study.spec import Run, load_study

MIB = 2**20
#: The shape issue 32's benchmark measured: more per trial from 1 to 16 than beyond.
PEAKS = Calibration(
    (Measured(1, 940 * MIB, 0.4), Measured(16, 2315 * MIB, 8.0), Measured(64, 6000 * MIB, 30.0))
)


def test_memory_is_read_on_the_measured_line_and_extended_by_its_last_part():
    assert PEAKS.bytes_for(1) == int(MARGIN * 940 * MIB)
    assert PEAKS.bytes_for(16) == int(MARGIN * 2315 * MIB)
    per_trial = (6000 - 2315) / 48  # the 16-to-64 line, not the 1-to-16 one
    assert PEAKS.bytes_for(128) == int(MARGIN * (2315 + per_trial * 112) * MIB)
    assert PEAKS.bytes_for(8) < PEAKS.bytes_for(9) < PEAKS.bytes_for(16)


def test_the_largest_fitting_pack_is_the_last_within_the_budget():
    budget = PEAKS.bytes_for(100)
    assert PEAKS.largest_fitting(budget) == 100
    assert PEAKS.largest_fitting(budget - 1) == 99
    assert PEAKS.largest_fitting(1) == 1  # at least one run, which the runner then checks


def test_the_fastest_is_the_best_rate_per_trial():
    assert PEAKS.fastest.size == 1  # 2.5 trial-generations/s, against 2.0 and 2.1
    slower = Calibration((Measured(1, 1, 0.5), Measured(4, 2, 1.0), Measured(16, 3, 8.0)))
    assert slower.fastest.size == 4  # 4 a second, against 2 and 2


def test_sizes_grow_fourfold_up_to_the_cap():
    assert sizes_to_try(1) == [1]
    assert sizes_to_try(6) == [1, 4, 6]
    assert sizes_to_try(285) == [1, 4, 16, 64, 256, 285]


def test_calibration_packs_mix_the_variants_trial_by_trial():
    runs = [Run(variant, trial, trial, (), ()) for variant in "abc" for trial in range(2)]
    assert [(r.variant, r.trial) for r in interleaved(runs)[:4]] == [
        ("a", 0),
        ("b", 0),
        ("c", 0),
        ("a", 1),
    ]


@pytest.mark.integration
def test_the_cache_key_changes_with_the_settings_and_threads_not_the_seeds(tmp_path):
    config = tmp_path / "base.yaml"
    config.write_text("trainer: {max_epochs: 3}\n")
    runs = [Run("a", trial, 100 + trial, (config,), ()) for trial in range(2)]
    reseeded = [Run("a", trial, 7 + trial, (config,), ()) for trial in range(2)]
    assert cache_key(runs, 1) == cache_key(reseeded, 1) != cache_key(runs, 2)
    config.write_text("trainer: {max_epochs: 4}\n")  # an edited config is another kind of run
    assert cache_key(runs, 1) != cache_key(reseeded[:1], 2)


@pytest.mark.slow  # a subprocess, DDP or SLURM run
def test_a_real_calibration_measures_each_size_and_is_read_back_from_the_cache(
    tmp_path, tiny_coevolution_template, monkeypatch
):
    base = copy.deepcopy(tiny_coevolution_template)
    base["data"]["init_args"]["data_dir"] = str(tmp_path / "data")
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "study.yaml").write_text(yaml.safe_dump({"name": "c", "base": ["base.yaml"]}))
    runs = load_study(tmp_path / "study.yaml").runs(5)
    monkeypatch.setattr(calibration, "MEMORY_SIZE", 1)  # stop at the first slower size
    said = []
    found = calibrated(runs, 5, 2**40, 1, tmp_path, say=said.append)
    sizes = [m.size for m in found.measured]
    assert sizes[0] == 1 and set(sizes) <= {1, 4, 5} and len(said) == len(sizes)
    assert all(200 * MIB < m.peak < 8 * 2**30 and 0 < m.seconds < 60 for m in found.measured)
    assert said[0].startswith("calibrating: a pack of 1 ran ")

    def no_child(*args, **kwargs):
        raise AssertionError("calibrated again")

    monkeypatch.setattr(subprocess, "Popen", no_child)
    assert calibrated(runs, 5, 2**40, 1, tmp_path, say=said.append) == found
    cached_file = calibration.cache_folder() / f"calibration-{cache_key(runs, 1)}.json"
    cached_file.write_text(json.dumps({"measured": [{"size": "1; import os"}]}))
    with pytest.raises(AssertionError, match="calibrated again"):  # damaged: measured again
        calibrated(runs, 5, 2**40, 1, tmp_path, say=said.append)
