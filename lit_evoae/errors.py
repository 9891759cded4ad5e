"""Errors caused by what a user typed or pointed at, as opposed to bugs.

The console entry point prints these as one line and exits with status 2,
so a mistake reads as a message, not a traceback (`one_line_error` decides which).
"""

import contextlib
import errno
import sys
from collections.abc import Iterator


class UserError(Exception):
    """Base of every error whose message tells the user what to change."""

    #: set by whoever already wrote the one-line message (a pre-emption writes its own
    #: before SLURM's kill can cut it short), so the entry point does not write it twice
    printed = False


class ConfigError(UserError, ValueError):
    """A configuration value is out of its allowed range or inconsistent with another."""


class DataError(UserError, OSError):
    """A data directory or data file cannot be used; the message names the path."""


class Diverged(UserError, ArithmeticError):
    """Training produced a non-finite loss; the message names the saved state and what to try."""


#: OS errors that mean "this place cannot be written", not a bug: reported in one line.
_UNWRITABLE = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EIO,
    errno.ENOTDIR,  # a file where a folder should be
    errno.EEXIST,  # the same, met by mkdir
    errno.EISDIR,  # a folder where a file should be
}


def one_line_error(error: BaseException) -> str | None:
    """The one-line message for an error the user can fix (a bad value, a Trainer argument
    Lightning refuses, an output folder that cannot be written); None for a bug."""
    # Imported here: this module is imported by lit-evoae-study, which starts without torch.
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    cause = user_error_behind(error)
    if cause is not None:
        return str(cause)
    if isinstance(error, MisconfigurationException):  # the Trainer's own argument checks
        return f"trainer: {str(error).strip().splitlines()[0]}"
    return unwritable_line(error, "--trainer.default_root_dir")


def unwritable_line(error: BaseException, option: str) -> str | None:
    """The one line for an OS error that means "this place cannot be written" (a full disk,
    no permission, a file where a folder should be), naming the path, the cause and the
    `option` that moves the output; None for any other error."""
    if not isinstance(error, OSError) or error.errno not in _UNWRITABLE:
        return None
    where = error.filename or "the output folder"
    return f"cannot write {where}: {error.strerror}; choose a writable folder with {option}"


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


@contextlib.contextmanager
def exit_on_user_error(program: str) -> Iterator[None]:
    """Run an entry point's body: a user error leaves as `<program>: error: <message>` and
    exit status 2; anything else (a bug) keeps its traceback."""
    try:
        yield
    except Exception as error:
        message = one_line_error(error)
        if message is None:
            raise
        cause = user_error_behind(error)
        if cause is None or not cause.printed:
            print(f"{program}: error: {message}", file=sys.stderr, flush=True)
        sys.exit(2)
