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


@pytest.mark.integration
def test_a_full_disk_is_an_enospc_naming_the_file_and_keeps_the_old_one(small_disk):
    import errno

    from lit_evoae.errors import one_line_error

    path = small_disk / "last.ckpt"
    atomic_save({"x": torch.zeros(10)}, path)
    before = path.read_bytes()
    with pytest.raises(OSError) as failed:
        atomic_save({"x": torch.zeros(1_000_000)}, path)  # 4 MB on a 512 KiB disk
    assert failed.value.errno == errno.ENOSPC and failed.value.filename == str(path)
    line = one_line_error(failed.value)
    assert line.startswith(f"cannot write {path}: No space left on device") and "\n" not in line
    assert path.read_bytes() == before
    assert os.listdir(small_disk) == ["last.ckpt"]
