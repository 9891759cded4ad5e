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
CSV_LOGGERS = (
    "pytorch_lightning.loggers.CSVLogger",
    "lightning.pytorch.loggers.CSVLogger",
    "lit_evoae.loggers.ResumableCSVLogger",
)
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


def versions_folder(logger) -> Path | None:
    """`<save_dir>/<name>` of a parsed logger config (class_path, init_args): the folder
    holding its run folders; None for a logger that does not keep them so."""
    class_path = str(getattr(logger, "class_path", ""))
    init_args = getattr(logger, "init_args", None)
    if init_args is None:
        return None
    if class_path in CSV_LOGGERS:
        name = init_args.get("name", "lightning_logs")
    elif class_path == WANDB_LOGGER:
        name = init_args.get("project")
    else:
        return None
    return Path(init_args.get("save_dir") or ".", "lightning_logs" if name is None else name)


def pin_logger_to(logger, run: Path) -> bool:
    """Point a parsed logger config at the existing run folder `run` when `run` lies where
    that logger writes and the logger has no version of its own. A CSV logger becomes the
    appending ResumableCSVLogger; a W&B logger resumes the run id. Returns True if it did."""
    versions = versions_folder(logger)
    if versions is None or versions.resolve() != run.parent:
        return False
    init_args = logger.init_args
    if logger.class_path == WANDB_LOGGER:
        if init_args.get("id"):
            return False
        init_args["id"] = run.name
        init_args["resume"] = "allow"
        return True
    if init_args.get("version") is not None:
        return False
    logger.class_path = APPENDING_CSV_LOGGER
    init_args["version"] = run.name
    return True


def move_logger_to(logger, run: Path) -> bool:
    """Point a parsed CSV logger config at the run folder `run`, wherever it lies, so that
    `test` or `validate` of `run`'s checkpoint logs beside its training (`pin_logger_to`
    covers a run under the logger's own folder). A logger with a version of its own, or
    another kind of logger, is left as configured. Returns True if it moved it."""
    init_args = getattr(logger, "init_args", None)
    if str(getattr(logger, "class_path", "")) not in CSV_LOGGERS or init_args is None:
        return False
    if init_args.get("version") is not None:
        return False
    logger.class_path = APPENDING_CSV_LOGGER
    init_args["save_dir"] = str(run.parent.parent)
    init_args["name"] = run.parent.name
    init_args["version"] = run.name
    return True


def requeued_checkpoint(logger) -> Path | None:
    """In a requeued SLURM job (`SLURM_RESTART_COUNT` > 0, not a job started anew), the
    newest pre-emption checkpoint among `logger`'s run folders."""
    if int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) <= 0:
        return None
    versions = versions_folder(logger)
    if versions is None or not versions.is_dir():
        return None
    return latest_preemption_checkpoint([path for path in versions.iterdir() if path.is_dir()])


def place_under_root(loggers: list, root: str | None) -> None:
    """A logger `save_dir` of "." (the shipped configs' and the default) means the run's
    root: `trainer.default_root_dir` when it is given, so that one flag moves a run's logs,
    checkpoints, config.yaml and best_autoencoder.pt together. Other paths stay as given."""
    if not root:
        return
    for logger in loggers:
        init_args = getattr(logger, "init_args", None)
        if init_args is not None and init_args.get("save_dir") in (".", "./", ""):
            init_args["save_dir"] = str(root)


def latest_preemption_checkpoint(folders: list[Path]) -> Path | None:
    """The newest `hpc_ckpt_N.ckpt` in any of `folders`, if there is one."""
    found = [
        path
        for folder in folders
        if folder.is_dir()
        for path in folder.glob(PREEMPTION_CHECKPOINTS)
    ]
    return max(found, key=lambda path: path.stat().st_mtime) if found else None
