"""Run folders: where a run keeps its files, and how a resumed run finds its own again.

A run's folder is the one Lightning puts its `checkpoints/` in: `<save_dir>/<name>/<version>`
of the first logger (`lightning_logs/version_N` for CSV, `<project>/<run id>` for W&B).
config.yaml, best_autoencoder.pt and pre-emption checkpoints go there too. A run resumed
from one of its checkpoints logs into that same folder instead of opening a new version:
the CLI pins the logger's version to it (`pin_logger_to`).
"""

import os
from pathlib import Path

import pytorch_lightning as pl

#: Logger classes whose folder is `<save_dir>/<name>/<version>` and that can append to it.
CSV_LOGGERS = ("pytorch_lightning.loggers.CSVLogger", "lightning.pytorch.loggers.CSVLogger",
               "lit_evoae.loggers.ResumableCSVLogger")  # fmt: skip
APPENDING_CSV_LOGGER = "lit_evoae.loggers.ResumableCSVLogger"
WANDB_LOGGER = "pytorch_lightning.loggers.WandbLogger"
PREEMPTION_CHECKPOINTS = "hpc_ckpt_*.ckpt"


def run_folder(trainer: pl.Trainer) -> str:
    """The folder of the run `trainer` is training or testing. A collective under DDP."""
    if not trainer.loggers:
        folder = trainer.default_root_dir
    else:
        logger = trainer.loggers[0]
        version = logger.version
        version = version if isinstance(version, str) else f"version_{version}"
        save_dir = logger.save_dir or trainer.default_root_dir
        folder = os.path.join(save_dir, str(logger.name), version)
    return trainer.strategy.broadcast(os.path.normpath(folder))


def folder_of_checkpoint(path: str | os.PathLike) -> Path:
    """The run folder a checkpoint file belongs to: `<run>/checkpoints/x.ckpt` or a
    pre-emption checkpoint `<run>/hpc_ckpt_N.ckpt`."""
    path = Path(path).resolve()
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


def pin_logger_to(logger, run: Path) -> bool:
    """Point a parsed logger config (class_path, init_args) at the existing run folder `run`
    when `run` lies where that logger writes and the logger has no version of its own.
    A CSV logger becomes the appending ResumableCSVLogger; a W&B logger resumes the run
    id. Returns True if it did."""
    class_path = str(getattr(logger, "class_path", ""))
    init_args = getattr(logger, "init_args", None)
    if init_args is None:
        return False
    save_dir = Path(init_args.get("save_dir") or ".")
    if class_path in CSV_LOGGERS:
        name = init_args.get("name", "lightning_logs")
        name = "lightning_logs" if name is None else name
        if init_args.get("version") is not None or (save_dir / name).resolve() != run.parent:
            return False
        logger.class_path = APPENDING_CSV_LOGGER
        init_args["version"] = run.name
        return True
    if class_path == WANDB_LOGGER:
        project = init_args.get("project") or "lightning_logs"
        if init_args.get("id") or (save_dir / project).resolve() != run.parent:
            return False
        init_args["id"] = run.name
        init_args["resume"] = "allow"
        return True
    return False


def latest_preemption_checkpoint(folders: list[Path]) -> Path | None:
    """The newest `hpc_ckpt_N.ckpt` in any of `folders`, if there is one."""
    found = [path for folder in folders if folder.is_dir()
             for path in folder.glob(PREEMPTION_CHECKPOINTS)]  # fmt: skip
    return max(found, key=lambda path: path.stat().st_mtime) if found else None
