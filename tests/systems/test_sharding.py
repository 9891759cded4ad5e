"""The population sharded over 2 CPU processes (Lightning ddp_spawn, gloo): same algorithm."""

import hashlib
import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import torch.distributed
from pytorch_lightning.callbacks import ModelCheckpoint

from lit_evoae import keys
from lit_evoae.data import BinaryClusteringDataModule
from lit_evoae.population.corruption import GaussianNoise
from lit_evoae.population.strategy import CoevolutionStrategy
from lit_evoae.population.topology import Ring
from lit_evoae.systems import CoevolutionaryAutoencoder
from lit_evoae.systems.base import PopulationCallback

pytestmark = [
    pytest.mark.slow,  # DDP processes
    pytest.mark.skipif(
        not torch.distributed.is_available(), reason="torch was built without torch.distributed"
    ),
]
CELLS = 6
# Share tensors with the spawned ranks through files: the default (file descriptors) fails
# on some kernels for empty tensors ("unable to resize file").
torch.multiprocessing.set_sharing_strategy("file_system")


def digest(module: torch.nn.Module) -> str:
    state = module.state_dict()
    return hashlib.sha256(
        b"".join(state[k].cpu().numpy().tobytes() for k in sorted(state))
    ).hexdigest()


class Recorder(PopulationCallback):
    """Writes, per rank, which cells each generation trained and what each rank then held."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _write(self, trainer, record: dict) -> None:
        with (self.folder / f"rank{trainer.global_rank}.jsonl").open("a") as handle:
            handle.write(json.dumps({"rank": trainer.global_rank, **record}) + "\n")

    def on_pairs_trained(self, trainer, system, cells) -> None:
        self._write(trainer, {"generation": trainer.current_epoch, "trained": cells.tolist()})

    def on_train_epoch_end(self, trainer, system) -> None:
        self._write(
            trainer,
            {
                "generation": trainer.current_epoch,
                "centers": digest(system.centers),
                "best": int(system.best_index),
                "l1": system.center_l1.tolist(),
            },
        )


def make_data(folder: Path) -> BinaryClusteringDataModule:
    return BinaryClusteringDataModule(
        num_clusters=3,
        dim=20,
        examples_per_cluster=20,
        batch_size=10,
        seed=1,
        data_dir=folder / "data",
    )


def make_system(update_order: str = "synchronous", **network) -> CoevolutionaryAutoencoder:
    return CoevolutionaryAutoencoder(
        **network,
        input_dim=20,
        hidden_sizes=(8,),
        latent_dim=3,
        lr=1e-2,
        seeds=[5],
        topology=Ring(size=CELLS, radius=1),
        strategy=CoevolutionStrategy(update_order=update_order),
    )


def fit(folder: Path, devices: int, epochs: int = 3, ckpt_path=None, record=True, **network):
    pl.seed_everything(3)
    system = make_system(**network)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy="ddp_spawn" if devices > 1 else "auto",
        max_epochs=epochs,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=folder,
        callbacks=[
            ModelCheckpoint(folder / "checkpoints", save_top_k=-1),
            *([Recorder(folder)] if record else []),
        ],
    )
    trainer.fit(system, datamodule=make_data(folder), ckpt_path=ckpt_path)
    return system


def records(folder: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted(folder.glob("rank*.jsonl"))
        for line in path.read_text().splitlines()
    ]


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two_ranks")
    return folder, fit(folder, devices=2)


def test_every_cell_is_trained_once_per_generation_by_its_rank(sharded):
    folder, _ = sharded
    trained = [r for r in records(folder) if "trained" in r]
    for generation in range(3):
        calls = {r["rank"]: r["trained"] for r in trained if r["generation"] == generation}
        assert calls == {0: [0, 1, 2], 1: [3, 4, 5]}  # contiguous blocks, each cell once


def test_every_rank_holds_every_center_and_the_same_best(sharded):
    folder, system = sharded
    held = [r for r in records(folder) if "centers" in r]
    for generation in range(3):
        ranks = [r for r in held if r["generation"] == generation]
        assert len(ranks) == 2
        # boundary cells 2|3 and 5|0 are neighbours across ranks: each rank has the other's
        assert ranks[0]["centers"] == ranks[1]["centers"]
        assert ranks[0]["l1"] == ranks[1]["l1"]
        assert (
            ranks[0]["best"]
            == ranks[1]["best"]
            == min(range(CELLS), key=ranks[0]["l1"].__getitem__)
        )
    assert digest(system.centers) == held[-1]["centers"]  # rank 0's result came back


def test_two_ranks_run_the_same_algorithm_as_one(sharded, tmp_path):
    _, two = sharded
    one = fit(tmp_path, devices=1, record=False)
    for key, value in one.centers.state_dict().items():
        assert torch.allclose(value.float(), two.centers.state_dict()[key].float(), atol=1e-5), key
    assert torch.equal(one.learning_rates, two.learning_rates)


def test_two_ranks_train_a_variational_denoising_network_as_one(tmp_path):
    """Each rank draws its cells' input and latent noise, and its selection's, from their
    trials' streams."""
    network = {"variational": True, "denoising": GaussianNoise(std=0.4)}  # selection: loss
    two = fit(tmp_path / "two", devices=2, record=False, **network)
    one = fit(tmp_path / "one", devices=1, record=False, **network)
    for key, value in one.centers.state_dict().items():
        assert torch.allclose(value.float(), two.centers.state_dict()[key].float(), atol=1e-5), key


def test_the_same_seed_gives_the_same_sharded_run(sharded, tmp_path):
    _, first = sharded
    again = fit(tmp_path, devices=2, record=False)
    assert digest(again.centers) == digest(first.centers)


def test_a_two_rank_checkpoint_resumes_on_one_process(sharded, tmp_path):
    folder, two = sharded
    (checkpoint,) = (folder / "checkpoints").glob("epoch=1-*.ckpt")
    resumed = fit(tmp_path, devices=1, epochs=3, ckpt_path=checkpoint, record=False)
    for key, value in resumed.centers.state_dict().items():
        assert torch.allclose(value.float(), two.centers.state_dict()[key].float(), atol=1e-5), key


def test_sequential_order_cannot_be_sharded(tmp_path):
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        max_epochs=1,
        logger=False,
        enable_progress_bar=False,
        default_root_dir=tmp_path,
    )
    # The rank's ConfigError comes back wrapped by torch.multiprocessing, message included.
    with pytest.raises(Exception, match="cannot be split over 2 processes"):
        trainer.fit(make_system("sequential"), datamodule=make_data(tmp_path))


def test_cells_that_do_not_split_evenly_over_the_ranks_are_refused(tmp_path):
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        max_epochs=1,
        logger=False,
        enable_progress_bar=False,
        default_root_dir=tmp_path,
    )
    system = CoevolutionaryAutoencoder(
        input_dim=20, hidden_sizes=(8,), latent_dim=3, topology=Ring(size=5, radius=1)
    )
    with pytest.raises(Exception, match="5 cells cannot be split evenly over 2 processes"):
        trainer.fit(system, datamodule=make_data(tmp_path))


def cli_fit(folder: Path, config: dict, prefix: list[str], environment=None) -> Path:
    """`lit-evoae fit` of `config` in `folder` (after `prefix`, e.g. srun); its last.ckpt."""
    import subprocess
    import sys

    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    command = [
        *prefix,
        sys.executable,
        "-m",
        "lit_evoae.cli",
        "fit",
        "--config",
        "config.yaml",
        "--trainer.logger.init_args.save_dir",
        str(folder),
    ]
    done = subprocess.run(
        command, cwd=folder, capture_output=True, text=True, timeout=300, env=environment
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (folder / "output.txt").write_text(done.stdout + done.stderr)
    (last,) = folder.glob("lightning_logs/version_0/checkpoints/last.ckpt")
    return last


def test_srun_two_tasks_shard_the_population_on_a_real_slurm(
    local_slurm, tmp_path, tiny_coevolution
):
    tiny_coevolution["data"]["init_args"]["data_dir"] = str(tmp_path / "data")
    tiny_coevolution["trainer"].update({"max_epochs": 3, "devices": 2, "strategy": "ddp"})
    srun = ["srun", "--ntasks=2", "--ntasks-per-node=2"]
    sharded = cli_fit(tmp_path / "srun", tiny_coevolution, srun, local_slurm.environment())
    output = (tmp_path / "srun" / "output.txt").read_text()
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in output and "GLOBAL_RANK: 1, MEMBER: 2/2" in output
    tiny_coevolution["trainer"].update({"devices": 1, "strategy": "auto"})
    single = cli_fit(tmp_path / "single", tiny_coevolution, [])
    two, one = (torch.load(path, weights_only=True)["state_dict"] for path in (sharded, single))
    centers = [key for key in one if key.startswith("centers.")]
    assert centers and all(two[key].shape == one[key].shape for key in centers)
    for key in centers:
        assert torch.allclose(two[key].float(), one[key].float(), atol=1e-5), key


class SignalOnRank(PopulationCallback):
    """Sends SIGUSR1 to one rank's process in generation `epoch`, after its training."""

    def __init__(self, rank: int, epoch: int) -> None:
        self.rank, self.epoch = rank, epoch

    def on_pairs_trained(self, trainer, system, cells) -> None:
        if (trainer.global_rank, trainer.current_epoch) == (self.rank, self.epoch):
            import os
            import signal

            os.kill(os.getpid(), signal.SIGUSR1)


def test_a_signal_to_one_rank_stops_all_and_the_checkpoint_resumes(sharded, tmp_path):
    from lit_evoae.callbacks import Preemption

    _, uninterrupted = sharded
    pl.seed_everything(3)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        max_epochs=3,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[Preemption(), SignalOnRank(rank=1, epoch=1)],
    )
    # Rank 1's signal is agreed on at the end of generation 1: both ranks stop there.
    with pytest.raises(Exception, match="stopped by"):
        trainer.fit(make_system(), datamodule=make_data(tmp_path))
    checkpoint = tmp_path / "hpc_ckpt_1.ckpt"
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["epoch"] == 1  # generation 1 finished on both ranks
    resumed = fit(tmp_path / "resumed", devices=1, epochs=3, ckpt_path=checkpoint, record=False)
    for key, value in resumed.centers.state_dict().items():
        assert torch.allclose(
            value.float(), uninterrupted.centers.state_dict()[key].float(), atol=1e-5
        ), key


def test_pruning_counts_the_cells_of_every_rank(tmp_path):
    from lit_evoae.callbacks import Pruning
    from lit_evoae.pruning.operators import RandomPruning

    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        max_epochs=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[Pruning(RandomPruning(amount=0.2), probability=1.0)],
    )
    trainer.fit(make_system(), datamodule=make_data(tmp_path))
    assert trainer.callback_metrics[keys.PRUNE_EVENTS].item() == CELLS  # 3 per rank, summed
