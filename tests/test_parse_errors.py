"""Parse errors through the real parser: one screen, the full key, what is allowed."""

import sys

import pytest
import yaml

from lit_evoae.cli import build_cli

COEVOLUTION = {
    "trainer": {"max_epochs": 1, "accelerator": "cpu"},
    "model": {
        "class_path": "lit_evoae.systems.CoevolutionaryAutoencoder",
        "init_args": {
            "hidden_sizes": [8],
            "latent_dim": 3,
            "topology": {
                "class_path": "lit_evoae.population.topology.Ring",
                "init_args": {"size": 4, "radius": 1},
            },
        },
    },
    "data": {
        "class_path": "lit_evoae.data.BinaryClusteringDataModule",
        "init_args": {"num_clusters": 3, "dim": 20, "examples_per_cluster": 20},
    },
}


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit-evoae"])
    path = tmp_path / "coevolution.yaml"
    path.write_text(yaml.safe_dump(COEVOLUTION))
    return path


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (["--data.init_args.batch_size", "-1"], "data.init_args.batch_size: got -1; allowed: >0"),
        (
            ["--model.init_args.topology.init_args.radius", "0"],
            "model.init_args.topology.init_args.radius: got 0; allowed: >0",
        ),
        (["--pruning.probability", "2"], "pruning.probability: got 2; allowed: >=0 and <=1"),
        (
            [
                "--pruning.operator",
                "MagnitudePruning",
                "--pruning.operator.init_args.amount",
                "1.5",
            ],
            "pruning.operator.init_args.amount: got 1.5; allowed: >=0 and <=1",
        ),
        (
            ["--model.init_args.optimizer_state", "fresh"],
            "model.init_args.optimizer_state: got fresh; allowed: persistent, reset_every_step",
        ),
        (
            ["--model.init_args.latnt_dim", "3"],
            "model.init_args.latnt_dim: unknown key of CoevolutionaryAutoencoder "
            "(did you mean latent_dim?); its keys: input_dim, hidden_sizes, latent_dim",
        ),
        (
            ["--model.init_args.strategy.init_args.tournament_sise", "3"],
            "model.init_args.strategy.init_args.tournament_sise: unknown key of "
            "CoevolutionStrategy (did you mean tournament_size?)",
        ),
        (
            ["--model.init_args.strategy.init_args.update_order", "sequentail"],
            "update_order: unknown class sequentail (did you mean Sequential?); valid classes: "
            "Sequential, Synchronous",
        ),
        (
            ["--pruning.operator", "RandomPrunning"],
            "pruning.operator: unknown class RandomPrunning (did you mean RandomPruning?); valid "
            "classes: ConjunctivePruning, MagnitudePruning, RandomPruning, VariancePruning",
        ),
        (
            ["--model.init_args.topology", "Rng"],
            "model.init_args.topology: unknown class Rng (did you mean Ring?); valid classes: Ring",
        ),
        (["--data.init_args.dim", "abc"], "data.init_args.dim: expected a PositiveInt"),
    ],
)
def test_a_parse_error_fits_one_screen_with_the_full_key_and_what_is_allowed(
    config, capsys, override, expected
):
    with pytest.raises(SystemExit) as exited:
        build_cli(["fit", "--config", str(config), *override])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert lines[0].startswith("lit-evoae: error: ") and expected in lines[0], err
    assert lines[-1] == "Every key and its allowed values: lit-evoae fit --help"
    assert len(lines) <= 3, err  # Lightning may warn once before parsing
    for noise in ("usage:", "NestedArg", "Subtypes", "NoneType"):
        assert noise not in err


@pytest.mark.parametrize("typed", ["--trainer.max_epoch", "--trainer.max_epocs"])
def test_no_abbreviations_and_a_misspelt_key_gets_did_you_mean(config, capsys, typed):
    with pytest.raises(SystemExit) as exited:
        build_cli(["fit", "--config", str(config), typed, "3"])
    assert exited.value.code == 2
    first = capsys.readouterr().err.strip().splitlines()[0]
    assert first == (
        f"lit-evoae: error: unrecognized arguments: {typed} (did you mean --trainer.max_epochs?)"
    )


def test_a_yaml_error_names_the_file_line_column_and_cause(config, tmp_path):
    from lit_evoae.errors import ConfigError

    broken = tmp_path / "broken.yaml"
    broken.write_text("trainer:\n  max_epochs: 3\n  bad: [1, 2\n")
    with pytest.raises(ConfigError) as raised:
        build_cli(["fit", "--config", str(config), "--config", str(broken)])
    assert str(raised.value) == (
        f"config file {broken}: invalid YAML at line 4, column 1: expected ',' or ']', but got "
        "'<stream end>' (while parsing a flow sequence)"
    )
