"""Every shipped config parses, trains one batch and tests, so no YAML in the repository can rot."""

import sys
from pathlib import Path

import pytest

from lit_evoae.cli import build_cli

ROOT = Path(__file__).resolve().parents[1]
# Study files (configs/studies/) are not LightningCLI configs, and configs/logging/ holds
# fragments; tests/study and tests/test_wandb.py cover them.
CONFIGS = sorted(p for p in (ROOT / "configs").rglob("*.yaml")
                 if not {"studies", "logging"} & set(p.parts))
# The paper's data and network fragments only complete a regime preset.
PAPER_FRAGMENTS = {"data", "network"}


def arguments_of(config: Path) -> list[str]:
    base = ROOT / "configs" / "paper" / "canonical.yaml"
    configs = [base, config] if PAPER_FRAGMENTS & set(config.parts) else [config]
    return [item for path in configs for item in ("--config", str(path))]


@pytest.mark.parametrize("config", CONFIGS, ids=[str(c.relative_to(ROOT)) for c in CONFIGS])
def test_config_runs_one_batch(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit-evoae"])
    # 10 batches: sequential coevolution needs one per cell
    cli = build_cli(["fit", *arguments_of(config), "--trainer.fast_dev_run", "10",
                     "--trainer.enable_progress_bar", "false"])
    assert cli.trainer.state.finished
    # fit ended with the automatic test of the best individual
    assert 0 < cli.trainer.callback_metrics["test/l1"].item() < 1
