"""Progress counts generations: a bar over the whole fit in a terminal, lines in a log."""

import sys

import pytest
import pytorch_lightning as pl

from lit_evoae.callbacks.progress import GenerationBar, GenerationLines
from lit_evoae.systems import CanonicalAutoencoder

pytestmark = pytest.mark.integration  # each test trains or starts a process


def fit_with(progress, tiny_data, epochs=4) -> None:
    model = CanonicalAutoencoder(input_dim=24, hidden_sizes=[8], latent_dim=3, lr=0.05)
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=[progress],
    )
    trainer.fit(model, datamodule=tiny_data)


def test_the_bar_counts_generations_and_shows_the_time_left(tiny_data, capsys):
    fit_with(GenerationBar(), tiny_data)
    printed = capsys.readouterr().out
    final = printed.split("\r")[-1]
    assert final.startswith("generations: 100%") and "4/4 [" in final and "val/l1=" in final
    running = next(part for part in printed.split("\r") if "1/4 [" in part)
    assert "<00:" in running  # elapsed<left while it runs
    assert "Epoch" not in printed and "Validation" not in printed


def test_lines_in_a_log_count_generations(tiny_data, capsys):
    fit_with(GenerationLines(every=2), tiny_data)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(" · ")[0] for line in lines] == ["generation 2/4", "generation 4/4"]
    assert "left" in lines[0] and "\r" not in "".join(lines)


def test_the_cli_picks_the_bar_in_a_terminal(tmp_path, monkeypatch):
    from lit_evoae.cli import build_cli

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    cli = build_cli(
        [
            "--model",
            "CanonicalAutoencoder",
            "--data",
            "BinaryClusteringDataModule",
            "--data.init_args.dim",
            "20",
            "--data.init_args.data_dir",
            str(tmp_path),
            "--trainer.default_root_dir",
            str(tmp_path),
        ],
        run=False,
    )
    assert isinstance(cli.trainer.progress_bar_callback, GenerationBar)
