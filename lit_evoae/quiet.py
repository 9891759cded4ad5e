"""Third-party notices that tell lit_evoae's users nothing, silenced by their exact text.

Each is matched by its own message, so every other warning still shows:
- Lightning's advertisements for its cloud products ("💡 Tip: …", on every run);
- `isinstance(treespec, LeafSpec)` is deprecated: raised inside Lightning 2.6 against
  newer torch, on every run, and not ours to fix;
- "The dirpath has changed …": ModelCheckpoint's note when `test --ckpt_path` restores a
  checkpoint of an earlier run, which is what the command is for;
- "LightningCLI's args parameter is intended to run from within Python …": the study
  tools build a run's CLI from its own arguments (`build_cli(args)`) inside a process
  that has arguments of its own, which is what `args` is for.
`start_up_notices_off` is narrower in scope and wider in reach: inside its block, every
Lightning message below a warning and its `PossibleUserWarning`s, for a CLI that is built
but not run.
"""

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from lightning_fabric.utilities.warnings import PossibleUserWarning

SILENCED_WARNINGS = (
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    r"The dirpath has changed from",
    r"LightningCLI's args parameter is intended to run from within Python",
)
ADVERTISEMENT = "💡 Tip:"
#: Where Lightning's rank_zero_info writes (both packages install their own logger).
RANK_ZERO_LOGGERS = (
    "pytorch_lightning.utilities.rank_zero",
    "lightning_fabric.utilities.rank_zero",
)


#: The parents of every Lightning logger ("Seed set to", "GPU available", …).
LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning_fabric")


class _DropAdvertisements(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(ADVERTISEMENT)


def silence_notices() -> None:
    """Install the filters (idempotent)."""
    for message in SILENCED_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    for name in RANK_ZERO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropAdvertisements) for f in logger.filters):
            logger.addFilter(_DropAdvertisements())


@contextmanager
def start_up_notices_off() -> Iterator[None]:
    """Lightning's start-up notices off, for a run's CLI built only to be inspected (the
    study tools size a pack from one): they would print "Seed set to …", "GPU available
    …" and the srun hint before the tool's own line, for a run that is not starting.
    The run itself, in its own process, still shows them."""
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PossibleUserWarning)
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
