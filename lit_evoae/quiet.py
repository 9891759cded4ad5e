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
"""

import logging
import warnings

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
