"""W&B in offline mode (no account, no network, run files written locally): the logging
fragment through the CLI, the WandbMedia callback, and the sweep file's runs."""

import contextlib
import io
import itertools
import json
import os
import struct
import sys
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image
from pytorch_lightning.loggers import CSVLogger, WandbLogger

from lit_evoae import keys
from lit_evoae.callbacks import Pruning, WandbMedia
from lit_evoae.callbacks.wandb_media import STRIP_HEIGHT, reconstruction_picture
from lit_evoae.cli import build_cli
from lit_evoae.errors import ConfigError
from lit_evoae.population.topology import Ring
from lit_evoae.pruning.operators import RandomPruning
from lit_evoae.systems import CanonicalAutoencoder, CoevolutionaryAutoencoder

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ROOT / "configs" / "studies" / "sweeps" / "pruning.yaml"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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


# ---------------------------------------------------------------- reading an offline run
def run_records(run: Path):
    """The protobuf records of an offline run's `run-*.wandb` file.

    The file is a 7-byte W&B header, then a LevelDB-style log: 32 KiB blocks of chunks, each a
    7-byte header (CRC32, length, type: 1 full, 2 first, 3 middle, 4 last) and its bytes.
    """
    from wandb.proto import wandb_internal_pb2

    (events,) = run.glob("run-*.wandb")
    data = events.read_bytes()
    assert data.startswith(b":W&B")
    block, position, pieces = 32768, 7, []
    while position + 7 <= len(data):
        if block - position % block < 7:  # too little room left for a header: padding
            position += block - position % block
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        pieces.append(data[position + 7 : position + 7 + length])
        position += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b"".join(pieces))
            pieces = []
            yield record


def history(run: Path) -> list[dict]:
    """The run's logged rows, nested values keyed by their path ("masks/encoders.0/bins")."""
    return [
        {
            item.key or "/".join(item.nested_key): json.loads(item.value_json)
            for item in record.history.item
        }
        for record in run_records(run)
        if record.WhichOneof("record_type") == "history"
    ]


def config(run: Path) -> dict:
    """The run's config; each config record holds the keys updated since the last."""
    merged = {}
    for record in run_records(run):
        if record.WhichOneof("record_type") == "config":
            merged.update({item.key: json.loads(item.value_json) for item in record.config.update})
    return merged


def finish_writing() -> None:
    """End the run and wait for W&B's writer process, so that everything logged is in the
    run's files: `finish` alone returns before the writer has flushed the `.wandb` file."""
    import wandb

    wandb.finish()
    wandb.teardown()


def only_run(folder: Path) -> Path:
    (run,) = (folder / "wandb").glob("offline-run-*")
    return run


# ---------------------------------------------------------------- the fragment through the CLI
@pytest.mark.integration
def test_without_a_key_the_run_is_logged_offline_with_config_media_and_a_sync_hint(
    no_wandb_credentials, tmp_path, capsys
):
    build_cli(
        [
            "fit",
            "--config",
            str(ROOT / "configs" / "canonical.yaml"),
            "--config",
            str(ROOT / "configs" / "logging" / "wandb.yaml"),
            "--trainer.max_epochs",
            "1",
            "--data.init_args.dim",
            "20",
            "--trainer.enable_progress_bar",
            "false",
        ]
    )
    assert "WANDB_MODE" not in os.environ  # told to the logger, not to the process
    run = only_run(tmp_path)
    assert f"wandb sync {run}" in capsys.readouterr().out
    finish_writing()
    logged = config(run)
    assert logged["cli"]["model"]["class_path"] == "lit_evoae.systems.CanonicalAutoencoder"
    assert logged["cli"]["pruning"]["operator"] is None
    assert logged["hidden_sizes"] == [30]  # the model's own hyperparameters too
    # one epoch is the last one, so the fragment's WandbMedia logs despite every_n_epochs: 10
    (picture,) = (run / "files" / "media" / "images").rglob("*.png")
    assert picture.read_bytes().startswith(PNG_SIGNATURE)
    keys = set().union(*history(run))
    assert {"val/reconstructions/path", "masks/encoders.0/bins", "masks/decoders.2/bins"} <= keys


# ---------------------------------------------------------------- the callback
@pytest.mark.integration
def test_media_show_reconstructions_and_pruned_units_every_epoch(
    no_wandb_credentials, monkeypatch, tmp_path, tiny_data, quiet_trainer
):
    monkeypatch.setenv("WANDB_MODE", "offline")
    system = CoevolutionaryAutoencoder(24, (8,), 3, lr=0.01, topology=Ring(size=4), seeds=[1])
    pruning = Pruning(RandomPruning(amount=0.3), probability=1.0, seed=0)
    logger = WandbLogger(project="lit_evoae_test", save_dir=str(tmp_path))
    media = WandbMedia(every_n_epochs=1, examples=8)
    trainer = quiet_trainer(max_epochs=2, logger=logger, callbacks=[pruning, media])
    trainer.fit(system, datamodule=tiny_data)
    finish_writing()

    run = only_run(tmp_path)
    pictures = sorted((run / "files" / "media" / "images" / "val").glob("reconstructions_*.png"))
    assert len(pictures) == 2  # one per epoch, none from the sanity check
    with Image.open(pictures[-1]) as picture:
        # 8 examples (from two validation batches of 5), each input above its reconstruction
        assert (picture.mode, picture.size) == ("L", (24, 2 * 8 * STRIP_HEIGHT))
    rows = [row for row in history(run) if "masks/encoders.0/bins" in row]
    # logged at each generation's end: global_step counts generations
    assert [row["trainer/global_step"] for row in rows] == [1, trainer.global_step]
    assert rows[-1]["val/reconstructions/_type"] == "image-file"
    for layer, units in (
        ("encoders.0", 8),
        ("encoders.2", 3),
        ("decoders.0", 8),
        ("decoders.2", 24),
    ):
        histogram = rows[-1][f"masks/{layer}/values"], rows[-1][f"masks/{layer}/bins"]
        assert sum(histogram[0]) == units  # one count per unit of the layer
        assert histogram[1][-1] <= 1 and histogram[1][0] < 1  # some unit lost incoming weights


@pytest.mark.integration
def test_with_csv_logging_only_the_callback_does_nothing(tmp_path, tiny_data, quiet_trainer):
    media = WandbMedia(every_n_epochs=1)
    trainer = quiet_trainer(max_epochs=1, logger=CSVLogger(tmp_path), callbacks=[media])
    trainer.fit(CanonicalAutoencoder(24, (8,), 3), datamodule=tiny_data)
    assert trainer.state.finished
    assert len(media._inputs) == 0  # kept nothing
    assert not (tmp_path / "wandb").exists()


def test_reconstruction_picture_tiles_square_inputs_and_stripes_others():
    inputs, reconstructions = torch.rand(3, 16), torch.rand(3, 16)
    picture, _ = reconstruction_picture(inputs, reconstructions)
    assert picture.dtype == torch.uint8 and picture.shape == (8, 12)  # 2 x 3 tiles of 4 x 4
    expected = (reconstructions[2].view(4, 4) * 255).round().to(torch.uint8)
    assert torch.equal(picture[4:, 8:], expected)  # bottom right: the last reconstruction

    picture, _ = reconstruction_picture(torch.ones(3, 5), torch.zeros(3, 5))
    assert picture.shape == (2 * 3 * STRIP_HEIGHT, 5)
    assert picture[:STRIP_HEIGHT].eq(255).all()  # the first input's strip...
    assert picture[STRIP_HEIGHT : 2 * STRIP_HEIGHT].eq(0).all()  # ...above its reconstruction


@pytest.mark.parametrize("field", ["every_n_epochs", "examples"])
def test_bad_media_arguments_name_the_field(field):
    with pytest.raises(ConfigError, match=field):
        WandbMedia(**{field: 0})


# ---------------------------------------------------------------- the sweep
def sweep_runs(sweep: dict) -> list[list[str]]:
    """The command lines a W&B agent would start for a grid sweep, by the agent's own code."""
    from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

    names = list(sweep["parameters"])
    grid = itertools.product(*(sweep["parameters"][name]["values"] for name in names))
    commands = []
    for values in grid:
        macros = create_sweep_command_args(
            {"args": {name: {"value": value} for name, value in zip(names, values, strict=True)}}
        )
        macros["program"] = [sweep["program"]]
        command = []
        for item in sweep["command"]:  # a "${name}" item is replaced by that macro's list
            command += macros[item[2:-1]] if item.startswith("${") else [item]
        commands.append(command)
    return commands


@pytest.mark.integration
def test_every_run_of_the_pruning_sweep_parses(monkeypatch):
    sweep = yaml.safe_load(SWEEP.read_text())
    assert sweep["method"] == "grid"
    assert sweep["metric"] == {"name": keys.VAL_L1, "goal": "minimize"}
    commands = sweep_runs(sweep)
    assert len(commands) == 4 * 5
    monkeypatch.chdir(ROOT)  # the agent runs from the repository root; parsing writes nothing
    monkeypatch.setattr(sys, "argv", ["lit-evoae"])
    seen = set()
    for program, *arguments in commands:
        assert program == "lit-evoae"
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), pytest.raises(SystemExit) as exited:
            build_cli([*arguments, "--print_config"])
        assert exited.value.code == 0, arguments
        parsed = yaml.safe_load(printed.getvalue())
        assert parsed["trainer"]["logger"]["class_path"].endswith("WandbLogger")
        assert parsed["model"]["class_path"] == "lit_evoae.systems.CoevolutionaryAutoencoder"
        operator = parsed["pruning"]["operator"]
        seen.add((operator and operator["class_path"], parsed["seed_everything"]))
    assert {operator for operator, _ in seen} == {
        None,
        "lit_evoae.pruning.operators.RandomPruning",
        "lit_evoae.pruning.operators.VariancePruning",
        "lit_evoae.pruning.operators.ConjunctivePruning",
    }
    assert len(seen) == 20  # every (fragment, seed) pair reached the parsed config
