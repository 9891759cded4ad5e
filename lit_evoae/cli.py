"""The `lit-evoae` command: LightningCLI over lit_evoae's systems and data modules."""

import os
import sys
from pathlib import Path

import pytorch_lightning as pl
import yaml
from jsonargparse import lazy_instance
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from pytorch_lightning.loggers import CSVLogger

import lit_evoae.data  # noqa: F401  (registers the data modules for short class names)
import lit_evoae.pruning.methods  # noqa: F401  (pruning operators by short class name)
import lit_evoae.pruning.schedules  # noqa: F401  (schedules by short class name)
import lit_evoae.systems  # noqa: F401  (registers the systems for short class names)
from lit_evoae.callbacks import Preemption, Pruning
from lit_evoae.callbacks.wandb_media import wandb_loggers
from lit_evoae.errors import UserError
from lit_evoae.nets import save_autoencoder

BEST_AUTOENCODER = "best_autoencoder.pt"
DESCRIPTION = (
    "Evolutionary autoencoder training with activation-based pruning (LightningCLI). "
    "Also: `lit-evoae export CHECKPOINT --out DIR` compacts a checkpoint's best "
    "individual into a smaller dense network."
)


class SaveConfigToWandb(SaveConfigCallback):
    """Saves config.yaml as usual and also records the whole resolved config in W&B under
    `cli`, so runs can be told apart by any key (the pruning operator, the seed, the trainer),
    not only by the model's and data's hyperparameters that Lightning logs itself."""

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
                "checkpoint.monitor": "val/l1",
                "checkpoint.mode": "min",
                "checkpoint.save_last": True,
                "checkpoint.filename": "epoch={epoch:04d}-val_l1={val/l1:.5f}",
                "checkpoint.auto_insert_metric_name": False,
                "trainer.logger": lazy_instance(CSVLogger, save_dir="."),
            }
        )

    def before_instantiate_classes(self) -> None:
        if _uses_wandb(self.config[self.subcommand]) and not _wandb_configured():
            # Without credentials wandb would stop the run to ask for a key; log offline.
            os.environ["WANDB_MODE"] = "offline"
            self.wandb_offline = True

    def after_fit(self) -> None:
        if self.wandb_offline and self.trainer.is_global_zero:
            run_folder = Path(self.trainer.logger.experiment.dir).parent.resolve()
            print(f"W&B: no API key configured, so this run was logged offline to {run_folder}."
                  f" Upload it with: wandb sync {run_folder}")  # fmt: skip
        self._test_best()

    def _test_best(self) -> None:
        trainer = self.trainer
        if not self.config[self.subcommand].get("test_after_fit") or trainer.interrupted:
            return
        checkpoint = trainer.checkpoint_callback
        best = checkpoint is not None and bool(checkpoint.best_model_path)
        trainer.test(self.model, datamodule=self.datamodule, ckpt_path="best" if best else None)
        if trainer.log_dir is not None and trainer.is_global_zero:  # None under fast_dev_run
            save_autoencoder(self.model.autoencoder(), Path(trainer.log_dir) / BEST_AUTOENCODER)


def _uses_wandb(config) -> bool:
    loggers = config.get("trainer", {}).get("logger")
    loggers = loggers if isinstance(loggers, list) else [loggers]
    return any("WandbLogger" in str(getattr(logger, "class_path", "")) for logger in loggers)


def _wandb_configured() -> bool:
    """True if the user chose a mode or has credentials (WANDB_API_KEY or ~/.netrc)."""
    if os.environ.get("WANDB_MODE") or os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path.home() / ".netrc"
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")


def build_cli(args: list[str] | None = None) -> LitEvoAECLI:
    """Parse `args` (default: sys.argv) and run the chosen subcommand; returns the CLI object."""
    return LitEvoAECLI(
        pl.LightningModule,
        pl.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_callback=SaveConfigToWandb,
        # A requeued or re-run job writes into the same folder; it must not fail there.
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"description": DESCRIPTION},
        args=args,
    )


def main() -> None:
    """Console entry point: exit 0 on success, 2 with a one-line message on a user error."""
    try:
        if sys.argv[1:2] == ["export"]:
            from lit_evoae.export import main as export_main

            export_main(sys.argv[2:])
        else:
            build_cli()
    except Exception as error:
        cause = user_error_behind(error)
        if cause is None:
            raise
        print(f"lit-evoae: error: {cause}", file=sys.stderr)
        sys.exit(2)


def user_error_behind(error: BaseException) -> UserError | None:
    """The UserError that caused `error`, if any: jsonargparse wraps errors raised while it
    instantiates nested classes (a topology, a strategy) in a ValueError of its own."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, UserError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


if __name__ == "__main__":
    main()
