"""A study's progress counts generations, read from the logs of what runs, not finished runs."""

import copy
import io
import re

import pytest
import yaml
from test_runner import make_study

from lit_evoae import keys
from lit_evoae.study import watch
from lit_evoae.study.cli import main
from lit_evoae.study.folders import pack_folder
from lit_evoae.study.spec import LIGHTNING_MAX_EPOCHS, Run, load_study
from lit_evoae.study.watch import StudyProgress, generations_reached


def run(trial: int, configs=(), overrides=(("trainer.max_epochs", 40),)) -> Run:
    return Run("random_fixed", trial, trial, tuple(configs), tuple(overrides))


def test_a_runs_generations_come_from_its_last_override_then_its_configs(tmp_path):
    base, fragment = tmp_path / "base.yaml", tmp_path / "fragment.yaml"
    base.write_text(yaml.safe_dump({"trainer": {"max_epochs": 400}}))
    fragment.write_text(yaml.safe_dump({"trainer": {"callbacks": []}}))
    assert run(0, (base, fragment), ()).generations() == 400
    overridden = (("trainer.max_epochs", 40), ("trainer.max_epochs", "3"))
    assert run(0, (base,), overridden).generations() == 3
    assert run(0, (fragment,), ()).generations() == LIGHTNING_MAX_EPOCHS


def test_a_pack_counts_its_log_for_each_of_its_runs_and_runs_alone_their_own(tmp_path):
    group = [run(trial) for trial in range(3)]
    assert generations_reached(group, tmp_path) == 0  # nothing logged yet
    folder = pack_folder(group[0], 3, tmp_path)
    folder.mkdir(parents=True)
    (folder / keys.LOG).write_text("generation 2/40 · a\ngeneration 4/40 · b\n")
    assert generations_reached(group, tmp_path) == 12
    alone = group[0].folder(tmp_path)
    alone.mkdir(parents=True)
    (alone / keys.LOG).write_text("generation 10/40 · val/l1 0.2\n")
    assert generations_reached([group[0]], tmp_path) == 10


def test_lines_in_a_log_give_generations_rate_time_left_and_failures(tmp_path, capsys):
    runs = [run(trial) for trial in range(4)]  # 160 generations
    stream = io.StringIO()  # not a terminal: lines on stdout, no bar
    with StudyProgress("tiny", runs, done=runs[:1], stream=stream) as shown:
        shown.update([], tmp_path)
        folder = pack_folder(runs[1], 2, tmp_path)
        folder.mkdir(parents=True)
        (folder / keys.LOG).write_text("generation 20/40 · x\n")
        shown.update([runs[1:3]], tmp_path)
        shown.settle(runs[3:], failed=True)
        shown.update([runs[1:3]], tmp_path)
    assert stream.getvalue() == ""  # no bar
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "tiny: generations 40/160 (25%) · runs 1/4 finished"
    assert lines[1].startswith("tiny: generations 80/160 (50%) · ")  # a twentieth on
    assert shown.line().startswith("tiny: generations 80/120 (67%) · ")
    assert shown.line().endswith("runs 1/4 finished, 1 failed")
    assert re.search(r"trial-generations/s · about \d+ s left", shown.line())


def test_a_failed_packs_generations_leave_the_count_done_with_its_total(tmp_path, capsys):
    runs = [run(trial) for trial in range(4)]  # 160 generations, 40 done before
    with StudyProgress("tiny", runs, done=runs[:1], stream=io.StringIO()) as shown:
        folder = pack_folder(runs[1], 2, tmp_path)
        folder.mkdir(parents=True)
        (folder / keys.LOG).write_text("generation 20/40 · x\n")
        shown.update([runs[1:3], runs[3:]], tmp_path)
        assert shown.line().startswith("tiny: generations 80/160 (50%)")
        shown.settle(runs[1:3], failed=True)  # the pack stopped at generation 20 of 40
        shown.update([runs[3:]], tmp_path)
        assert shown.line().startswith("tiny: generations 40/80 (50%)")  # it read 80/80
        assert shown.line().endswith("runs 1/4 finished, 2 failed")


def test_a_resumed_packs_earlier_generations_count_as_done_but_not_in_the_rate(tmp_path):
    runs = [run(trial) for trial in range(2)]  # 80 generations
    folder = pack_folder(runs[0], 2, tmp_path)
    folder.mkdir(parents=True)
    (folder / keys.LOG).write_text("generation 30/40 · before this command\n")
    earlier = generations_reached(runs, tmp_path)
    with StudyProgress("tiny", runs, [], io.StringIO(), earlier=earlier) as shown:
        shown.update([runs], tmp_path)
        assert shown.line() == "tiny: generations 60/80 (75%) · runs 0/2 finished"  # no rate yet
        (folder / keys.LOG).write_text("generation 31/40 · now\n")
        shown.started -= 10.0  # ten seconds later, two trial-generations made
        shown.update([runs], tmp_path)
        assert "· 0.20 trial-generations/s · about 2 min left ·" in shown.line()  # 18 / 0.2 s


@pytest.mark.slow  # a subprocess, DDP or SLURM run
def test_a_running_pack_shows_generations_in_the_studys_log_lines(
    tmp_path, tiny_coevolution_template, monkeypatch, capsys
):
    """The old bar counted runs: a pack's runs stood at 0 until all of them ended."""
    monkeypatch.setattr(watch, "POLL_SECONDS", 0.3)
    base = copy.deepcopy(tiny_coevolution_template)
    base["trainer"]["max_epochs"] = 40
    study = make_study(tmp_path, base)
    main(["run", "--study", str(study), "--out", str(tmp_path / "runs"), "--pack", "4"])
    printed = capsys.readouterr().out
    found = [tuple(map(int, m)) for m in re.findall(r"generations (\d+)/(\d+)", printed)]
    assert found[-1] == (160, 160)
    assert any(0 < done < 160 for done, _ in found), printed
    assert "runs 4/4 finished" in printed and "trial-generations/s" in printed
    pack_log = pack_folder(load_study(study).runs()[0], 4, tmp_path / "runs") / keys.LOG
    assert len(re.findall(r"^generation \d+/40", pack_log.read_text(), re.M)) == 20
