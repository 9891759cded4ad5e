import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import yaml

from lit_evoae import keys
from lit_evoae.callbacks import Pruning
from lit_evoae.cli import build_cli
from lit_evoae.data import BinaryClusteringDataModule
from lit_evoae.errors import ConfigError
from lit_evoae.population.topology import Ring
from lit_evoae.pruning.masks import prune_units
from lit_evoae.pruning.operators import (
    ConjunctivePruning,
    PruningOperator,
    RandomPruning,
    VariancePruning,
)
from lit_evoae.pruning.schedules import Fixed, PruneAfter
from lit_evoae.systems import CanonicalAutoencoder, CoevolutionaryAutoencoder

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data(tmp_path):
    return BinaryClusteringDataModule(
        num_clusters=3, dim=20, examples_per_cluster=40, batch_size=20, data_dir=tmp_path / "data"
    )


def trainer(epochs, *callbacks):
    return pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=list(callbacks),
    )


def coevolution(size=4):
    return CoevolutionaryAutoencoder(20, (8,), 3, lr=0.01, topology=Ring(size=size), seeds=[1])


@pytest.mark.integration
def test_probability_one_prunes_every_cell_and_zero_none(data):
    system = coevolution()
    pruning = Pruning(RandomPruning(0.3), Fixed(), probability=1.0)
    trained = trainer(1, pruning)
    trained.fit(system, datamodule=data)
    assert trained.callback_metrics[keys.PRUNE_EVENTS].item() == 4
    assert bool((system.centers.sparsity() > 0.25).all())
    assert trained.callback_metrics[keys.PRUNE_LOSS_CHANGE].item() != 0
    system = coevolution()
    trained = trainer(2, Pruning(RandomPruning(0.3), Fixed(), probability=0.0))
    trained.fit(system, datamodule=data)
    assert trained.callback_metrics[keys.PRUNE_EVENTS].item() == 0
    assert system.centers.sparsity().max() == 0


def masked_entries_are_zero(population):
    return all(
        bool((linear.weight[~linear.weight_mask] == 0).all())
        and bool((linear.bias[~linear.bias_mask] == 0).all())
        for linear in population.linears()
    )


@pytest.mark.integration
def test_masks_persist_through_training_and_a_checkpoint_round_trip(data, tmp_path):
    model = CanonicalAutoencoder(20, (8,), 3, lr=0.05)
    first = trainer(1, Pruning(RandomPruning(0.4), Fixed(), probability=1.0))
    first.fit(model, datamodule=data)
    masks = [linear.weight_mask.clone() for linear in model.population.linears()]
    pruned = model.population.sparsity()[0].item()
    assert 0.35 < pruned < 0.45
    first.save_checkpoint(tmp_path / "pruned.ckpt")
    # more training without pruning: 4 more epochs of 6 minibatches each
    resumed = CanonicalAutoencoder.load_from_checkpoint(tmp_path / "pruned.ckpt")
    later = trainer(5)
    later.fit(resumed, datamodule=data, ckpt_path=tmp_path / "pruned.ckpt")
    assert later.global_step == 5 and int(resumed.adam.steps[0]) == 5 * 6
    after = [linear.weight_mask for linear in resumed.population.linears()]
    assert all(torch.equal(a, b) for a, b in zip(masks, after, strict=True))
    assert masked_entries_are_zero(resumed.population)
    assert resumed.population.sparsity()[0].item() >= pruned
    assert resumed.autoencoder().encoder[0].weight.count_nonzero() < 20 * 8


@pytest.mark.integration
def test_regrow_zeroes_once_and_lets_weights_come_back(data):
    system = coevolution()
    trained = trainer(1, Pruning(RandomPruning(0.5), PruneAfter(), probability=1.0, regrow=True))
    trained.fit(system, datamodule=data)
    assert all(bool(linear.weight_mask.all()) for linear in system.centers.linears())
    zeroed = system.centers.encoders[0].weight == 0
    assert zeroed.float().mean() > 0.4
    trainer(3).fit(system, datamodule=data)  # train on: the zeroed weights move again
    assert bool((system.centers.encoders[0].weight[zeroed] != 0).any())


@pytest.mark.integration
def test_variance_and_conjunctive_prune_units_of_coevolving_pairs(data):
    for operator in (VariancePruning(amount=0.5), ConjunctivePruning(threshold=0.3, cases=30)):
        system = coevolution()
        trainer(2, Pruning(operator, Fixed(), probability=1.0)).fit(system, datamodule=data)
        layer = system.centers.encoders[0]
        dead_units = ~(layer.weight_mask.any(1) | layer.bias_mask)
        assert bool(dead_units.any()), type(operator).__name__
        assert masked_entries_are_zero(system.centers)


@pytest.mark.integration
def test_resume_with_pruning_continues_exactly(data, tmp_path):
    def run(epochs, resume=None):
        pl.seed_everything(2, verbose=False)
        system = coevolution()
        pruning = Pruning(VariancePruning(amount=0.3), Fixed(), probability=0.5, seed=9)
        fitted = pl.Trainer(
            max_epochs=epochs,
            accelerator="cpu",
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=tmp_path,
            callbacks=[pruning],
        )
        fitted.fit(system, datamodule=data, ckpt_path=resume)
        return system, fitted

    straight, _ = run(4)
    _, half = run(2)
    half.save_checkpoint(tmp_path / "half.ckpt")
    resumed, _ = run(4, resume=tmp_path / "half.ckpt")
    assert straight.centers.sparsity().sum() > 0
    for name, tensor in straight.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name


@pytest.mark.integration
def test_conjunctive_needs_enough_validation_cases(data):
    with pytest.raises(ConfigError, match="cases=500 is more than the 120 validation"):
        trainer(1, Pruning(ConjunctivePruning(cases=500))).fit(coevolution(), datamodule=data)


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda: RandomPruning(amount=1.0), "amount"),
        (lambda: VariancePruning(amount=-0.1), "amount"),
        (lambda: VariancePruning(prune_end="middle"), "prune_end"),
        (lambda: ConjunctivePruning(threshold=0.0), "threshold"),
        (lambda: ConjunctivePruning(cases=0), "cases"),
        (lambda: Pruning(probability=1.5), "probability"),
    ],
)
def test_bad_arguments_name_the_field(make, named):
    with pytest.raises(ConfigError, match=named):
        make()


@pytest.mark.parametrize(
    ("override", "named"),
    [
        (["--pruning.probability", "1.5"], "probability"),
        (["--pruning.operator", "lit_evoae.pruning.operators.Nope"], "Nope"),
        (
            ["--pruning.operator", "RandomPruning", "--pruning.operator.init_args.amount", "1"],
            "amount",
        ),
        (["--pruning.schedule", "Sometimes"], "Sometimes"),
        (
            [
                "--pruning.operator",
                "MagnitudePruning",
                "--pruning.operator.init_args.amount",
                "1.5",
            ],
            "pruning.operator.init_args.amount",
        ),
    ],
)
def test_bad_pruning_values_fail_at_parse_time(
    override, named, tmp_path, monkeypatch, capsys, tiny_coevolution
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit-evoae"])
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_coevolution))
    with pytest.raises(SystemExit) as exited:
        build_cli(["fit", "--config", str(config), *override])
    assert exited.value.code == 2
    assert named in capsys.readouterr().err


@pytest.mark.integration
def test_side_passes_do_not_pollute_the_variance_statistics(data):
    system = coevolution()
    operator = VariancePruning(amount=0.3)
    trained = trainer(1, Pruning(operator, Fixed(), probability=1.0))
    seen = []
    original = operator.masks

    def spy(population, chosen, generator):
        seen.append([count[chosen].tolist() for count in operator.moments.count])
        return original(population, chosen, generator)

    operator.masks = spy
    trained.fit(system, datamodule=data)
    # 120 training examples seen per layer, not 120 + the 100-example loss probe
    assert seen == [[[120.0] * 4] * 4]


@pytest.mark.integration
def test_paper_presets_keep_regrow_when_a_fragment_is_composed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit-evoae"])
    cli = build_cli(
        [
            "fit",
            "--config",
            str(ROOT / "configs" / "paper" / "canonical.yaml"),
            "--config",
            str(ROOT / "callbacks" / "variance_fixed.yaml"),
            "--trainer.fast_dev_run",
            "2",
            "--trainer.enable_progress_bar",
            "false",
            "--data.init_args.dim",
            "20",
        ]
    )
    (pruning,) = [c for c in cli.trainer.callbacks if isinstance(c, Pruning)]
    assert pruning.regrow is True and isinstance(pruning.operator, VariancePruning)


class FirstUnitPruning(PruningOperator):
    """An operator the callback has never heard of: prunes each layer's unit 0 and records
    what the callback asked of it."""

    def __init__(self):
        self.calls = []

    def attach(self, trainer, system, variant=None):
        self.calls.append("attach")

    def reset_(self, rows):
        self.calls.append("reset")

    def detach(self):
        self.calls.append("detach")

    def layer_masks(self, weight_mask, bias_mask, statistic, generator):
        units = torch.zeros_like(bias_mask)
        units[:, 0] = True
        return prune_units(weight_mask, bias_mask, units)


@pytest.mark.integration
@pytest.mark.parametrize("regime", ["canonical", "coevolution"])
def test_a_new_operator_needs_no_change_to_the_callback(regime, data):
    system = coevolution() if regime == "coevolution" else CanonicalAutoencoder(20, (8,), 3)
    operator = FirstUnitPruning()
    trainer(2, Pruning(operator, Fixed(), probability=1.0)).fit(system, datamodule=data)
    assert operator.calls == ["attach", "reset", "reset", "detach"]
    population, _ = system.best_individual()
    for linear in population.linears():
        assert not bool(linear.weight_mask[:, :, 0].any()) and not bool(
            linear.bias_mask[:, 0].any()
        )
        assert bool(linear.weight_mask[:, :, 1:].all())
    assert masked_entries_are_zero(population)
