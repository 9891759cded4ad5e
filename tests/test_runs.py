"""Run folders: a resumed run and a test of a checkpoint stay in the checkpoint's folder."""

import csv
import sys

import pytest
import yaml

from lit_evoae import keys
from lit_evoae.cli import build_cli

pytestmark = pytest.mark.integration  # each test trains or starts a process


def test_resume_and_test_log_into_the_checkpoints_own_run_folder(
    tmp_path, monkeypatch, tiny_coevolution
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit-evoae"])
    tiny_coevolution["data"]["init_args"]["data_dir"] = str(tmp_path / "data")
    tiny_coevolution["trainer"]["logger"] = {
        "class_path": "pytorch_lightning.loggers.CSVLogger",
        "init_args": {"save_dir": "."},
    }
    config = tmp_path / "config.in.yaml"
    config.write_text(yaml.safe_dump(tiny_coevolution))
    run = tmp_path / "lightning_logs" / "version_0"
    build_cli(["fit", "--config", str(config), "--trainer.max_epochs", "2"])
    saved_config = (run / "config.yaml").read_text()
    build_cli(
        [
            "fit",
            "--config",
            str(config),
            "--trainer.max_epochs",
            "4",
            "--ckpt_path",
            str(run / "checkpoints" / "last.ckpt"),
        ]
    )
    build_cli(
        ["test", "--config", str(config), "--ckpt_path", str(run / "checkpoints" / "last.ckpt")]
    )
    assert sorted(path.name for path in run.parent.iterdir()) == ["version_0"]
    with (run / keys.METRICS_CSV).open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows if row[keys.VAL_L1]] == [0, 1, 2, 3]
    assert sum(1 for row in rows if row.get(keys.TEST_L1)) == 3  # after each fit, and the test
    assert "max_epochs: 4" in (run / "config.yaml").read_text()  # the resumed fit's config
    assert saved_config != (run / "config.yaml").read_text()


def test_a_test_logs_beside_a_checkpoint_that_lies_in_another_root(
    tmp_path, monkeypatch, tiny_coevolution, capsys
):
    """The issue's case: fit with --trainer.default_root_dir wine_run, then test its
    checkpoint without that flag: the metrics go to the checkpoint's own run folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit-evoae"])
    tiny_coevolution["data"]["init_args"]["data_dir"] = str(tmp_path / "data")
    config = tmp_path / "config.in.yaml"
    config.write_text(yaml.safe_dump(tiny_coevolution))
    fit = ["fit", "--config", str(config), "--trainer.max_epochs", "1"]
    build_cli([*fit, "--trainer.default_root_dir", "wine_run", "--test_after_fit", "false"])
    run = tmp_path / "wine_run" / "lightning_logs" / "version_0"
    checkpoint = run / "checkpoints" / "last.ckpt"
    build_cli(["test", "--config", str(config), "--ckpt_path", str(checkpoint)])
    assert not (tmp_path / "lightning_logs").exists()
    with (run / keys.METRICS_CSV).open() as handle:
        assert sum(1 for row in csv.DictReader(handle) if row.get(keys.TEST_L1)) == 1
    assert f"run folder {run}" in capsys.readouterr().out
