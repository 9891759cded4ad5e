"""A checkpoint keeps every constructor argument of every configurable class.

Each class below is built with a non-default value for every argument of its signature;
the table must name them all, so a new argument fails here until it is given one. The
systems are then fitted for one generation, saved, reloaded and compared.
"""

import inspect

import pytest
import pytorch_lightning as pl
import torch

from lit_evoae.components import build, describe
from lit_evoae.data import BinaryClusteringDataModule
from lit_evoae.population.cell_evaluation import AllVsAll, Cooperative, Paired, PruneThenEvaluate
from lit_evoae.population.corruption import BitFlips, GaussianNoise
from lit_evoae.population.orders import Sequential, Synchronous
from lit_evoae.population.strategy import CoevolutionStrategy
from lit_evoae.population.topology import Ring, Torus
from lit_evoae.systems import CanonicalAutoencoder, CoevolutionaryAutoencoder

STRATEGY = {
    "solution_concept": "mean",
    "tournament_size": 3,
    "lr_mutation_sigma": 2e-5,
    "lr_bounds": (1e-8, 5.0),
    "cell_evaluation": Cooperative(),
    "update_order": Sequential(),
}
COMPONENTS = {
    Ring: {"size": 7, "radius": 2, "wrap": True},
    Torus: {"rows": 4, "columns": 5, "neighbourhood": "von_neumann"},
    CoevolutionStrategy: STRATEGY,
    Synchronous: {},
    Sequential: {},
    Paired: {"score_replacement": True},
    PruneThenEvaluate: {},
    Cooperative: {},
    AllVsAll: {},
    GaussianNoise: {"std": 0.2},
    BitFlips: {"probability": 0.3},
}
COEVOLUTION = {
    "input_dim": 12,
    "hidden_sizes": (6, 5),
    "latent_dim": 2,
    "topology": Ring(size=5, radius=2),
    "strategy": CoevolutionStrategy(**STRATEGY),
    "lr": 0.02,
    "betas": (0.6, 0.99),
    "optimizer_state": "reset_every_step",
    "variational": True,
    "selection": "l1",
    "denoising": GaussianNoise(std=0.2),
    "seeds": [11, 12],
}
CANONICAL = {
    "input_dim": 12,
    "hidden_sizes": (6, 5),
    "latent_dim": 2,
    "lr": 0.02,
    "betas": (0.6, 0.99),
    "lr_step_epochs": 3,
    "lr_gamma": 0.5,
    "optimizer_state": "reset_every_step",
    "variational": True,
    "denoising": BitFlips(probability=0.3),
    "seeds": [11, 12],
}


def arguments_of(cls) -> set[str]:
    parameters = inspect.signature(cls.__init__).parameters.values()
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return {p.name for p in parameters if p.name != "self" and p.kind not in variadic}


def defaults_of(cls) -> dict:
    parameters = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


@pytest.mark.parametrize(
    ("cls", "arguments"),
    [
        *COMPONENTS.items(),
        (CoevolutionaryAutoencoder, COEVOLUTION),
        (CanonicalAutoencoder, CANONICAL),
    ],
    ids=lambda item: getattr(item, "__name__", ""),
)
def test_the_table_sets_every_argument_to_a_non_default(cls, arguments):
    assert set(arguments) == arguments_of(cls), "give the new argument a value here"
    defaults = defaults_of(cls)
    for name, value in arguments.items():
        if name in defaults:
            assert value != defaults[name], f"{cls.__name__}.{name} is its default"


@pytest.mark.parametrize(
    ("cls", "arguments"), COMPONENTS.items(), ids=lambda item: getattr(item, "__name__", "")
)
def test_a_described_component_rebuilds_with_every_argument(cls, arguments):
    component = cls(**arguments)
    saved = describe(component)
    assert set(saved["init_args"]) == arguments_of(cls)
    rebuilt = build(saved, cls)
    assert type(rebuilt) is cls and describe(rebuilt) == saved


def test_a_component_that_drops_an_argument_cannot_be_saved():
    class Forgetful(Ring):
        def __init__(self, size: int = 10, radius: int = 1, colour: str = "red") -> None:
            super().__init__(size, radius)  # colour is not kept

    with pytest.raises(TypeError, match="colour"):
        describe(Forgetful(colour="blue"))


@pytest.mark.integration
@pytest.mark.parametrize(
    ("system", "arguments"),
    [(CoevolutionaryAutoencoder, COEVOLUTION), (CanonicalAutoencoder, CANONICAL)],
    ids=["coevolution", "canonical"],
)
def test_a_reloaded_checkpoint_keeps_every_argument(system, arguments, tmp_path):
    data = BinaryClusteringDataModule(
        num_clusters=2,
        dim=12,
        examples_per_cluster=10,
        flip_probability=0.1,
        seed=4,
        centroid_density=0.75,
        batch_size=4,
        data_dir=tmp_path / "data",
        eval_batch_size=7,
    )
    model = system(**arguments)
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    trainer.fit(model, datamodule=data)
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    loaded = system.load_from_checkpoint(tmp_path / "model.ckpt")
    for name, value in arguments.items():
        expected = describe(value) if hasattr(value, "__dict__") else value
        saved = loaded.hparams[name]
        assert (list(saved) if isinstance(saved, tuple) else saved) == (
            list(expected) if isinstance(expected, tuple) else expected
        ), name
    if system is CoevolutionaryAutoencoder:
        assert describe(loaded.strategy) == describe(model.strategy)
        assert describe(loaded.topology) == describe(model.topology)
        assert type(loaded.strategy.update_order) is Sequential
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    reloaded_data = torch.load(tmp_path / "model.ckpt", weights_only=True)
    assert reloaded_data["datamodule_hyper_parameters"]["centroid_density"] == 0.75
