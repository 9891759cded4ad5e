"""A study on a full disk: one line naming the file and the cause, exit 2, no temporaries."""

import copy

import pytest
from test_runner import make_study

from lit_evoae import keys
from lit_evoae.study.cli import main


@pytest.mark.slow  # a subprocess, DDP or SLURM run
@pytest.mark.disk_kib(48)
@pytest.mark.parametrize("pack", ["3", "1"])
def test_a_full_disk_stops_the_study_in_one_line_naming_the_file(
    pack, small_disk, tmp_path, tiny_coevolution_template, capsys
):
    """On dcfdc83: an `OSError: [Errno 28]` traceback from the runner; before this change,
    a line naming "the output folder", not the file."""
    base = copy.deepcopy(tiny_coevolution_template)
    base["trainer"]["max_epochs"] = 3
    study = make_study(tmp_path, base)
    out = small_disk / "runs"
    with pytest.raises(SystemExit) as exited:
        main(["run", "--study", str(study), "--out", str(out), "--pack", pack, "--workers", "1"])
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"lit-evoae-study: error: cannot write {out}/")
    assert "No space left on device; choose a writable folder with --out" in line
    assert not list(small_disk.glob("**/*.tmp"))  # nothing partial left to be trusted
    logs = list(out.glob(f"packs/*/{keys.LOG}"))
    assert logs or pack == "1"
    for log in logs:  # a pack that failed says where, in one line
        last = log.read_text().strip().splitlines()[-1]
        assert last.startswith(f"lit-evoae pack: error: cannot write {out}/"), last
