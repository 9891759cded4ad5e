"""One writer per study folder and per run; a dead holder's lock is taken over."""

import os
import signal
import subprocess
import sys
import time

import pytest

from lit_evoae.study.locks import Busy, is_locked, locked

HOLD = """
import sys, time
from pathlib import Path
from lit_evoae.study.locks import locked
with locked(Path(sys.argv[1]), "it"):
    print("held", flush=True)
    time.sleep(60)
"""


def holder(path):
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held"
    return process


@pytest.mark.integration
def test_a_second_holder_is_told_who_holds_the_lock(tmp_path):
    path = tmp_path / ".lock"
    process = holder(path)
    try:
        assert is_locked(path)
        with pytest.raises(Busy) as refused, locked(path, "study folder X"):
            pass
        message = str(refused.value)
        assert message.startswith("study folder X is in use by host ")
        assert f"PID {process.pid}, since " in message and "\n" not in message
    finally:
        process.kill()
        process.wait()


@pytest.mark.integration
def test_the_lock_of_a_killed_holder_is_taken_over(tmp_path):
    path = tmp_path / ".lock"
    process = holder(path)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not is_locked(path)
    with locked(path, "it"):
        assert f"PID {os.getpid()}" in path.read_text()
    assert not is_locked(path)


@pytest.mark.integration
def test_a_child_given_the_lock_keeps_it_after_its_parent_lets_go(tmp_path):
    path = tmp_path / ".lock"
    with locked(path, "it") as descriptor:
        child = subprocess.Popen(["sleep", "30"], pass_fds=(descriptor,))
    try:
        time.sleep(0.1)
        assert is_locked(path)  # the run trains on: nobody else may start it
    finally:
        child.kill()
        child.wait()
    assert not is_locked(path)


def test_status_reads_a_lock_without_making_a_file(tmp_path):
    assert not is_locked(tmp_path / "none.lock")
    assert not (tmp_path / "none.lock").exists()
