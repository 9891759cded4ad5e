import logging
import warnings

from lit_evoae.quiet import RANK_ZERO_LOGGERS, silence_notices


def test_only_the_named_notices_are_silenced(lightning_messages):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        silence_notices()
        warnings.warn(
            "`isinstance(treespec, LeafSpec)` is deprecated, use …",
            DeprecationWarning,
            stacklevel=1,
        )
        warnings.warn("The dirpath has changed from 'a' to 'b', therefore …", stacklevel=1)
        warnings.warn(
            "LightningCLI's args parameter is intended to run from within Python like if it "
            "were from the command line. To prevent mistakes …",
            stacklevel=1,
        )
        warnings.warn("a real problem", UserWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["a real problem"]
    for name in RANK_ZERO_LOGGERS:
        logging.getLogger(name).info("💡 Tip: try our cloud product")
        logging.getLogger(name).info("GPU available: False")
    assert lightning_messages == ["GPU available: False"] * len(RANK_ZERO_LOGGERS)


def test_start_up_notices_are_off_inside_the_block_only(lightning_messages):
    from lightning_fabric.utilities.rank_zero import rank_zero_warn
    from lightning_fabric.utilities.warnings import PossibleUserWarning

    from lit_evoae.quiet import start_up_notices_off

    def emit() -> None:
        for name in RANK_ZERO_LOGGERS:
            logging.getLogger(name).info("GPU available: False")
        rank_zero_warn("The `srun` command is available", category=PossibleUserWarning)
        warnings.warn("a real problem", UserWarning, stacklevel=1)

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with start_up_notices_off():
            emit()
        assert [str(w.message) for w in seen] == ["a real problem"]
        assert lightning_messages == []
        emit()  # after the block, as before it
    assert [str(w.message) for w in seen[1:]] == [
        "The `srun` command is available",
        "a real problem",
    ]
    assert lightning_messages == ["GPU available: False"] * len(RANK_ZERO_LOGGERS)
