"""The `lit-evoae` command: LightningCLI over lit_evoae's systems and data modules."""

import os
import pydoc
import re
import shutil
import sys
import time
from pathlib import Path
from typing import NoReturn

import pytorch_lightning as pl
import torch
import yaml
from pytorch_lightning.callbacks import ModelCheckpoint, ProgressBar
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from pytorch_lightning.plugins.io import CheckpointIO

import lit_evoae.data  # noqa: F401  (registers the data modules for short class names)
import lit_evoae.pruning.operators  # noqa: F401  (pruning operators by short class name)
import lit_evoae.pruning.schedules  # noqa: F401  (schedules by short class name)
import lit_evoae.systems  # noqa: F401  (registers the systems for short class names)
from lit_evoae import cli_cache, keys
from lit_evoae.allocator import keep_freed_memory
from lit_evoae.callbacks import Preemption, Pruning
from lit_evoae.callbacks.preemption import program_words
from lit_evoae.callbacks.progress import GenerationBar, GenerationLines
from lit_evoae.callbacks.wandb_media import wandb_loggers
from lit_evoae.checkpoints import AtomicCheckpointIO, read_checkpoint, refuse_mismatch
from lit_evoae.config_files import check_config_files
from lit_evoae.errors import ConfigError, exit_on_user_error
from lit_evoae.export import main as export_main
from lit_evoae.io import atomic_write_text
from lit_evoae.loggers import ResumableCSVLogger, wandb_configured
from lit_evoae.nets import save_autoencoder
from lit_evoae.parse_errors import one_screen
from lit_evoae.quiet import silence_notices
from lit_evoae.runs import (
    folder_of_checkpoint,
    move_logger_to,
    pin_logger_to,
    place_under_root,
    requeued_checkpoint,
    run_folder,
)
from lit_evoae.systems import CanonicalAutoencoder, CoevolutionaryAutoencoder
from lit_evoae.systems.sharding import check_split

DESCRIPTION = (
    "Evolutionary autoencoder training with activation-based pruning (LightningCLI). "
    "Also: `lit-evoae export CHECKPOINT --out DIR` compacts a checkpoint's best "
    "individual into a smaller dense network."
)


class OneScreenParser(LightningArgumentParser):
    """Parse errors as one line with the full key, the value and what is allowed, then a
    pointer to --help; not the usage text and jsonargparse's tree (see parse_errors)."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if not self.exit_on_error or os.environ.get("JSONARGPARSE_DEBUG"):
            super().error(message, ex)
        parser = getattr(ex, "subcommand_parser", None) or self
        prog = parser.prog.replace(" [options]", "")
        unknown = _UNRECOGNIZED.match(message)
        text = unknown_options(unknown.group(1), parser) if unknown else one_screen(message)
        sys.stderr.write(
            f"lit-evoae: error: {text}\nEvery key and its allowed values: {prog} --help\n"
        )
        sys.exit(2)


_UNRECOGNIZED = re.compile(r"^[Uu]nrecognized arguments: (.*)$", re.DOTALL)


def unknown_options(given: str, parser) -> str:
    """`unrecognized arguments` with a "did you mean" for each misspelt --key."""
    known = [option for option in parser._option_string_actions if option.startswith("--")]
    return cli_cache.unrecognized(given.split(), known)


class SaveConfig(SaveConfigCallback):
    """Saves config.yaml into the run folder (see `run_folder`), atomically (a kill leaves
    the old file or the new one, never half of one), and records the whole resolved config
    in W&B under `cli`, so runs can be told apart by any key (the pruning operator, the
    seed, the trainer), not only by the hyperparameters Lightning logs itself. A requeued
    or re-run job writes over the file of its run folder; it must not fail there."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.already_saved or stage != "fit":  # test/validate: keep the training config
            return
        folder = Path(run_folder(trainer))
        if trainer.is_global_zero:
            folder.mkdir(parents=True, exist_ok=True)
            text = self.parser.dump(self.config, skip_none=False)
            atomic_write_text(folder / self.config_filename, text)
            self.save_config(trainer, pl_module, stage)
            self.already_saved = True
        self.already_saved = trainer.strategy.broadcast(self.already_saved)

    def save_config(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        loggers = wandb_loggers(trainer)
        if loggers:
            config = yaml.safe_load(self.parser.dump(self.config, skip_none=False))
            for logger in loggers:
                logger.log_hyperparams({"cli": config})


class LitEvoAECLI(LightningCLI):
    """LightningCLI with the data width linked to the model; checkpointing, pruning and
    pre-emption always on.

    Those callbacks are parser groups of their own (`checkpoint.*`, `pruning.*`,
    `preemption.*`) rather than entries of `trainer.callbacks`, so config fragments
    compose: a fragment that set a callback list would silently replace the earlier list.
    """

    wandb_offline = False  # set when W&B is configured but has no credentials
    _checked_checkpoint: tuple[str, int | None] | None = None  # (--ckpt_path, its epoch)

    def __init__(
        self, *args, cache_as: str | None = None, seeds: list[int] | None = None, **kwargs
    ) -> None:
        self.cache_as = cache_as  # the console command's name: cli_cache keeps its answers
        self.seeds = seeds  # a study's pack: one trial per seed, for a system that packs
        super().__init__(*args, **kwargs)

    def init_parser(self, **kwargs) -> LightningArgumentParser:
        # No prefix matching: --trainer.max_epoch must not silently mean max_epochs.
        kwargs.setdefault("allow_abbrev", False)
        return super().init_parser(**kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.input_dim", "model.init_args.input_dim", apply_on="instantiate")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        # Always present, configured under pruning.*; fragments in callbacks/ set it.
        parser.add_lightning_class_args(Pruning, "pruning")
        # Checkpoint at a batch boundary on SIGUSR1/SIGTERM and requeue under SLURM.
        parser.add_lightning_class_args(Preemption, "preemption")
        parser.add_argument(
            "--test_after_fit",
            type=bool,
            default=True,
            help="fit only: test the best checkpoint when training ends and save its best "
            "autoencoder as best_autoencoder.pt in the run folder",
        )
        parser.set_defaults(
            {
                "checkpoint.monitor": keys.VAL_L1,
                "checkpoint.mode": "min",
                "checkpoint.save_last": True,
                "checkpoint.filename": "epoch={epoch:04d}-val_l1={val/l1:.5f}",
                "checkpoint.auto_insert_metric_name": False,
                # save_dir "." is the run's root: --trainer.default_root_dir moves it.
                "trainer.logger": {
                    "class_path": "pytorch_lightning.loggers.CSVLogger",
                    "init_args": {"save_dir": "."},
                },
                # One training step is one generation: log every one of them.
                "trainer.log_every_n_steps": 1,
            }
        )

    def instantiate_trainer(self, **kwargs) -> pl.Trainer:
        # Atomic checkpoint files and a clear error for a damaged one, unless the user
        # configured a CheckpointIO of their own.
        config = self.config_init[self.subcommand] if self.subcommand else self.config_init
        refuse_absent_accelerator(config["trainer"].get("accelerator"))
        configured = _as_list(config["trainer"].get("plugins"))
        if not any(isinstance(plugin, CheckpointIO) for plugin in configured):
            kwargs["plugins"] = [*configured, AtomicCheckpointIO()]
        # A bar that counts generations in a terminal; in a log file, where a redrawn bar is
        # hundreds of lines, a line now and then.
        callbacks = _as_list(config["trainer"].get("callbacks"))
        wants_progress = config["trainer"].get("enable_progress_bar") is not False
        if wants_progress and not any(isinstance(c, ProgressBar) for c in callbacks):
            progress = GenerationBar() if sys.stdout.isatty() else GenerationLines()
            kwargs["callbacks"] = [*callbacks, progress]
        return super().instantiate_trainer(**kwargs)

    def parse_arguments(self, parser: LightningArgumentParser, args) -> None:
        # Kept for the command that resumes this run (Preemption's hint).
        typed = sys.argv[1:] if args is None else args
        self._command = (
            [*program_words(sys.argv[0] if args is None else "lit-evoae"), *typed]
            if isinstance(typed, list)
            else None
        )
        if self.cache_as:  # the console command: keep what the parser says for quick answers
            cli_cache.store(parser, self.cache_as)
        super().parse_arguments(parser, args)

    def _parse_ckpt_path(self) -> None:
        # LightningCLI reads --ckpt_path's hyperparameters here, before anything else does:
        # check the file first so a typo or a damaged file is one line naming it.
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if ckpt_path and ckpt_path not in ("best", "last", "hpc") and "://" not in ckpt_path:
            section = self.config[subcommand]
            checkpoint = read_checkpoint(ckpt_path)
            refuse_mismatch(ckpt_path, checkpoint, section.get("model"), section.get("data"))
            self._checked_checkpoint = (ckpt_path, checkpoint.get("epoch"))
        super()._parse_ckpt_path()

    def before_instantiate_classes(self) -> None:
        self._started = time.perf_counter()
        self._resume_epoch = None
        config = self.config[self.subcommand] if self.subcommand else self.config
        place_under_root(
            _as_list(config["trainer"].get("logger")), config["trainer"].get("default_root_dir")
        )
        if self.subcommand:
            self._resume_in_own_folder(config)
        if self.subcommand == "fit":  # a process that trains: keep its freed memory
            keep_freed_memory()
        if self.seeds is not None and packable(config["model"]):
            config["model"]["init_args"]["seeds"] = list(self.seeds)
        wandb_loggers = _wandb_loggers(config)
        if wandb_loggers and not wandb_configured():
            # Without credentials wandb would stop the run to ask for a key; log offline,
            # by wandb.init's `mode` (the logger's `offline` would set WANDB_MODE for the
            # whole process).
            for logger in wandb_loggers:
                logger["dict_kwargs"] = {**(logger.get("dict_kwargs") or {}), "mode": "offline"}
            self.wandb_offline = True

    def _resume_in_own_folder(self, config) -> None:
        """A run resumed from its checkpoint (or a requeued SLURM job from its pre-emption
        checkpoint) logs on in its own run folder, not a new version_N."""
        loggers = _as_list(config["trainer"].get("logger"))
        ckpt_path = config.get("ckpt_path")
        if ckpt_path is None and self.subcommand == "fit" and loggers:
            found = requeued_checkpoint(loggers[0])
            if found is not None:
                config["ckpt_path"] = ckpt_path = str(found)
        if not ckpt_path or not Path(ckpt_path).is_file():
            return
        run = folder_of_checkpoint(ckpt_path)
        if loggers and pin_logger_to(loggers[0], run) and self.subcommand == "fit":
            self._resume_epoch = self._checkpoint_epoch(ckpt_path)
        elif loggers and self.subcommand in ("test", "validate"):
            move_logger_to(loggers[0], run)  # its metrics go beside the run's own

    def _checkpoint_epoch(self, path: str) -> int | None:
        """The epoch a checkpoint holds; `_parse_ckpt_path` has usually read the file already."""
        if self._checked_checkpoint is not None and self._checked_checkpoint[0] == path:
            return self._checked_checkpoint[1]
        return read_checkpoint(path).get("epoch")

    def before_fit(self) -> None:
        model = self.model
        if isinstance(model, CoevolutionaryAutoencoder):  # refused here, before ranks start
            check_split(self.trainer.world_size, model.population_size, model.strategy)
        self._folder = Path(run_folder(self.trainer))
        self._folder_existed = self._folder.exists()  # a resumed run's, or a study run's
        for callback in self.trainer.callbacks:
            if isinstance(callback, Preemption):
                callback.command = getattr(self, "_command", None)
        if self._resume_epoch is None or not self.trainer.is_global_zero:
            return
        for logger in self.trainer.loggers:  # epochs after the checkpoint are logged again
            if isinstance(logger, ResumableCSVLogger):
                logger.forget_after_epoch(self._resume_epoch)

    def _run_subcommand(self, subcommand: str) -> None:
        try:
            super()._run_subcommand(subcommand)
        except BaseException:
            if subcommand == "fit":
                self._remove_unstarted_folder()
            raise

    def _remove_unstarted_folder(self) -> None:
        """A run that failed before its first generation ended leaves no folder behind (it
        would hold a config.yaml and nothing to resume); folders it found are kept."""
        folder = getattr(self, "_folder", None)
        trainer = self.trainer
        started = trainer.fit_loop.epoch_progress.current.completed > 0
        if folder is None or self._folder_existed or started or not trainer.is_global_zero:
            return
        shutil.rmtree(folder, ignore_errors=True)

    def after_fit(self) -> None:
        if self.wandb_offline and self.trainer.is_global_zero:
            run_folder = Path(self.trainer.logger.experiment.dir).parent.resolve()
            print(
                f"W&B: no API key configured, so this run was logged offline to {run_folder}."
                f" Upload it with: wandb sync {run_folder}"
            )
        final = {
            key: float(value)
            for key, value in self.trainer.callback_metrics.items()
            if key.startswith("final/")
        }
        self._test_best()
        self._close(final)

    def after_test(self) -> None:
        self._close({})

    def _close(self, final: dict[str, float]) -> None:
        """One closing line: where the run is and what it reached."""
        trainer = self.trainer
        folder = run_folder(trainer)
        if trainer.interrupted or not trainer.is_global_zero:
            return
        checkpoint = trainer.checkpoint_callback
        best = getattr(checkpoint, "best_model_score", None)
        test = trainer.callback_metrics.get(keys.TEST_L1)
        parts = [f"{self.subcommand} done in {time.perf_counter() - self._started:.1f} s"]
        parts += [f"run folder {folder}"] if folder else []
        parts += [f"best {keys.VAL_L1} {float(best):.4f}"] if best is not None else []
        parts += [f"{keys.TEST_L1} {float(test):.4f}"] if test is not None else []
        for key in (keys.FINAL_TRAIN_L1_MEAN, keys.final("train_l1_best")):
            parts += [f"{key} {final[key]:.4f}"] if key in final else []
        print("lit-evoae: " + " · ".join(parts), flush=True)

    def _test_best(self) -> None:
        trainer = self.trainer
        if not self.config[self.subcommand].get("test_after_fit") or trainer.interrupted:
            return
        checkpoint = trainer.checkpoint_callback
        best = checkpoint is not None and bool(checkpoint.best_model_path)
        trainer.test(self.model, datamodule=self.datamodule, ckpt_path="best" if best else None)
        folder = run_folder(trainer)
        if trainer.is_global_zero and not trainer.fast_dev_run:
            save_autoencoder(self.model.autoencoder(), Path(folder) / keys.BEST_AUTOENCODER)


#: The systems that train a study's pack of trials as one population.
PACKABLE = (CoevolutionaryAutoencoder, CanonicalAutoencoder)

#: Lightning's accelerator names that need hardware this machine may not have.
HARDWARE = ("gpu", "cuda", "mps", "tpu", "hpu")


def available_accelerators() -> list[str]:
    found = ["cpu", "auto"]
    if torch.cuda.is_available():
        found += ["gpu", "cuda"]
    if torch.backends.mps.is_available():
        found += ["mps"]
    return found


def refuse_absent_accelerator(accelerator) -> None:
    """One line naming what this machine has, instead of Lightning's "No supported gpu
    backend found!"."""
    if isinstance(accelerator, str) and accelerator in HARDWARE:
        present = available_accelerators()
        if accelerator not in present:
            raise ConfigError(
                f"trainer.accelerator={accelerator} is not present on this machine; "
                f"choose one that is: {', '.join(present)}"
            )


def _as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def _wandb_loggers(config) -> list:
    loggers = _as_list(config.get("trainer", {}).get("logger"))
    return [logger for logger in loggers if "WandbLogger" in str(getattr(logger, "class_path", ""))]


def build_cli(
    args: list[str] | None = None,
    run: bool = True,
    cache_as: str | None = None,
    seeds: list[int] | None = None,
) -> LitEvoAECLI:
    """Parse `args` (default: sys.argv) and run the chosen subcommand (with `run=False`, `args`
    has no subcommand and only instantiates the classes); returns the CLI object. `cache_as`:
    the console command's name, under which `cli_cache` keeps the parser's answers. `seeds`:
    a study's pack, one trial per seed, given to a system that packs (`packable`) as it is
    built, so the pack's system is built once."""
    silence_notices()
    check_config_files(sys.argv[1:] if args is None else list(args))
    return LitEvoAECLI(
        pl.LightningModule,
        pl.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_callback=SaveConfig,
        parser_class=OneScreenParser,
        parser_kwargs={"description": DESCRIPTION},
        args=args,
        run=run,
        cache_as=cache_as,
        seeds=seeds,
    )


def packable(model) -> bool:
    """Whether the configured model (its `class_path` and `init_args`) is one of
    lit_evoae's systems, which train a pack of trials; a user's other LightningModule runs
    its trials alone."""
    found = pydoc.locate(str(model.get("class_path")))
    return isinstance(found, type) and issubclass(found, PACKABLE)


def main(cache_as: str | None = None) -> None:
    """Console entry point (behind `entry.main`): exit 0 on success, 2 with a one-line message
    on a user error."""
    try:
        with exit_on_user_error("lit-evoae"):
            if sys.argv[1:2] == ["export"]:
                export_main(sys.argv[2:])
            else:
                build_cli(cache_as=cache_as)
    finally:
        _leave_process_group()


def _leave_process_group() -> None:
    """End a DDP run's process group before the interpreter exits: Lightning keeps it open,
    and a rank that exits with gloo's threads still running can abort ("terminate called")."""
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
