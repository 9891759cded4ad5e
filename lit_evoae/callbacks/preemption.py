"""Pre-emption: on SLURM's warning signal, SIGTERM or Ctrl-C, checkpoint between generations.

Lightning's own SLURM handler saves its checkpoint inside the signal handler, which may
fall in the middle of a generation; resuming from such a file is not exact. This callback
only notes the signal. The generation in flight finishes (training, replacement,
mutation, validation and its logging); before the next one starts, the callback saves
weights, masks, optimiser moments, learning rates, callback states and every generator,
requeues the job under SLURM (as Lightning would) and stops the run with `Preempted`.
A signal during the last generation lets the run finish.

The file is `hpc_ckpt_N.ckpt` in the run folder (see `lit_evoae.runs`); a requeued SLURM
job resumes from the newest one by itself, in the same run folder; elsewhere the run's
own command with `--ckpt_path` resumes it, and the stopping run prints that command.
"""

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Literal

import pytorch_lightning as pl
from pytorch_lightning.plugins.environments import SLURMEnvironment
from pytorch_lightning.utilities import rank_zero_info, rank_zero_warn

from lit_evoae import compat
from lit_evoae.errors import UserError
from lit_evoae.runs import run_folder

SignalName = Literal["SIGUSR1", "SIGUSR2", "SIGTERM", "SIGINT"]


class Preempted(UserError):
    """The run stopped on a signal after saving a checkpoint to resume from."""

    def __init__(
        self, signal_name: str, path: str, requeued: bool, command: list[str] | None = None
    ) -> None:
        if requeued:
            then = "the requeued job resumes from it"
        elif command:
            then = f"resume with: {resume_command(command, path)}"
        else:
            then = f"resume with: lit-evoae fit <same arguments> --ckpt_path {path}"
        super().__init__(f"stopped by {signal_name}; checkpoint saved to {path}; {then}")
        self.signal_name = signal_name
        self.path = path


def resume_command(command: list[str], checkpoint: str) -> str:
    """`command` (a run's argv: program, subcommand, arguments) shell-quoted, with
    `--ckpt_path checkpoint` in place of any --ckpt_path it had."""
    kept, skip = [], False
    for argument in command:
        if skip:
            skip = False
        elif argument == "--ckpt_path":
            skip = True
        elif not argument.startswith("--ckpt_path="):
            kept.append(argument)
    return shlex.join([*kept, "--ckpt_path", checkpoint])


def program_words(argv0: str) -> list[str]:
    """How to call this program again: `lit-evoae` when that is what runs, else the
    interpreter with `-m lit_evoae.cli` (for `python -m lit_evoae.cli`), else argv[0]."""
    path = Path(argv0)
    if path.name == "cli.py" and path.parent.name == "lit_evoae":
        return [sys.executable, "-m", "lit_evoae.cli"]
    found = shutil.which(path.name)
    if found and Path(found).resolve() == path.resolve():
        return [path.name]
    return [argv0]


class Preemption(pl.Callback):
    """Checkpoint and stop at the next generation boundary after one of `signals` arrives.

    Args:
        signals: the signals that mean "save and stop"; SLURM sends SIGUSR1 when the job
            was submitted with `--signal=SIGUSR1@90`, and SIGTERM before killing a job;
            SIGINT is Ctrl-C (a second one stops at once, without a checkpoint).
        requeue: under SLURM, requeue the job (`scontrol requeue`) after saving.
    """

    def __init__(self, signals: list[SignalName] | None = None, requeue: bool = True) -> None:
        self.signals = list(signals) if signals is not None else ["SIGUSR1", "SIGTERM", "SIGINT"]
        self.requeue = requeue
        self.command: list[str] | None = None  # the run's argv, for the resume hint (the CLI)
        self.received: str | None = None  # the first of `signals` to arrive
        self.interrupted = False  # Ctrl-C pressed once
        self.saved: str | None = None  # the checkpoint taken after the signal
        self._previous: dict[int, object] = {}

    def _note(self, signum: int, _frame) -> None:
        name = signal.Signals(signum).name
        if name == "SIGINT":
            if self.interrupted:
                raise KeyboardInterrupt  # a second Ctrl-C: stop now, without a checkpoint
            self.interrupted = True
            sys.stderr.write(
                "\nlit-evoae: SIGINT (Ctrl-C): stopping when this generation ends, with a "
                "checkpoint to resume from; press Ctrl-C again to stop now, without one\n"
            )
        # The first signal is the reason: `scontrol requeue` after SIGUSR1 brings SLURM's
        # SIGTERM moments later, and the report must still name the warning signal.
        self.received = self.received or name

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # After Lightning registered its handlers, so these replace them for the training.
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        self.received = self.saved = None
        self.interrupted = False
        for name in self.signals:
            number = getattr(signal, name)
            self._previous[number] = signal.signal(number, self._note)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore()

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self._restore()

    def _restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # The generation is over (validation too): the state to resume from. Lightning logs
        # the generation's training metrics after this hook, so stopping waits for the next
        # generation's start.
        received = self.received is not None
        if trainer.world_size > 1:  # all ranks stop at the same generation: stop if any got it
            received = trainer.strategy.reduce_boolean_decision(received, all=False)
        last = trainer.max_epochs is not None and trainer.current_epoch + 1 >= trainer.max_epochs
        if not received or last:
            return
        self.received = self.received or "a signal to another rank"
        self.saved = compat.hpc_save_path(trainer, run_folder(trainer))
        trainer.save_checkpoint(self.saved, weights_only=False)  # everything, said aloud
        rank_zero_info(f"{self.received}: checkpoint saved to {self.saved}")

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.saved is None:
            return
        for logger in trainer.loggers:
            logger.save()  # the finished generation's metrics go to disk with the checkpoint
        requeued = self.requeue and trainer.is_global_zero and _requeue_slurm_job()
        stopped = Preempted(self.received, self.saved, requeued, self.command)
        # Written now, while this callback's handlers still catch signals: after a requeue,
        # SLURM's SIGTERM follows within moments, and once Lightning restores the default
        # handlers it would end the process before the entry point could write this line.
        print(f"lit-evoae: error: {stopped}", file=sys.stderr, flush=True)
        stopped.printed = True
        raise stopped


#: Seconds between tries of `scontrol requeue`; 0 ends them. A task signalled moments after
#: it started was once refused with no message (a CI run); the controller takes the same
#: request a little later, and the signal's lead (`--signal=SIGUSR1@90`) leaves the time.
REQUEUE_WAITS = (2, 5, 0)


def _requeue_slurm_job() -> bool:
    """`scontrol requeue` this job (an array task by its array id), tried up to three times;
    False outside SLURM or when every try was refused (the run still stops, with its
    checkpoint and the command to resume it)."""
    if not SLURMEnvironment.detect():
        return False
    array_job = os.environ.get("SLURM_ARRAY_JOB_ID")
    job = (
        f"{array_job}_{os.environ['SLURM_ARRAY_TASK_ID']}"
        if array_job
        else os.environ["SLURM_JOB_ID"]
    )
    if not re.fullmatch(r"[0-9_]+", job):
        return False
    for wait in REQUEUE_WAITS:
        done = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
        if done.returncode == 0:
            return True
        said = " ".join(f"{done.stderr} {done.stdout}".split()) or f"exit {done.returncode}"
        rank_zero_warn(
            f"scontrol requeue {job} failed: {said}" + (f"; again in {wait} s" if wait else "")
        )
        time.sleep(wait)
    return False
