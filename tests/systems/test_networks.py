"""Every network preset trains in every regime, update order and cell evaluation, pruned.

The networks are read from `configs/paper/network/` itself, so a new preset is covered
the day it lands; each combination gets one pruning operator, in turn, so that every
operator prunes every network on some combination.
"""

from itertools import cycle, product
from pathlib import Path

import pytest
import torch
import yaml

from lit_evoae import keys
from lit_evoae.callbacks import Pruning
from lit_evoae.population.strategy import CoevolutionStrategy
from lit_evoae.population.topology import Ring
from lit_evoae.pruning.operators import (
    ConjunctivePruning,
    MagnitudePruning,
    RandomPruning,
    VariancePruning,
)
from lit_evoae.systems import CanonicalAutoencoder, CoevolutionaryAutoencoder

pytestmark = pytest.mark.integration

PRESETS = Path(__file__).resolve().parents[2] / "configs" / "paper" / "network"
NETWORKS = {
    p.stem: yaml.safe_load(p.read_text())["model"]["init_args"] for p in PRESETS.glob("*.yaml")
}
REGIMES = [("canonical", None, None)] + [
    ("coevolution", order, evaluation)
    for order, evaluation in product(
        ("synchronous", "sequential"), ("lipi_simple", "epoch_node", "all_vs_all")
    )
]
REGIMES.insert(2, ("coevolution", "synchronous", "lipi_simple_pte"))
OPERATORS = [
    lambda: RandomPruning(amount=0.2),
    lambda: MagnitudePruning(amount=0.2),
    lambda: VariancePruning(amount=0.2),
    lambda: ConjunctivePruning(threshold=0.3, cases=20),
]
COMBINATIONS = [
    (network, regime, operator)
    for (network, regime), operator in zip(
        product(sorted(NETWORKS), REGIMES), cycle(range(len(OPERATORS))), strict=False
    )
]


def test_every_network_meets_every_operator():
    for network in NETWORKS:
        met = {operator for name, _, operator in COMBINATIONS if name == network}
        assert met == set(range(len(OPERATORS))), network


def system(network: str, regime: tuple, input_dim: int):
    kind, order, evaluation = regime
    settings = {**NETWORKS[network], "input_dim": input_dim, "lr": 0.01}
    if kind == "canonical":
        return CanonicalAutoencoder(**settings)
    strategy = CoevolutionStrategy(update_order=order, cell_evaluation=evaluation)
    return CoevolutionaryAutoencoder(**settings, topology=Ring(size=4), strategy=strategy)


@pytest.mark.parametrize(
    "network, regime, operator",
    COMBINATIONS,
    ids=lambda v: "-".join(filter(None, v)) if isinstance(v, tuple) else str(v),
)
def test_the_network_trains_two_pruned_generations(
    network, regime, operator, tiny_data, quiet_trainer
):
    torch.manual_seed(0)
    model = system(network, regime, tiny_data.input_dim)
    pruning = Pruning(operator=OPERATORS[operator](), probability=1.0)
    trainer = quiet_trainer(max_epochs=2, callbacks=[pruning])
    trainer.fit(model, datamodule=tiny_data)
    assert trainer.current_epoch == 2
    assert torch.isfinite(trainer.callback_metrics[keys.VAL_L1])
    population, best = model.best_individual()
    assert population.pruned(), "the operator pruned nothing"
    plain = model.autoencoder()  # exports to a plain module that reconstructs as the system
    inputs = torch.rand(3, tiny_data.input_dim)
    torch.testing.assert_close(plain(inputs), model(inputs))


def test_denoising_trains_from_corrupted_inputs_to_clean_ones_and_validates_clean(
    tiny_data, quiet_trainer, monkeypatch
):
    import lit_evoae.population.training as training

    pairs = []
    original = training.train_pass

    def recording(*args, **kwargs):
        losses_of = args[6]

        def spy(step, inputs, targets):
            pairs.append((inputs.detach().clone(), targets.clone()))
            return losses_of(step, inputs, targets)

        return original(*args[:6], spy, *args[7:], **kwargs)

    monkeypatch.setattr("lit_evoae.systems.canonical.train_pass", recording)
    model = system("denoising", ("canonical", None, None), tiny_data.input_dim)
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model, datamodule=tiny_data)
    train = tiny_data.splits["train"].tensors[0]
    for inputs, targets in pairs:
        assert all(any(torch.equal(row, example) for example in train) for row in targets[0])
        noise = (inputs - targets).flatten()
        assert 0.3 < noise.std().item() < 0.5  # the preset's N(0, 0.4^2)
    validation = tiny_data.splits["val"].tensors[0]
    score = trainer.validate(model, datamodule=tiny_data, verbose=False)[0][keys.VAL_L1]
    clean = (model(validation) - validation).abs().mean().item()
    assert score == pytest.approx(clean, abs=1e-6)
