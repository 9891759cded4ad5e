"""The tutorials' code, as the pages include it, runs: the operator prunes whole units in
both regimes, its study plans, and the data tutorial's file trains."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lit_evoae.callbacks import Pruning
from lit_evoae.population.stacked import StackedAutoencoder
from lit_evoae.population.topology import Ring
from lit_evoae.systems import CanonicalAutoencoder, CoevolutionaryAutoencoder

CODE = Path(__file__).resolve().parents[1] / "docs" / "tutorials" / "code"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, CODE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as `class_path: unit_pruning...` finds it on PYTHONPATH
    spec.loader.exec_module(module)
    return module


def test_the_unit_operator_removes_whole_units_and_only_live_ones():
    operator = load("unit_pruning").RandomUnitPruning(amount=0.5)
    population = StackedAutoencoder(3, [8, 6, 2], [2, 6, 8])
    rows = torch.tensor([0, 2])
    generator = torch.Generator().manual_seed(0)
    for linear, (weights, biases) in zip(
        population.linears(), operator.masks(population, rows, generator), strict=True
    ):
        dropped = ~biases  # (rows, out)
        assert dropped.sum(1).tolist() == [linear.out_features // 2] * 2
        assert torch.equal(~weights.any(1), dropped)  # every incoming weight of a dropped unit
    with pytest.raises(Exception, match="operator.amount"):
        load("unit_pruning").RandomUnitPruning(amount=1.5)


@pytest.mark.integration
@pytest.mark.parametrize("regime", ["canonical", "coevolution"])
def test_the_unit_operator_prunes_in_both_regimes(regime, tiny_data, quiet_trainer):
    operator = load("unit_pruning").RandomUnitPruning(amount=0.25)
    if regime == "canonical":
        system = CanonicalAutoencoder(tiny_data.input_dim, (8,), 3, lr=0.01)
    else:
        system = CoevolutionaryAutoencoder(
            tiny_data.input_dim, (8,), 3, lr=0.01, topology=Ring(size=4)
        )
    trainer = quiet_trainer(max_epochs=2, callbacks=[Pruning(operator, probability=1.0)])
    trainer.fit(system, datamodule=tiny_data)
    population, best = system.best_individual()
    first = next(population.linears())
    dead = ~first.bias_mask[best]
    assert dead.sum() >= 2  # two prunings of a quarter of 8 units
    assert not first.weight[best][:, dead].any()  # a removed unit has no input left


def test_the_tutorial_study_plans():
    from lit_evoae.study.spec import load_study

    load("unit_pruning")
    study = load_study(CODE / "unit_study.yaml")
    assert len(study.runs()) == 2 * 3 * 5 and len(study.claims) == 2


@pytest.mark.integration
def test_the_tutorial_fragment_builds_the_operator(tmp_path, monkeypatch):
    from lit_evoae.cli import build_cli

    load("unit_pruning")
    monkeypatch.syspath_prepend(str(CODE))
    root = Path(__file__).resolve().parents[1]
    cli = build_cli(
        [
            "--config",
            str(root / "configs" / "canonical.yaml"),
            "--config",
            str(CODE / "random_unit_exponential.yaml"),
            "--trainer.default_root_dir",
            str(tmp_path),
            "--data.init_args.data_dir",
            str(tmp_path / "data"),
        ],
        run=False,
    )
    (pruning,) = [c for c in cli.trainer.callbacks if isinstance(c, Pruning)]
    assert type(pruning.operator).__name__ == "RandomUnitPruning" and pruning.operator.amount == 0.1


@pytest.mark.integration
def test_the_data_tutorials_file_trains(tmp_path, quiet_trainer):
    from lit_evoae.data import ArrayDataModule

    vectors = load("make_vectors").make_vectors()
    assert vectors.shape == (600, 64) and 0 <= vectors.min() and vectors.max() <= 1
    np.save(tmp_path / "vectors.npy", vectors)
    data = ArrayDataModule(tmp_path / "vectors.npy", batch_size=32)
    system = CanonicalAutoencoder(data.input_dim, (16,), 4, lr=0.01)
    trainer = quiet_trainer(max_epochs=3)
    trainer.fit(system, datamodule=data)
    assert trainer.callback_metrics["val/l1"] < 0.5
