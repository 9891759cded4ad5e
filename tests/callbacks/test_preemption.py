"""Pre-emption: a signal mid-generation finishes that generation, then saves and stops;
resuming the checkpoint ends bit-identical."""

import csv
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from lit_evoae import keys
from lit_evoae.callbacks import Preempted, Preemption
from lit_evoae.cli import build_cli
from lit_evoae.systems.base import PopulationCallback


class SignalAt(PopulationCallback):
    """Sends `name` to this process in generation `epoch`: at its `call`-th trained group of
    pairs (in sequential order a later group still has to train), or as validation starts."""

    def __init__(
        self, epoch: int, at: str = "pairs_trained", call: int = 1, name: str = "SIGUSR1"
    ) -> None:
        self.epoch, self.at, self.call, self.name = epoch, at, call, name
        self.calls = 0

    def _send(self, trainer, at: str) -> None:
        if trainer.current_epoch == self.epoch and at == self.at:
            self.calls += 1
            if self.calls == self.call:
                os.kill(os.getpid(), getattr(signal, self.name))

    def on_pairs_trained(self, trainer, system, cells) -> None:
        self._send(trainer, "pairs_trained")

    def on_validation_start(self, trainer, pl_module) -> None:
        if trainer.state.fn == "fit":
            self._send(trainer, "validation")


#: Any warning that loading a checkpoint raises (torch.load's, Lightning's) as an error. Not
#: every warning: this machine's SLURM makes Lightning warn that srun is not used.
LOAD_WARNINGS_AS_ERRORS = ",".join(
    [
        "error::FutureWarning",
        "error:::torch.serialization",
        "error:::lightning_fabric.utilities.cloud_io",
        "error:::pytorch_lightning.trainer.connectors.checkpoint_connector",
    ]
)


def write_config(folder: Path, config: dict, epochs: int) -> Path:
    config = {
        **config,
        "trainer": {**config["trainer"], "max_epochs": epochs, "default_root_dir": str(folder)},
    }
    config["data"]["init_args"]["data_dir"] = str(folder.parent / "data")
    config["trainer"]["logger"] = {
        "class_path": "lit_evoae.loggers.ResumableCSVLogger",
        "init_args": {"save_dir": str(folder), "name": "", "version": ""},
    }
    path = folder / "config.in.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def fit(config: Path, *extra: str):
    checkpoints = str(config.parent / "checkpoints")
    return build_cli(
        [
            "fit",
            "--config",
            str(config),
            "--test_after_fit",
            "false",
            "--checkpoint.dirpath",
            checkpoints,
            *extra,
        ]
    )


def metric_rows(folder: Path) -> list[dict]:
    with (folder / keys.METRICS_CSV).open() as handle:
        return list(csv.DictReader(handle))


def state(model: torch.nn.Module) -> dict:
    return {key: value.clone() for key, value in model.state_dict().items()}


REGIMES = {
    "coevolution_synchronous": {},
    "coevolution_sequential": {
        "strategy": {
            "class_path": "lit_evoae.population.strategy.CoevolutionStrategy",
            "init_args": {"update_order": "sequential"},
        }
    },
    "canonical": None,
}


# (regime, where in generation 1 the signal arrives, at which call): the checkpoint is
# always taken before generation 2 starts.
CASES = [
    ("coevolution_synchronous", "pairs_trained", 1),
    ("coevolution_synchronous", "validation", 1),
    ("coevolution_sequential", "pairs_trained", 2),  # 2 of the 4 cells still to train
    ("canonical", "pairs_trained", 1),
]


@pytest.mark.integration
@pytest.mark.parametrize(("regime", "at", "call"), CASES)
def test_a_run_signalled_mid_generation_resumes_bit_identically(
    regime, at, call, tmp_path, tiny_coevolution
):
    config = tiny_coevolution
    if REGIMES[regime] is None:
        config["model"] = {
            "class_path": "lit_evoae.systems.CanonicalAutoencoder",
            "init_args": {"hidden_sizes": [8], "latent_dim": 3, "lr": 0.01},
        }
    else:
        config["model"]["init_args"].update(REGIMES[regime])
    config["pruning"] = {
        "operator": {"class_path": "lit_evoae.pruning.operators.VariancePruning"},
        "probability": 0.5,
    }
    straight = fit(write_config(tmp_path / "straight", config, epochs=3))

    interrupted = write_config(tmp_path / "interrupted", config, epochs=3)
    signal_at = {
        "class_path": "test_preemption.SignalAt",
        "init_args": {"epoch": 1, "at": at, "call": call},
    }
    with pytest.raises(Preempted) as stopped:
        fit(interrupted, "--trainer.callbacks", yaml.safe_dump([signal_at]))
    checkpoint = interrupted.parent / "hpc_ckpt_1.ckpt"
    assert stopped.value.path == str(checkpoint) and "SIGUSR1" in str(stopped.value)
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["epoch"] == 1  # taken when generation 1 (validation included) was over
    assert [int(row["epoch"]) for row in metric_rows(interrupted.parent) if row[keys.VAL_L1]] == [
        0,
        1,
    ]

    resumed = fit(interrupted, "--ckpt_path", str(checkpoint))
    expected, got = state(straight.model), state(resumed.model)
    assert expected.keys() == got.keys()
    different = [key for key in expected if not torch.equal(expected[key], got[key])]
    assert different == []
    assert metric_rows(interrupted.parent) == metric_rows(tmp_path / "straight")


@pytest.mark.integration
def test_a_signal_in_the_last_generation_lets_the_run_finish(tmp_path, tiny_coevolution):
    config = write_config(tmp_path / "run", tiny_coevolution, epochs=2)
    signal_at = {"class_path": "test_preemption.SignalAt", "init_args": {"epoch": 1}}
    fit(config, "--trainer.callbacks", yaml.safe_dump([signal_at]))  # no Preempted
    assert [int(row["epoch"]) for row in metric_rows(config.parent) if row[keys.VAL_L1]] == [0, 1]
    assert not list(config.parent.glob("hpc_ckpt_*.ckpt"))


@pytest.mark.integration
def test_the_stop_is_reported_before_the_error_leaves_the_callback(
    tmp_path, tiny_coevolution, capsys
):
    """Under SLURM the requeue's SIGTERM follows at once, and once Lightning restores the
    default handlers it ends the process: the line must already be written by then."""
    config = write_config(tmp_path / "run", tiny_coevolution, epochs=3)
    signal_at = {"class_path": "test_preemption.SignalAt", "init_args": {"epoch": 0}}
    with pytest.raises(Preempted) as stopped:
        fit(config, "--trainer.callbacks", yaml.safe_dump([signal_at]))
    written = capsys.readouterr().err
    assert f"lit-evoae: error: {stopped.value}\n" in written
    assert stopped.value.printed  # so the entry point does not write it again


@pytest.mark.slow  # a subprocess, DDP or SLURM run
@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_an_external_signal_saves_and_the_printed_command_resumes_the_run(
    tmp_path, tiny_coevolution, name
):
    epochs = 40
    config = write_config(tmp_path / "run", tiny_coevolution, epochs=epochs)
    command = [
        sys.executable,
        "-m",
        "lit_evoae.cli",
        "fit",
        "--config",
        str(config),
        "--test_after_fit",
        "false",
        "--checkpoint.dirpath",
        str(tmp_path / "run" / "ckpts"),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "run" / "ckpts" / "last.ckpt").is_file():  # an epoch or more done
        assert time.monotonic() < deadline and process.poll() is None, "the run did not start"
        time.sleep(0.1)
    process.send_signal(getattr(signal, name))
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 2, output
    assert f"lit-evoae: error: stopped by {name}; checkpoint saved to" in output
    assert output.count("stopped by") == 1, output  # written once, by the callback
    assert "graceful shutdown" not in output and "weights_only" not in output
    checkpoint = tmp_path / "run" / "hpc_ckpt_1.ckpt"
    assert checkpoint.is_file()
    stopped_at = torch.load(checkpoint, weights_only=True)["epoch"]
    assert stopped_at < epochs - 1
    resume = output.split("resume with: ", 1)[1].strip().splitlines()[0]
    assert shlex.split(resume) == [*command, "--ckpt_path", str(checkpoint)]  # pasteable
    done = subprocess.run(
        shlex.split(resume),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": LOAD_WARNINGS_AS_ERRORS},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "weights_only" not in done.stdout + done.stderr
    validated = [int(r["epoch"]) for r in metric_rows(tmp_path / "run") if r[keys.VAL_L1]]
    assert validated == list(range(epochs))  # every epoch once: none lost, none repeated


def versioned_config(folder: Path, config: dict, epochs: int) -> Path:
    """A config as users write them: CSV logs in <folder>/lightning_logs/version_N."""
    config = {
        **config,
        "trainer": {**config["trainer"], "max_epochs": epochs, "enable_progress_bar": False},
    }
    config["data"]["init_args"]["data_dir"] = str(folder / "data")
    config["trainer"]["logger"] = {
        "class_path": "pytorch_lightning.loggers.CSVLogger",
        "init_args": {"save_dir": str(folder)},
    }
    path = folder / "config.yaml.in"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def validated_epochs(run: Path) -> list[int]:
    return [int(row["epoch"]) for row in metric_rows(run) if row[keys.VAL_L1]]


@pytest.mark.integration
def test_preempt_resume_kill_resume_stays_in_one_run_folder_with_every_epoch_once(
    tmp_path, tiny_coevolution, monkeypatch
):
    config = versioned_config(tmp_path, tiny_coevolution, epochs=4)
    run = tmp_path / "lightning_logs" / "version_0"
    signal_at = {"class_path": "test_preemption.SignalAt", "init_args": {"epoch": 1}}
    with pytest.raises(Preempted) as stopped:
        build_cli(
            [
                "fit",
                "--config",
                str(config),
                "--test_after_fit",
                "false",
                "--trainer.callbacks",
                yaml.safe_dump([signal_at]),
            ]
        )
    checkpoint = run / "hpc_ckpt_1.ckpt"  # inside the run folder, not the working folder
    assert stopped.value.path == str(checkpoint) and checkpoint.is_file()
    assert not list(tmp_path.glob("hpc_ckpt_*"))
    # resumed, it runs to the end but is "killed" before another checkpoint is kept: the
    # next attempt resumes from the same pre-emption checkpoint and logs epochs 2, 3 again
    for _ in range(2):
        build_cli(
            [
                "fit",
                "--config",
                str(config),
                "--test_after_fit",
                "false",
                "--ckpt_path",
                str(checkpoint),
            ]
        )
    assert sorted(path.name for path in run.parent.iterdir()) == ["version_0"]
    assert validated_epochs(run) == [0, 1, 2, 3]  # every epoch once


@pytest.mark.integration
def test_a_requeued_slurm_job_resumes_its_run_in_its_own_folder(
    tmp_path, tiny_coevolution, monkeypatch
):
    config = versioned_config(tmp_path, tiny_coevolution, epochs=4)
    signal_at = {"class_path": "test_preemption.SignalAt", "init_args": {"epoch": 1}}
    with pytest.raises(Preempted):
        build_cli(
            [
                "fit",
                "--config",
                str(config),
                "--test_after_fit",
                "false",
                "--preemption.requeue",
                "false",
                "--trainer.callbacks",
                yaml.safe_dump([signal_at]),
            ]
        )
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")  # what SLURM sets in a requeued job
    resumed = build_cli(["fit", "--config", str(config), "--test_after_fit", "false"])
    assert resumed.trainer.ckpt_path == str(
        tmp_path / "lightning_logs" / "version_0" / "hpc_ckpt_1.ckpt"
    )
    assert sorted(p.name for p in (tmp_path / "lightning_logs").iterdir()) == ["version_0"]
    assert validated_epochs(tmp_path / "lightning_logs" / "version_0") == [0, 1, 2, 3]


def test_the_stop_names_the_first_signal_not_the_sigterm_that_follows_a_requeue(capsys):
    """After SIGUSR1 the callback runs `scontrol requeue`, and SLURM's SIGTERM can arrive
    before the stop is reported; the report names the warning signal."""
    callback = Preemption()
    callback._note(signal.SIGUSR1, None)
    callback._note(signal.SIGTERM, None)
    assert callback.received == "SIGUSR1"
    callback._note(signal.SIGINT, None)  # Ctrl-C too: the reason stays, a second one stops now
    assert callback.received == "SIGUSR1" and "Ctrl-C again" in capsys.readouterr().err
    with pytest.raises(KeyboardInterrupt):
        callback._note(signal.SIGINT, None)


def test_the_resume_command_is_the_runs_own_with_its_checkpoint():
    from lit_evoae.callbacks.preemption import resume_command

    command = ["lit-evoae", "fit", "--config", "my runs/a.yaml", "--ckpt_path", "old.ckpt"]
    assert resume_command(command, "run 1/hpc_ckpt_1.ckpt") == (
        "lit-evoae fit --config 'my runs/a.yaml' --ckpt_path 'run 1/hpc_ckpt_1.ckpt'"
    )
    assert resume_command(["lit-evoae", "fit", "--ckpt_path=x"], "y") == (
        "lit-evoae fit --ckpt_path y"
    )


def test_a_refused_requeue_is_tried_again_and_named(tmp_path, monkeypatch):
    """A CI run's controller refused `scontrol requeue` once, moments after the task started,
    and the job was not requeued; a later try is taken, and each refusal is named."""
    from lit_evoae.callbacks import preemption

    tries = tmp_path / "tries"
    scontrol = tmp_path / "scontrol"  # refuses the first request, takes the second
    scontrol.write_text(
        f'#!/bin/sh\necho "$@" >> {tries}\n'
        f'[ "$(wc -l < {tries})" -ge 2 ] || {{ echo "Job is in transient state" >&2; exit 1; }}\n'
    )
    scontrol.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(preemption.SLURMEnvironment, "detect", staticmethod(lambda: True))
    monkeypatch.setattr(preemption, "REQUEUE_WAITS", (0.01, 0.01, 0))
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "7")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    with pytest.warns(UserWarning, match="requeue 7_3 failed: Job is in transient state; again"):
        assert preemption._requeue_slurm_job()
    assert tries.read_text().splitlines() == ["requeue 7_3", "requeue 7_3"]
    tries.unlink()
    scontrol.write_text("#!/bin/sh\nexit 1\n")  # refused every time: three tries, then False
    with pytest.warns(UserWarning, match="requeue 7_3 failed: exit 1$"):
        assert not preemption._requeue_slurm_job()
