"""The W&B fragment in offline mode: no account, no network, run files written locally."""

import sys
from pathlib import Path

import pytest

from lit_evoae.cli import build_cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_wandb_credentials(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit-evoae"])
    yield
    import wandb

    wandb.finish()


def test_without_a_key_the_run_is_logged_offline_with_a_sync_hint(no_wandb_credentials, tmp_path,
                                                                   capsys):
    build_cli(["fit", "--config", str(ROOT / "configs" / "canonical.yaml"),
               "--config", str(ROOT / "configs" / "logging" / "wandb.yaml"),
               "--trainer.max_epochs", "1", "--data.init_args.dim", "20",
               "--trainer.enable_progress_bar", "false"])
    import os

    assert os.environ["WANDB_MODE"] == "offline"
    (run,) = (tmp_path / "wandb").glob("offline-run-*")
    (events,) = run.glob("run-*.wandb")
    assert events.stat().st_size > 0
    assert f"wandb sync {run}" in capsys.readouterr().out
