import argparse
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from lit_evoae import cli
from lit_evoae.callbacks import Pruning
from lit_evoae.checkpoints import SYSTEM_KEY, AtomicCheckpointIO, read_checkpoint
from lit_evoae.data import BinaryClusteringDataModule
from lit_evoae.errors import DataError
from lit_evoae.population.cell_evaluation import Cooperative
from lit_evoae.population.orders import Sequential
from lit_evoae.pruning.operators import RandomPruning
from lit_evoae.systems import CoevolutionaryAutoencoder


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.ckpt"
    AtomicCheckpointIO().save_checkpoint(
        {SYSTEM_KEY: "x.Y", "state_dict": {"w": torch.ones(3)}}, path
    )
    return path


def test_a_saved_checkpoint_reads_back(good):
    assert torch.equal(read_checkpoint(good)["state_dict"]["w"], torch.ones(3))


def test_a_truncated_checkpoint_names_the_file(good):
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"checkpoint .*good.ckpt cannot be read: it is truncated"):
        read_checkpoint(good)


@pytest.mark.parametrize("content", [b"not a checkpoint at all", b""])
def test_a_non_torch_file_names_the_file(tmp_path, content):
    path = tmp_path / "notes.ckpt"
    path.write_bytes(content)
    with pytest.raises(DataError, match="notes.ckpt cannot be read"):
        read_checkpoint(path)


def test_a_foreign_checkpoint_is_refused(tmp_path):
    path = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(DataError, match="other.ckpt was not written by lit_evoae"):
        read_checkpoint(path)


def test_a_checkpoint_with_arbitrary_objects_is_not_unpickled(tmp_path):
    path = tmp_path / "evil.ckpt"
    torch.save({SYSTEM_KEY: "x.Y", "payload": argparse.Namespace(code="runs on load")}, path)
    with pytest.raises(DataError, match="not a safe PyTorch checkpoint"):
        read_checkpoint(path)


def test_a_save_killed_midway_leaves_the_previous_file(good, monkeypatch):
    before = good.read_bytes()

    def dies_halfway(payload, target):  # a path or an open file, as torch.save takes
        target.write(b"half a checkpoint")
        target.flush()
        raise KeyboardInterrupt  # the process is stopped during the write

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        AtomicCheckpointIO().save_checkpoint({SYSTEM_KEY: "x.Y"}, good)
    assert good.read_bytes() == before
    assert sorted(p.name for p in good.parent.iterdir()) == ["good.ckpt"]  # no temporaries


def test_the_cli_reports_a_damaged_checkpoint_in_one_line(
    good, tmp_path, monkeypatch, capsys, tiny_coevolution
):
    import yaml

    tiny_coevolution["data"]["init_args"]["data_dir"] = str(tmp_path / "data")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(tiny_coevolution))
    good.write_bytes(good.read_bytes()[:100])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        sys, "argv", ["lit-evoae", "fit", "--config", str(config), "--ckpt_path", str(good)]
    )
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"lit-evoae: error: checkpoint {good} cannot be read" in err
    assert "Traceback" not in err


@pytest.mark.integration
def test_runs_save_their_checkpoints_atomically(tmp_path, monkeypatch, tiny_coevolution):
    import yaml

    from lit_evoae.cli import build_cli

    tiny_coevolution["data"]["init_args"]["data_dir"] = str(tmp_path / "data")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(tiny_coevolution))
    monkeypatch.chdir(tmp_path)
    run = build_cli(["fit", "--config", str(config), "--trainer.max_epochs", "1"])
    assert isinstance(run.trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    (last,) = tmp_path.glob("lightning_logs/version_0/checkpoints/last.ckpt")
    assert read_checkpoint(last)["epoch"] == 0


@pytest.mark.integration
def test_the_resolved_config_is_written_atomically(tmp_path, monkeypatch, tiny_coevolution):
    import yaml

    from lit_evoae import io
    from lit_evoae.cli import build_cli

    tiny_coevolution["data"]["init_args"]["data_dir"] = str(tmp_path / "data")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(tiny_coevolution))
    written = []
    original = io.replacing

    def recording(path):
        written.append(Path(path).resolve())
        return original(path)

    monkeypatch.setattr(io, "replacing", recording)
    monkeypatch.chdir(tmp_path)
    build_cli(["fit", "--config", str(config), "--trainer.max_epochs", "1"])
    saved = tmp_path / "lightning_logs" / "version_0" / "config.yaml"
    assert saved in written
    assert yaml.safe_load(saved.read_text())["model"]["init_args"]["latent_dim"] == 3


FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.integration
@pytest.mark.parametrize("name", ["coevolution_f5db8b2.ckpt", "coevolution_reset_f5db8b2.ckpt"])
def test_a_checkpoint_written_before_the_strategy_objects_loads_and_resumes(name, tmp_path):
    # Written by main at f5db8b2: strategy as strings (sequential, epoch_node), described by
    # hand; a 3-cell ring on 8-bit data, 2 generations of random pruning; persistent Adam,
    # and reset_every_step, whose moments that version still kept (this one keeps none).
    old_checkpoint = FIXTURES / name
    saved = torch.load(old_checkpoint, weights_only=True)
    model = CoevolutionaryAutoencoder.load_from_checkpoint(old_checkpoint)
    assert type(model.strategy.update_order) is Sequential
    assert type(model.strategy.cell_evaluation) is Cooperative
    stateless = model.hparams.optimizer_state == "reset_every_step"
    assert stateless == ("reset" in name)
    for key, tensor in saved["state_dict"].items():
        if stateless and "adam." in key:
            assert key not in model.state_dict()  # its moments are dropped
        else:
            assert torch.equal(model.state_dict()[key], tensor), key
    assert float(model.centers.sparsity().min()) > 0.4  # its pruning came along
    data = BinaryClusteringDataModule(
        num_clusters=2, dim=8, examples_per_cluster=10, batch_size=5, data_dir=tmp_path / "data"
    )
    trainer = pl.Trainer(
        max_epochs=3,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        callbacks=[Pruning(RandomPruning(0.3), probability=1.0)],
    )
    trainer.fit(model, datamodule=data, ckpt_path=old_checkpoint)
    assert trainer.current_epoch == 3
