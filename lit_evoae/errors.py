"""Errors caused by what a user typed or pointed at, as opposed to bugs.

The console entry point prints these as one line and exits with status 2,
so a mistake reads as a message, not a traceback.
"""


class UserError(Exception):
    """Base of every error whose message tells the user what to change."""


class ConfigError(UserError, ValueError):
    """A configuration value is out of its allowed range or inconsistent with another."""


class DataError(UserError, OSError):
    """A data directory or data file cannot be used; the message names the path."""


class Diverged(UserError, ArithmeticError):
    """Training produced a non-finite loss; the message names the saved state and what to try."""
