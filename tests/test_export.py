import json
import sys

import pytest
import pytorch_lightning as pl
import torch

from lit_evoae.callbacks import Pruning
from lit_evoae.cli import main
from lit_evoae.data import BinaryClusteringDataModule
from lit_evoae.export import compact, parameter_count
from lit_evoae.nets import Autoencoder, layer_sizes
from lit_evoae.pruning.operators import VariancePruning
from lit_evoae.pruning.schedules import Fixed
from lit_evoae.systems import CoevolutionaryAutoencoder


def test_compact_removes_dead_units_and_keeps_every_output():
    torch.manual_seed(0)
    model = Autoencoder(*layer_sizes(12, [6], 4))
    with torch.no_grad():
        model.encoder[0].weight[[1, 4]] = 0  # two dead first-layer units...
        model.encoder[0].bias[1] = 0.7  # ...one of them still outputs ReLU(0.7)
        model.encoder[2].weight[2] = 0  # a dead latent unit
        model.decoder[0].weight[[0, 3, 5]] = 0  # three dead decoder hidden units
    smaller = compact(model)
    assert smaller.encoder_sizes == [12, 4, 3] and smaller.decoder_sizes == [3, 3, 12]
    assert parameter_count(smaller) < parameter_count(model)
    inputs = torch.rand(50, 12)
    torch.testing.assert_close(smaller(inputs), model(inputs), atol=1e-5, rtol=0)


def test_compact_of_an_unpruned_network_is_the_same_network():
    model = Autoencoder(*layer_sizes(8, [5], 2))
    smaller = compact(model)
    assert parameter_count(smaller) == parameter_count(model)
    inputs = torch.rand(4, 8)
    torch.testing.assert_close(smaller(inputs), model(inputs))


@pytest.mark.integration
@pytest.mark.parametrize("variational", [False, True])
def test_export_round_trip_from_a_pruned_checkpoint(tmp_path, monkeypatch, capsys, variational):
    data = BinaryClusteringDataModule(
        num_clusters=3, dim=20, examples_per_cluster=20, batch_size=10, data_dir=tmp_path / "data"
    )
    system = CoevolutionaryAutoencoder(20, (8,), 3, lr=0.01, seeds=[0], variational=variational)
    trainer = pl.Trainer(
        max_epochs=3,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Pruning(VariancePruning(amount=0.5), Fixed(), 1.0)],
    )
    trainer.fit(system, datamodule=data)
    trainer.save_checkpoint(tmp_path / "pruned.ckpt")
    monkeypatch.setattr(
        sys,
        "argv",
        ["lit-evoae", "export", str(tmp_path / "pruned.ckpt"), "--out", str(tmp_path / "out")],
    )
    main()
    assert "exported to" in capsys.readouterr().out
    summary = json.loads((tmp_path / "out" / "autoencoder.json").read_text())
    assert summary["parameters_after"] < summary["parameters_before"]
    program = torch.export.load(tmp_path / "out" / "autoencoder.pt2").module()
    inputs = torch.rand(7, 20)  # a batch size the example did not have
    masked = system.autoencoder()
    torch.testing.assert_close(program(inputs), masked(inputs), atol=1e-5, rtol=0)


def test_export_of_a_foreign_file_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    monkeypatch.setattr(sys, "argv", ["lit-evoae", "export", str(tmp_path / "junk.ckpt")])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert f"checkpoint {tmp_path / 'junk.ckpt'} cannot be read" in capsys.readouterr().err


def test_compact_of_a_variational_network_keeps_its_code_and_every_output():
    torch.manual_seed(0)
    model = Autoencoder(*layer_sizes(12, [6], 4), variational=True)
    with torch.no_grad():
        model.encoder[0].weight[[1, 4]] = 0  # two dead trunk units, read by both heads
        model.encoder[0].bias[1] = 0.7
        model.decoder[0].weight[[0, 3]] = 0  # two dead decoder hidden units
    smaller = compact(model)
    assert smaller.variational
    assert smaller.encoder_sizes == [12, 4, 4] and smaller.decoder_sizes == [4, 4, 12]
    inputs = torch.rand(50, 12)
    torch.testing.assert_close(smaller(inputs), model(inputs), atol=1e-5, rtol=0)
    hidden, kept = model.encoder(inputs), smaller.encoder(inputs)
    torch.testing.assert_close(smaller.log_variances(kept), model.log_variances(hidden))
