"""Several runs trained as one batched process (`lit-evoae-study run --pack N`).

Runs that differ only in their pruning share a pack, whichever variant they come from: the
pack is one population whose trial t is run t, seeded with its seed (the system's `Pack`
of T trials: T copies of the topology for coevolution, T independent networks for the
canonical regime), so each draws what it would draw alone (weights, batch order,
selection, mutation, pruning). Each variant's trials get a Pruning callback of their own.
Each trial still ends with its own folder: `metrics.csv` (its own log, written as the pack
trains by `study.trial_logs`, under the names a run alone logs, then its test row),
`best_autoencoder.pt` (its best network at its best generation) and `result.json`
(written by the same function as an unpacked run's), so `report`, a resumed study and
SLURM arrays read packed and unpacked trials alike.

    python -m lit_evoae.study.pack PACK.json   (what `lit-evoae-study run --pack` starts)

Exit status NOT_PACKABLE means the system cannot be packed: the runner runs its trials alone.
"""

import json
import os
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from lit_evoae import keys
from lit_evoae.allocator import keep_freed_memory
from lit_evoae.callbacks import Pruning
from lit_evoae.callbacks.clock_checkpoint import ClockCheckpoint
from lit_evoae.cli import PACKABLE, build_cli
from lit_evoae.errors import exit_on_user_error
from lit_evoae.io import naming
from lit_evoae.loggers import ResumableCSVLogger
from lit_evoae.metrics import split_l1
from lit_evoae.nets import save_autoencoder
from lit_evoae.population.optim import EAGER_STEP, compile_first_step
from lit_evoae.population.stacked import StackedAutoencoder, copy_individuals_
from lit_evoae.study.folders import make_own_folder, remove_checkpoints
from lit_evoae.study.fragments import pruning_callback
from lit_evoae.study.results import write_result
from lit_evoae.study.runner import NOT_PACKABLE, fit_arguments, pack_checkpoint
from lit_evoae.study.spec import Run
from lit_evoae.study.trial_logs import TrialLogs
from lit_evoae.study.wandb_trials import log_trials


class TrialBests(pl.Callback):
    """Each trial's best network so far (lowest validation L1), kept in row t of `bests`."""

    def __init__(self, trials: int) -> None:
        self.trials = trials
        self.best = [float("inf")] * trials
        self.bests: StackedAutoencoder | None = None

    def on_validation_end(self, trainer: pl.Trainer, system) -> None:
        if trainer.sanity_checking:
            return
        population, _ = system.best_individual()
        if self.bests is None:
            self.bests = population.like(self.trials)
        self.bests = self.bests.to(system.device)  # a no-op but after a resume
        per_network = system.individual_l1.view(self.trials, -1)
        for trial, row in enumerate(per_network):
            if float(row.min()) < self.best[trial]:
                self.best[trial] = float(row.min())
                network = trial * per_network.shape[1] + int(row.argmin())
                copy_individuals_(
                    self.bests, population, torch.tensor([trial]), torch.tensor([network])
                )

    def state_dict(self) -> dict:
        """So that a resumed pack keeps each trial's best so far."""
        bests = None
        if self.bests is not None:
            sizes = [self.bests.encoder_sizes, self.bests.decoder_sizes]
            bests = {
                "sizes": sizes,
                "variational": self.bests.variational,
                "state": self.bests.state_dict(),
            }
        return {"best": list(self.best), "bests": bests}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best = list(state_dict["best"])
        saved = state_dict["bests"]
        if saved is not None:
            variational = saved.get("variational", False)
            self.bests = StackedAutoencoder(self.trials, *saved["sizes"], variational)
            self.bests.load_state_dict(saved["state"])


def pack_arguments(runs: list[Run], folder: Path, logging: Path) -> list[str]:
    """The `lit-evoae fit` arguments of the pack: its first run's, seeded with its seed."""
    return [
        *fit_arguments(runs[0], folder, logging),
        *("--test_after_fit", "false"),  # the pack tests each trial's best itself
        # No checkpoint per generation: ClockCheckpoint writes one every few minutes.
        *("--checkpoint.save_top_k", "0", "--checkpoint.save_last", "false"),
        # No sanity check: the first generation validates anyway, and on a pack of 64 the
        # check was half the start-up (2.8 of 5.4 s).
        *("--trainer.num_sanity_val_steps", "0"),
    ]


def pruning_per_variant(runs: list[Run]) -> list[Pruning]:
    """A Pruning callback for each variant of the pack, for its trials alone, parsed from
    that variant's pruning sections (`fragments.pruning_callback`)."""
    firsts: dict[str, Run] = {}
    for run in runs:
        firsts.setdefault(run.variant, run)
    return [pruning_callback(run).for_variant(variant) for variant, run in firsts.items()]


def build_pack(
    runs: list[Run],
    folder: Path,
    logging: Path,
    extra: list[str] | None = None,
    last_epoch: int = -1,
):
    """(the parsed CLI, the pack's population) for `runs`, its Trainer holding one Pruning per
    variant and each trial's own log (kept up to `last_epoch`, the one a resumed pack's
    checkpoint holds); `extra` arguments come last. None for a system that cannot be packed.
    The command line is parsed once, for the first run (the others differ only in pruning),
    and the system is built once, with every run's seed."""
    arguments = [*pack_arguments(runs, folder, logging), *(extra or [])]
    cli = build_cli(arguments, run=False, seeds=[run.seed for run in runs])
    system = cli.model
    if not isinstance(system, PACKABLE):
        return None
    system.pack.variants = [run.variant for run in runs]
    callbacks = cli.trainer.callbacks
    callbacks[:] = [c for c in callbacks if not isinstance(c, Pruning)]
    callbacks.extend(pruning_per_variant(runs))
    system.pack.trial_logs = TrialLogs([trial_log(folder, t) for t in range(len(runs))], last_epoch)
    callbacks.append(system.pack.trial_logs)
    return cli, system


def readable_checkpoint(resume: Path | None, folder: Path) -> tuple[Path | None, int]:
    """(the checkpoint to resume from, its epoch): `resume` if it loads. One that does not is
    moved aside to `<name>.damaged`, said in one line, and the pack falls back to its previous
    checkpoint, or to generation 0 (None, -1): a damaged file never blocks a pack."""
    while resume is not None:
        try:
            checkpoint = torch.load(resume, map_location="cpu", weights_only=True, mmap=True)
            return resume, int(checkpoint["epoch"])
        except Exception as error:  # truncated, foreign or refused: any of them is damage
            aside = resume.with_name(resume.name + ".damaged")
            resume.replace(aside)
            fallback = pack_checkpoint(folder)
            print(
                f"checkpoint {resume} cannot be read ({type(error).__name__}); moved to "
                f"{aside}; starting from {fallback or 'generation 1'}",
                flush=True,
            )
            resume = fallback
    return None, -1


def run_pack(
    runs: list[Run],
    out: Path,
    folder: Path,
    logging: Path,
    resume: Path | None = None,
    checkpoint_minutes: float = 5.0,
    wandb_project: str | None = None,
    keep_checkpoints: bool = False,
) -> int:
    """Train `runs` as one population and leave each its folder; with `resume`, continue
    from that checkpoint (this pack's own); with `wandb_project`, each trial also becomes a
    W&B run of its own."""
    start = time.perf_counter()
    resume, epoch = readable_checkpoint(resume, folder)
    built = build_pack(runs, folder, logging, last_epoch=epoch)
    if built is None:
        return NOT_PACKABLE
    cli, system = built
    trainer, logs = cli.trainer, system.pack.trial_logs
    bests, clock = TrialBests(len(runs)), ClockCheckpoint(checkpoint_minutes)
    trainer.callbacks.extend([bests, clock])
    if resume is not None:
        print(f"resuming from {resume}: generation {epoch + 2} of {trainer.max_epochs} next")
    for logger in trainer.loggers:  # the generations after it are logged again
        if isinstance(logger, ResumableCSVLogger):
            logger.forget_after_epoch(epoch)
    with naming(folder):  # a write of Lightning's that names no file happens in the pack's
        trainer.fit(system, datamodule=cli.datamodule, ckpt_path=resume)
    trained = time.perf_counter() - start
    share = 100 * clock.seconds_writing / trained
    print(
        f"checkpoints: {clock.writes} written in {clock.seconds_writing:.1f} s, "
        f"{share:.1f}% of {trained:.0f} s"
    )
    data = cli.datamodule
    test_l1 = split_l1(bests.bests, data.splits["test"].tensors[0], data.eval_batch_size)
    sparsity = bests.bests.sparsity()
    seconds = round(clock.seconds_before + time.perf_counter() - start, 2)  # across resumes
    for trial, (run, log) in enumerate(zip(runs, logs.logs, strict=True)):
        own = make_own_folder(run.folder(out))
        log.append(
            {
                "epoch": log.epoch_of_last_row,  # the final row's
                keys.TEST_L1: float(test_l1[trial]),
                keys.MODEL_SPARSITY: float(sparsity[trial]),
                keys.MODEL_PARAMS: bests.bests.parameters_per_individual(),
            }
        )
        with naming(own / keys.METRICS_CSV):
            os.replace(log.path, own / keys.METRICS_CSV)
        save_autoencoder(bests.bests.individual(trial), own / keys.BEST_AUTOENCODER)
    trial_log(folder, 0).parent.rmdir()  # each trial's log is in its run's folder now
    if wandb_project is not None:
        log_trials(runs, out, wandb_project)
    for run in runs:  # last: a result marks its run finished
        write_result(run, out, seconds, packed_with=len(runs))
    if not keep_checkpoints:  # a finished pack needs no checkpoint to resume
        remove_checkpoints(Path(trainer.logger.log_dir))
    return 0


def trial_log(folder: Path, trial: int) -> Path:
    """Where trial `trial` of the pack in `folder` keeps its metrics.csv while it trains:
    in the pack's folder, which a resumed pack keeps (its runs' folders are made anew)."""
    return folder / "trials" / f"trial_{trial:03d}.csv"


def set_up_pack_process() -> None:
    """What every pack process does first (and `study.calibration`'s, which measures one)."""
    keep_freed_memory()
    if os.environ.get(EAGER_STEP) != "1":  # a pack runs for minutes: worth seconds of compiling
        compile_first_step()


def main(argv: list[str] | None = None) -> None:
    set_up_pack_process()
    spec = json.loads(Path((argv or sys.argv[1:])[0]).read_text())
    runs = [Run.from_plan(record) for record in spec["runs"]]
    resume = Path(spec["resume"]) if spec.get("resume") else None
    folders = Path(spec["out"]), Path(spec["folder"]), Path(spec["logging"])
    options = (
        spec.get("checkpoint_minutes", 5.0),
        spec.get("wandb_project"),
        spec.get("keep_checkpoints", False),
    )
    with exit_on_user_error("lit-evoae pack"):  # a pre-emption: one line, not a traceback
        status = run_pack(runs, *folders, resume, *options)
    sys.exit(status)


if __name__ == "__main__":
    main()
