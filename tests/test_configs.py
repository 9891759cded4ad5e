"""No shipped YAML can rot: every config and fragment parses into its classes, and every
operator trains and tests in both regimes.

Parsing (`run=False`) instantiates everything a run would, so a renamed class or key fails
here; the training runs use tiny data, one per operator and regime, which is what the
shipped configs differ in once parsed.
"""

import csv
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import yaml

from lit_evoae import keys
from lit_evoae.callbacks import Pruning
from lit_evoae.cli import build_cli

pytestmark = pytest.mark.integration  # each test trains or starts a process

ROOT = Path(__file__).resolve().parents[1]
# Study files (configs/studies/) are not LightningCLI configs, and configs/logging/ holds
# fragments; tests/study and tests/test_wandb.py cover them.
CONFIGS = sorted(
    p for p in (ROOT / "configs").rglob("*.yaml") if not {"studies", "logging"} & set(p.parts)
)
# The paper's data, network and cell-evaluation fragments only complete a regime preset.
PAPER_FRAGMENTS = {"data", "network", "cell_evaluation", "measures"}
FRAGMENTS = sorted((ROOT / "callbacks").glob("*.yaml"))
REGIMES = {
    "canonical": ROOT / "configs" / "canonical.yaml",
    "coevolution": ROOT / "configs" / "coevolution.yaml",
}
OPERATORS = ["none", "random_fixed", "magnitude_fixed", "variance_fixed", "conjunctive_fixed"]
TINY = [
    "--data.init_args.num_clusters",
    "3",
    "--data.init_args.dim",
    "20",
    "--data.init_args.examples_per_cluster",
    "40",
    "--data.init_args.batch_size",
    "20",
    "--model.init_args.hidden_sizes",
    "[8]",
    "--model.init_args.latent_dim",
    "3",
    "--trainer.enable_progress_bar",
    "false",
]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit-evoae"])
    return tmp_path


def arguments_of(config: Path) -> list[str]:
    # a cell evaluation completes the coevolution preset (ann_canonical replaces its model)
    regime = "coevolution" if "cell_evaluation" in config.parts else "canonical"
    base = ROOT / "configs" / "paper" / f"{regime}.yaml"
    configs = [base, config] if PAPER_FRAGMENTS & set(config.parts) else [config]
    return [item for path in configs for item in ("--config", str(path))]


def short(path: str) -> str:
    return path.rsplit(".", 1)[-1]


@pytest.mark.parametrize("config", CONFIGS, ids=[str(c.relative_to(ROOT)) for c in CONFIGS])
def test_every_config_parses_into_its_classes(config, in_tmp):
    cli = build_cli(arguments_of(config), run=False)
    written = yaml.safe_load(config.read_text())
    for section, built in (("model", cli.model), ("data", cli.datamodule)):
        if "class_path" in (written.get(section) or {}):
            assert type(built).__name__ == short(written[section]["class_path"])
    assert any(isinstance(c, pl.callbacks.ModelCheckpoint) for c in cli.trainer.callbacks)


@pytest.mark.parametrize("fragment", FRAGMENTS, ids=[f.stem for f in FRAGMENTS])
@pytest.mark.parametrize("regime", REGIMES)
def test_every_fragment_composes_with_each_regime(fragment, regime, in_tmp):
    cli = build_cli(["--config", str(REGIMES[regime]), "--config", str(fragment)], run=False)
    (pruning,) = [c for c in cli.trainer.callbacks if isinstance(c, Pruning)]
    written = yaml.safe_load(fragment.read_text())["pruning"]
    if written["operator"] is None:
        assert pruning.operator is None
    else:
        assert type(pruning.operator).__name__ == short(written["operator"]["class_path"])
        assert type(pruning.schedule).__name__ == short(written["schedule"]["class_path"])
        assert pruning.probability == written["probability"]
        for name, value in (written["operator"].get("init_args") or {}).items():
            assert getattr(pruning.operator, name) == value, name


@pytest.mark.parametrize("operator", OPERATORS)
@pytest.mark.parametrize("regime", REGIMES)
def test_each_operator_trains_and_tests_in_each_regime(operator, regime, in_tmp):
    fragment = ROOT / "callbacks" / f"{operator}.yaml"
    cli = build_cli(
        [
            "fit",
            "--config",
            str(REGIMES[regime]),
            "--config",
            str(fragment),
            *TINY,
            "--trainer.max_epochs",
            "3",
            "--pruning.probability",
            "1.0",
            "--model.init_args.lr",
            "0.01",
        ]
    )
    assert cli.trainer.state.finished
    # fit ended with the automatic test of the best individual
    assert 0 < cli.trainer.callback_metrics[keys.TEST_L1].item() < 1
    logged = list(csv.DictReader((Path(cli.trainer.log_dir) / keys.METRICS_CSV).open()))
    events = [float(row[keys.PRUNE_EVENTS]) for row in logged if row.get(keys.PRUNE_EVENTS)]
    assert len(events) == 3  # every generation, with or without an operator
    if operator == "none":
        assert events == [0, 0, 0]
    else:
        assert sum(events) > 0
        sparsity = [
            float(row[keys.PRUNE_SPARSITY]) for row in logged if row.get(keys.PRUNE_SPARSITY)
        ]
        assert max(sparsity) > 0
    assert (Path(cli.trainer.log_dir) / keys.BEST_AUTOENCODER).is_file()
