"""Entry points: a user error leaves as one line and status 2, a bug keeps its traceback."""

import pytest

from lit_evoae.errors import ConfigError, exit_on_user_error


def test_a_user_error_leaves_as_one_line_and_status_2(capsys):
    with pytest.raises(SystemExit) as leaving, exit_on_user_error("tool"):
        raise ConfigError("model.lr: must be positive, got -1")
    assert leaving.value.code == 2
    assert capsys.readouterr().err == "tool: error: model.lr: must be positive, got -1\n"


def test_a_message_already_written_is_not_written_again(capsys):
    error = ConfigError("stopped by SIGUSR1")
    error.printed = True
    with pytest.raises(SystemExit) as leaving, exit_on_user_error("tool"):
        raise error
    assert leaving.value.code == 2 and capsys.readouterr().err == ""


def test_a_wrapped_user_error_is_found_behind_its_wrapper(capsys):
    with pytest.raises(SystemExit), exit_on_user_error("tool"):
        try:
            raise ConfigError("grid.rows: must be at least 1")
        except ConfigError as error:
            raise ValueError("while instantiating the topology") from error
    assert capsys.readouterr().err == "tool: error: grid.rows: must be at least 1\n"


def test_a_bug_keeps_its_traceback():
    with pytest.raises(KeyError), exit_on_user_error("tool"):
        raise KeyError("not a user error")
