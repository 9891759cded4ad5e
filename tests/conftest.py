"""Shared fixtures: tiny problems that the tests make themselves (nothing is downloaded)."""

import pytest
import pytorch_lightning as pl

from lit_evoae.data import BinaryClusteringDataModule


@pytest.fixture
def tiny_data(tmp_path) -> BinaryClusteringDataModule:
    """4 clusters of 24-bit vectors, 10 examples each per split."""
    return BinaryClusteringDataModule(
        num_clusters=4,
        dim=24,
        examples_per_cluster=10,
        flip_probability=0.05,
        seed=3,
        batch_size=5,
        data_dir=tmp_path / "data",
    )


@pytest.fixture
def quiet_trainer():
    """A Trainer factory without logger, checkpoints or progress output."""

    def make(**overrides) -> pl.Trainer:
        options = dict(
            accelerator="cpu",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        return pl.Trainer(**{**options, **overrides})

    return make
