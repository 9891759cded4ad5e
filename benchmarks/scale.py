"""Scaling a coevolution: batched independent trials on one device, and DDP ranks.

Part 1 (trials): T copies of the paper's ring (10 cells, D=1000, batch 5) as one
`Trials` population, one synchronous generation of STEPS steps each, timed in-process.
Throughput is trial-generations per second; the ratio is against T=1 measured in the
same run.

Part 2 (ranks): `lit-evoae fit` of a 10-cell ring with 1 process and with 2 DDP processes
(gloo on CPU, NCCL on CUDA), generations per second measured by a callback between the
first and last training epoch (process start-up excluded), plus the time spent sharing
centers between ranks (all_gather) per generation.

    python benchmarks/scale.py [--device cuda] [--trials 1 4 16] [--generations 3]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
import yaml
from population import time_generations

D, BATCH, STEPS, CELLS = 1000, 5, 100, 10
HERE = Path(__file__).resolve().parent


def trials_rate(trials: int, device: str, generations: int) -> float:
    """Trial-generations per second of T batched trials."""
    from lit_evoae.population.topology import Ring, Trials
    from lit_evoae.systems import CoevolutionaryAutoencoder

    torch.manual_seed(0)
    topology = Trials(Ring(size=CELLS, radius=1), trials=trials)
    system = CoevolutionaryAutoencoder(D, lr=1e-5, topology=topology).to(device)
    system._make_trainees(system.population_size)
    data = (torch.rand(STEPS * BATCH, D) < 0.5).float().to(device)
    time_generations(system, data[:BATCH], 1, device)  # warm-up: allocations, kernels
    return trials / time_generations(system, data, generations, device)


class GenerationClock(pl.Callback):
    """Callback: wall time of each training epoch, and of the rank-sharing calls in it."""

    def __init__(self, out: str) -> None:
        self.out = out

    def on_fit_start(self, trainer, system) -> None:
        self.starts, self.shared = [], 0.0
        share = system.sharding.share_

        def timed(*arguments):
            start = time.perf_counter()
            result = share(*arguments)
            self.shared += time.perf_counter() - start
            return result

        system.sharding.share_ = timed

    def on_train_epoch_start(self, trainer, system) -> None:
        self.starts.append(time.perf_counter())

    def on_fit_end(self, trainer, system) -> None:
        if trainer.is_global_zero:
            spans = len(self.starts) - 1
            seconds = self.starts[-1] - self.starts[0]
            measured = {"rate": spans / seconds, "shared": self.shared / (spans + 1)}
            Path(self.out).write_text(json.dumps(measured))


def ranks_rate(devices: int, accelerator: str, generations: int) -> dict:
    """Generations per second of `lit-evoae fit` on `devices` processes."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "clock.json"
        config = {
            "seed_everything": 0,
            "trainer": {
                "max_epochs": generations + 1,
                "accelerator": accelerator,
                "devices": devices,
                "strategy": "ddp" if devices > 1 else "auto",
                "logger": False,
                "enable_progress_bar": False,
                "enable_model_summary": False,
                "num_sanity_val_steps": 0,
                "callbacks": [
                    {"class_path": "scale.GenerationClock", "init_args": {"out": str(out)}}
                ],
            },
            "model": {
                "class_path": "lit_evoae.systems.CoevolutionaryAutoencoder",
                "init_args": {
                    "topology": {
                        "class_path": "lit_evoae.population.topology.Ring",
                        "init_args": {"size": CELLS},
                    }
                },
            },
            "data": {
                "class_path": "lit_evoae.data.BinaryClusteringDataModule",
                "init_args": {
                    "num_clusters": 10,
                    "dim": D,
                    "examples_per_cluster": 50,
                    "batch_size": BATCH,
                    "data_dir": str(Path(folder) / "data"),
                },
            },
            "checkpoint": {"dirpath": str(Path(folder) / "checkpoints"), "save_last": False},
            "test_after_fit": False,
        }
        (Path(folder) / "config.yaml").write_text(yaml.safe_dump(config))
        threads = max(1, (os.cpu_count() or 1) // devices)
        path = f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
        environment = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": str(threads)}
        done = subprocess.run(
            [sys.executable, "-m", "lit_evoae.cli", "fit", "--config", "config.yaml"],
            cwd=folder,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(done.stdout[-2000:] + done.stderr[-4000:])
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--trials", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--skip-ranks", action="store_true")
    options = parser.parse_args()

    print(f"batched trials on {options.device} (ring of {CELLS}, D={D}, {STEPS} steps/gen)")
    base = None
    for trials in options.trials:
        rate = trials_rate(trials, options.device, options.generations)
        base = base or rate
        ratio = rate / base
        first = options.trials[0]
        print(f"  T={trials:3d}: {rate:7.2f} trial-generations/s ({ratio:5.2f}x T={first})")
    if options.skip_ranks:
        return
    accelerator = "gpu" if options.device.startswith("cuda") else "cpu"
    print(f"DDP ranks ({accelerator}; ring of {CELLS}, D={D}, 500 examples, batch {BATCH})")
    one = ranks_rate(1, accelerator, options.generations)
    two = ranks_rate(2, accelerator, options.generations)
    for ranks, measured in ((1, one), (2, two)):
        rate, ratio = measured["rate"], measured["rate"] / one["rate"]
        print(
            f"  {ranks} rank(s): {rate:6.3f} generations/s ({ratio:4.2f}x 1 rank); "
            f"sharing centers: {measured['shared'] * 1000:6.1f} ms per generation"
        )


if __name__ == "__main__":
    main()
