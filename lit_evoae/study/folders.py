"""What the study runner may create and remove under `--out`, and nothing else.

Every folder the runner makes (a run's, a pack's, a packed trial's) gets MARKER first. A
folder that lacks it was not made by the runner: it is never removed, and the run that
would have used it fails with a line naming it. With run and variant names checked
(`spec.check_name`), nothing a study writes or removes lies outside `--out`.
"""

import shutil
from pathlib import Path

from lit_evoae import keys
from lit_evoae.runs import PREEMPTION_CHECKPOINTS
from lit_evoae.study.results import RunFailed
from lit_evoae.study.spec import Run

#: Written first into every folder the runner makes.
MARKER = ".lit-evoae-study"
#: Files that show a folder is the runner's: its marker, or what runs and packed trials made
#: before the marker existed wrote (so studies begun then still resume).
OWN = (MARKER, "logging.yaml", keys.RESULT)


def make_own_folder(folder: Path) -> Path:
    """`folder`, created if missing, with the runner's MARKER in it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).touch()
    return folder


def clear_own_folder(folder: Path) -> None:
    """Remove `folder`, an interrupted attempt of the runner's, so that its run starts over.
    A folder the runner did not make (no MARKER, not empty) is left alone: RunFailed."""
    if not folder.exists() and not folder.is_symlink():
        return
    if folder.is_symlink() or not folder.is_dir():
        raise RunFailed(f"{folder} is in the way of a run folder and is not one; move it away")
    if not any((folder / name).is_file() for name in OWN) and any(folder.iterdir()):
        raise RunFailed(
            f"{folder} holds files lit-evoae-study did not write (no {MARKER}), so it is "
            "left as it is; move it away, or choose another --out"
        )
    shutil.rmtree(folder)


def run_lock(run: Run, out: Path) -> Path:
    """The lock file of `run`, beside its folder (the folder may be cleared while held)."""
    folder = run.folder(out)
    return folder.parent / f".{folder.name}.lock"


def pack_folder(first: Run, size: int, out: Path) -> Path:
    """The folder of the pack of `size` runs whose first run is `first`."""
    return out / "packs" / f"{first.variant}__trial_{first.trial:03d}+{size - 1}"


def remove_checkpoints(folder: Path) -> None:
    """A finished run's checkpoints: nothing resumes from them, and they are most of its
    size (`--keep-checkpoints` keeps them)."""
    shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    for path in [folder / keys.CLOCK_CHECKPOINT, *folder.glob(PREEMPTION_CHECKPOINTS)]:
        path.unlink(missing_ok=True)


def remove_stale_temporaries(folder: Path) -> None:
    """Files a killed process was writing atomically (`io.replacing`): never trusted, and
    as large as the checkpoint they were to replace."""
    for stale in folder.glob(".*.tmp"):
        stale.unlink(missing_ok=True)
