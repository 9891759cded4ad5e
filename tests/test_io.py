import os

import pytest
import torch

from lit_evoae.io import FILE_MODE, atomic_save, atomic_write_text


def test_files_get_the_ordinary_mode_not_the_temporary_one(tmp_path):
    atomic_write_text(tmp_path / "a.json", "{}")
    atomic_save({"x": torch.zeros(1)}, tmp_path / "b.pt")
    for name in ("a.json", "b.pt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == FILE_MODE
    assert FILE_MODE & 0o044  # group and others can read under the usual umask 022


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "old")

    class Unsaveable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle")

    with pytest.raises(RuntimeError):
        atomic_save(Unsaveable(), tmp_path / "a.txt")
    assert (tmp_path / "a.txt").read_text() == "old"
    assert os.listdir(tmp_path) == ["a.txt"]
