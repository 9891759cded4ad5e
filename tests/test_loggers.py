import csv
import sys
from pathlib import Path

import pytest

from lit_evoae import keys
from lit_evoae.loggers import ResumableCSVLogger


def rows(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_resumed_logger_keeps_the_earlier_metrics(tmp_path):
    first = ResumableCSVLogger(tmp_path, name="", version="")
    first.log_metrics({keys.VAL_L1: 0.5}, step=0)
    first.log_metrics({keys.VAL_L1: 0.4}, step=1)
    first.save()
    (tmp_path / "log.txt").write_text("the folder is not empty")  # Lightning's trigger
    resumed = ResumableCSVLogger(tmp_path, name="", version="")
    resumed.log_metrics({keys.VAL_L1: 0.3}, step=2)
    resumed.log_metrics({keys.TEST_L1: 0.35}, step=3)  # a new column rewrites the header
    resumed.save()
    logged = rows(tmp_path / keys.METRICS_CSV)
    assert [row["step"] for row in logged] == ["0", "1", "2", "3"]
    assert [row[keys.VAL_L1] for row in logged] == ["0.5", "0.4", "0.3", ""]
    assert logged[3][keys.TEST_L1] == "0.35"


def test_a_fresh_folder_starts_a_fresh_file(tmp_path):
    logger = ResumableCSVLogger(tmp_path, name="run", version=0)
    logger.log_metrics({"a": 1.0}, step=0)
    logger.save()
    assert rows(tmp_path / "run" / "version_0" / keys.METRICS_CSV) == [{"a": "1.0", "step": "0"}]


@pytest.mark.integration
def test_the_tensorboard_fragment_logs_every_key_into_the_run_folder(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from lit_evoae.cli import build_cli

    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit-evoae"])
    build_cli(
        [
            "fit",
            "--config",
            str(root / "configs" / "canonical.yaml"),
            "--config",
            str(root / "configs" / "logging" / "tensorboard.yaml"),
            "--trainer.max_epochs",
            "2",
            "--data.init_args.dim",
            "40",
        ]
    )
    run = tmp_path / "lightning_logs" / "version_0"
    assert (run / "config.yaml").is_file() and (run / keys.BEST_AUTOENCODER).is_file()
    events = EventAccumulator(str(run))
    events.Reload()
    logged = set(events.Tags()["scalars"])
    assert {keys.VAL_L1, keys.TRAIN_LOSS, keys.TEST_L1} <= logged
    assert len(events.Scalars(keys.VAL_L1)) == 2  # one per generation
