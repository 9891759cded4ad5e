"""Shared fixtures: tiny problems that the tests make themselves (nothing is downloaded)."""

import copy
import logging
import os

import pytest
import pytorch_lightning as pl

from lit_evoae.data import BinaryClusteringDataModule
from lit_evoae.quiet import RANK_ZERO_LOGGERS


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


TINY_COEVOLUTION = {
    "seed_everything": 0,
    "trainer": {
        "max_epochs": 2,
        "accelerator": "cpu",
        "enable_progress_bar": False,
        "enable_model_summary": False,
    },
    "model": {
        "class_path": "lit_evoae.systems.CoevolutionaryAutoencoder",
        "init_args": {
            "hidden_sizes": [8],
            "latent_dim": 3,
            "lr": 0.01,
            "topology": {
                "class_path": "lit_evoae.population.topology.Ring",
                "init_args": {"size": 4, "radius": 1},
            },
        },
    },
    "data": {
        "class_path": "lit_evoae.data.BinaryClusteringDataModule",
        "init_args": {
            "num_clusters": 3,
            "dim": 20,
            "examples_per_cluster": 40,
            "batch_size": 20,
            "data_dir": "data",
        },
    },
}


@pytest.fixture(scope="session")
def tiny_coevolution_template() -> dict:
    """A LightningCLI config (as a dict) of a 4-cell coevolution on 20-bit data, 2 generations;
    120 validation examples, enough for conjunctive pruning's cases. Do not modify it."""
    return TINY_COEVOLUTION


@pytest.fixture
def tiny_coevolution(tiny_coevolution_template) -> dict:
    """A fresh copy of the template, free to modify."""
    return copy.deepcopy(tiny_coevolution_template)


@pytest.fixture
def small_disk(tmp_path, request):
    """A tmpfs of 512 KiB, or of `@pytest.mark.disk_kib(N)` KiB (needs root and mount;
    skipped elsewhere)."""
    import subprocess

    marker = request.node.get_closest_marker("disk_kib")
    folder = tmp_path / "disk"
    folder.mkdir()
    size = f"size={marker.args[0] if marker else 512}k"
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", size, "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)  # busy if a file stayed open


@pytest.fixture(scope="session")
def local_slurm(tmp_path_factory):
    """A real single-node SLURM on loopback for the session; skips where it cannot run."""
    from local_slurm import LocalSlurm, missing_reason

    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    cluster.start()
    yield cluster
    cluster.stop()


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def lightning_messages():
    """What Lightning's rank-zero loggers pass on (they do not propagate to caplog)."""
    recorder = Recorder()
    for name in RANK_ZERO_LOGGERS:
        logging.getLogger(name).addHandler(recorder)
    yield recorder.messages
    for name in RANK_ZERO_LOGGERS:
        logging.getLogger(name).removeHandler(recorder)


@pytest.fixture(autouse=True, scope="session")
def cache_folder_of_the_session(tmp_path_factory):
    """The command line's copy of its parser (cli_cache) goes to this session's folder, not
    the user's ~/.cache; subprocesses inherit it."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg_cache"))


@pytest.fixture(autouse=True, scope="session")
def eager_step_in_packs():
    """Packs the tests start keep the eager optimiser step: compiling costs seconds a process
    (tests/population/test_optim.py checks the compiled step itself)."""
    os.environ["LIT_EVOAE_EAGER_STEP"] = "1"


def pytest_configure(config) -> None:
    """Under pytest-xdist (the README's `-n auto`), each worker keeps to a core of its own:
    torch and every process a test starts (a study's workers size their threads by the
    cores they may use) then run one thread each instead of fighting over the cores."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    core = cores[int(worker.removeprefix("gw")) % len(cores)]
    os.sched_setaffinity(0, {core})
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items) -> None:
    """Tests of the local SLURM share one worker (`--dist loadgroup`): one cluster a session."""
    for item in items:
        if "local_slurm" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("slurm"))
