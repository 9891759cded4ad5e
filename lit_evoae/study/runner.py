"""Run a study's runs on this machine: a pool of `lit-evoae fit` processes, resumable.

Each run writes into its own folder (resolved config, metrics.csv, checkpoints, log.txt).
A run is finished when its `result.json` exists; that file is written last and
atomically, so a study interrupted at any moment is resumed by running it again:
finished runs are skipped, a half-done run's folder is cleared and the run redone
(unless a pre-empted attempt left a checkpoint there: then the run resumes from it).
The plan (`study.json`) records every run, so a SLURM array task can pick one by index.
"""

import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lit_evoae import keys
from lit_evoae.errors import ConfigError
from lit_evoae.io import atomic_write_text
from lit_evoae.runs import latest_preemption_checkpoint
from lit_evoae.study.calibration import training_environment
from lit_evoae.study.folders import (
    clear_own_folder,
    make_own_folder,
    pack_folder,
    remove_checkpoints,
    remove_stale_temporaries,
    run_lock,
)
from lit_evoae.study.fragments import difference, shared_part
from lit_evoae.study.locks import STUDY_LOCK, Busy, all_locked, locked
from lit_evoae.study.results import (
    RunFailed,
    finished_runs,
    is_finished,
    read_plan_file,
    write_result,
)
from lit_evoae.study.sizing import pack_size
from lit_evoae.study.spec import Run, Study
from lit_evoae.study.watch import StudyProgress, generations_reached

#: The exit status of a pack process whose system is neither of lit_evoae's own (a user's
#: subclass of neither, lit_evoae.study.pack):
#: its trials then run alone.
NOT_PACKABLE = 3


@dataclass
class Outcome:
    finished: list[Run] = field(default_factory=list)
    skipped: list[Run] = field(default_factory=list)
    failed: list[tuple[Run, str]] = field(default_factory=list)


def run_study(
    study: Study,
    out: Path,
    workers: int | None,
    trials: int | None = None,
    wandb_project: str | None = None,
    pack: int | str = 1,
    checkpoint_minutes: float = 5.0,
    rerun: bool = False,
    keep_checkpoints: bool = False,
) -> Outcome:
    """Run every unfinished run of `study` under `out` with `workers` processes at a time.

    With `wandb_project`, each run also logs to Weights & Biases, grouped by variant. With
    `pack` > 1, up to `pack` runs that differ only in their pruning train as one batched
    process; the log and `study.json` say which runs went together. A pack checkpoints
    every `checkpoint_minutes` and at pre-emption signals; running the study again resumes
    an interrupted pack from its newest checkpoint. A finished run made with other settings
    stops the study before anything is written, unless `rerun` (then it is made again).
    A finished run keeps no checkpoint, unless `keep_checkpoints`. One runner at a time
    works in `out`: a second one stops with a line naming the first (`locks.Busy`).
    """
    out.mkdir(parents=True, exist_ok=True)
    with locked(out / STUDY_LOCK, f"study folder {out}"):
        return _run_locked(
            study,
            out,
            workers,
            trials,
            wandb_project,
            pack,
            checkpoint_minutes,
            rerun,
            keep_checkpoints,
        )


def _run_locked(
    study, out, workers, trials, wandb_project, pack, checkpoint_minutes, rerun, keep_checkpoints
) -> Outcome:
    runs = study.runs(trials)
    outcome = Outcome(skipped=finished_runs(runs, out, rerun))
    pending = [run for run in runs if run not in outcome.skipped]
    cores = usable_cores()
    workers = workers or max(1, cores // 2)
    threads = max(1, cores // workers)
    limits = pack_limits(pending, pack, study.name, workers, runs, threads)
    groups = packs(pending, limits)
    write_plan(
        study,
        runs,
        out,
        wandb_project=wandb_project,
        groups=groups,
    )
    lines = describe_packs(groups, limits) + (kinds_apart(pending) if pack != 1 else [])
    for line in lines:
        print(f"{study.name}: {line}", flush=True)
    earlier = sum(generations_reached(group, out) for group in groups)  # resumed packs'
    with (
        ThreadPoolExecutor(max_workers=workers) as pool,
        StudyProgress(study.name, runs, outcome.skipped, earlier=earlier) as progress,
    ):
        futures = {
            pool.submit(
                run_group, group, out, threads, wandb_project, checkpoint_minutes, keep_checkpoints
            ): group
            for group in groups
        }
        waiting = set(futures)
        while waiting:
            ended, waiting = wait(waiting, timeout=progress.every, return_when=FIRST_COMPLETED)
            for future in ended:
                group = futures[future]
                try:
                    future.result()
                    outcome.finished.extend(group)
                    progress.settle(group)
                except RunFailed as error:
                    outcome.failed.extend((run, str(error)) for run in group)
                    progress.settle(group, failed=True)
            progress.update([futures[f] for f in waiting if f.running()], out)
    return outcome


def packs(runs: list[Run], limits: int | dict[tuple, int]) -> list[list[Run]]:
    """`runs` in packs, in plan order: runs share a pack when they differ only in their
    pruning (see `shared_part`), whichever variant they belong to; a pack holds at most
    `limits` runs (one number, or one per shared part)."""
    groups: list[list[Run]] = []
    open_packs: dict[tuple, list[Run]] = {}
    for run in runs:
        key = shared_part(run)
        limit = limits if isinstance(limits, int) else limits[key]
        group = open_packs.get(key)
        if group is None or len(group) >= limit:
            group = open_packs[key] = []
            groups.append(group)
        group.append(run)
    return groups


def pack_limits(
    runs: list[Run],
    pack: int | str,
    name: str,
    workers: int = 1,
    study_runs: list[Run] | None = None,
    threads: int = 1,
) -> dict[tuple, int]:
    """The largest pack for each kind of run (`shared_part`): `pack`, checked against the
    memory estimate, or with `auto` the size `sizing.pack_size` calibrates for `workers`
    packs of `threads` threads at once over the kind's runs in the study (`study_runs`,
    default `runs`); each kind's size is printed."""
    limits = {}
    kinds = collections.defaultdict(list)
    for run in study_runs or runs:
        kinds[shared_part(run)].append(run)
    with tempfile.TemporaryDirectory() as scratch:
        for run in runs:
            key = shared_part(run)
            if key in limits:
                continue
            if pack == 1:
                limits[key] = 1
                continue
            limits[key], line = pack_size(kinds[key], pack, Path(scratch), workers, threads)
            print(f"{name}: {line} (runs like {run.key})", flush=True)
    return limits


def describe_packs(groups: list[list[Run]], limits: int | dict[tuple, int]) -> list[str]:
    """One line per pack that holds more than one run: its runs, and why it is that size."""
    lines = []
    for number, group in enumerate(groups):
        size = limits if isinstance(limits, int) else limits[shared_part(group[0])]
        if size == 1:
            continue
        variants = sorted({run.variant for run in group})
        reason = (
            f"full (at most {size})"
            if len(group) == size
            else f"{len(group)} left of the runs that share everything but their pruning"
        )
        lines.append(f"pack {number}: {len(group)} runs of {', '.join(variants)}; {reason}")
    return lines


def kinds_apart(runs: list[Run]) -> list[str]:
    """A line for each kind of run (`shared_part`) after the first, saying in what it
    differs from the first: why their runs train in separate packs."""
    kinds: dict[tuple, Run] = {}
    for run in runs:
        kinds.setdefault(shared_part(run), run)
    firsts = list(kinds.values())
    return [
        f"runs like {run.key} pack apart from runs like {firsts[0].key}: they differ in "
        f"{difference(run, firsts[0])}"
        for run in firsts[1:]
    ]


def usable_cores() -> int:
    """The cores this process may run on (`taskset`, a SLURM allocation), not the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every OS
        return os.cpu_count() or 1


def run_group(
    runs: list[Run],
    out: Path,
    threads: int,
    wandb_project: str | None,
    checkpoint_minutes: float = 5.0,
    keep_checkpoints: bool = False,
) -> None:
    """One run alone, or a pack of trials as one process (its trials alone if not packable).
    A run another process is training fails here with a line naming that process."""
    try:
        if len(runs) > 1 and run_pack_process(
            runs, out, threads, checkpoint_minutes, wandb_project, keep_checkpoints
        ):
            return
        for run in runs:
            run_one(run, out, threads, wandb_project, keep_checkpoints)
    except Busy as error:
        raise RunFailed(str(error)) from error


def pack_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint an interrupted pack left in `folder`: its clock checkpoint or a
    pre-emption one (SIGTERM, SIGUSR1); None if it left none."""
    found = [
        path
        for path in (folder / keys.CLOCK_CHECKPOINT, latest_preemption_checkpoint([folder]))
        if path is not None and path.is_file()
    ]
    return max(found, key=lambda path: path.stat().st_mtime) if found else None


def run_pack_process(
    runs: list[Run],
    out: Path,
    threads: int,
    checkpoint_minutes: float = 5.0,
    wandb_project: str | None = None,
    keep_checkpoints: bool = False,
) -> bool:
    """Train `runs` as one batched process (lit_evoae.study.pack); False if their system
    cannot be packed, and they then run alone. It holds every run's lock while it trains."""
    what = f"the pack of {len(runs)} runs from {runs[0].key}"
    with all_locked([run_lock(run, out) for run in runs], what) as descriptors:
        return _run_pack_locked(
            runs, out, threads, checkpoint_minutes, wandb_project, keep_checkpoints, descriptors
        )


def _run_pack_locked(
    runs, out, threads, checkpoint_minutes, wandb_project, keep_checkpoints, descriptors
) -> bool:
    folder = pack_folder(runs[0], len(runs), out)
    for run in runs:  # a damaged result's leftovers; the pack's own state is in its folder
        clear_own_folder(run.folder(out))
    resume = pack_checkpoint(folder)
    if resume is None:
        clear_own_folder(folder)  # interrupted before its first checkpoint: start over
    else:
        remove_stale_temporaries(folder)
        print(
            f"resuming the pack of {len(runs)} runs from {runs[0].key} from {resume} "
            "(its log says which generation)",
            flush=True,
        )
    make_own_folder(folder)
    logging = folder / "logging.yaml"
    atomic_write_text(logging, yaml.safe_dump(logging_config(runs[0], folder, None)))
    spec = {
        "runs": [run.to_plan() for run in runs],
        "out": str(out),
        "folder": str(folder),
        "logging": str(logging),
        "resume": str(resume) if resume else None,
        "checkpoint_minutes": checkpoint_minutes,
        "wandb_project": wandb_project,
        "keep_checkpoints": keep_checkpoints,
    }
    atomic_write_text(folder / keys.PACK, json.dumps(spec, indent=1))
    environment = training_environment(threads)
    command = [sys.executable, "-m", "lit_evoae.study.pack", str(folder / keys.PACK)]
    log = folder / keys.LOG
    with log.open("a") as handle:
        status = subprocess.run(
            command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=environment,
            pass_fds=descriptors,  # the locks stay held while the pack lives
        )
    if status.returncode == NOT_PACKABLE:
        return False
    if status.returncode != 0:
        kept = pack_checkpoint(folder)  # a signal's stop, or a crash after a clock checkpoint
        then = f"; the same command resumes it from {kept.name}" if kept else ""
        raise RunFailed(f"the pack of {len(runs)} runs from {runs[0].key} failed{then}; see {log}")
    return True


@dataclass(frozen=True)
class Plan:
    out: Path
    runs: list[Run]
    wandb_project: str | None = None
    #: A SLURM submission with --pack: array task i trains the runs of task_packs[i].
    task_packs: list[list[int]] | None = None
    keep_checkpoints: bool = False


def write_plan(
    study: Study,
    runs: list[Run],
    out: Path,
    path: Path | None = None,
    wandb_project: str | None = None,
    groups: list[list[Run]] | None = None,
    task_packs: list[list[int]] | None = None,
    keep_checkpoints: bool = False,
) -> None:
    """The study's runs, in order, as `read_plan` reads them back (and the report groups them).

    It goes to `out/study.json` unless `path` says otherwise; runs write under `out`.
    `groups`: the runs as they train; each of more than one run is a pack, listed under
    `packs` by its runs' keys (`variant/trial_NNN`). A study run in parts (`--only`) keeps
    in study.json the runs its earlier commands planned, so `report` and `status` account
    for all of them, not the last command's alone.
    """
    path = path or out / keys.PLAN
    path.parent.mkdir(parents=True, exist_ok=True)
    command = {"set": [list(item) for item in study.sets], "only": list(study.only)}
    previous = read_plan_file(path)
    history = _history(previous)
    if not history or history[-1] != command:
        history.append(command)
    records = [run.to_plan() for run in runs]
    packs = [[run.key for run in group] for group in groups or [] if len(group) > 1]
    if path == out / keys.PLAN:  # not a SLURM submission's own plan
        now = {run.key for run in runs}
        earlier = [record for record in previous.get("runs", []) if _key(record) not in now]
        records = earlier + records
        listed = now | {_key(record) for record in earlier}
        packed_now = {key for pack in packs for key in pack}
        packs = [
            pack
            for pack in previous.get("packs", [])
            if set(pack) <= listed and not set(pack) & packed_now
        ] + packs
    plan = {
        "name": study.name,
        "out": str(out.resolve()),
        "wandb_project": wandb_project,
        "claims": [claim.to_plan() for claim in study.claims],
        "set": [list(item) for item in study.sets],
        "only": list(study.only),
        "runs": records,
        "packs": packs,
        "history": history,  # the --set and --only of every command that wrote here
        **({"task_packs": task_packs} if task_packs is not None else {}),
        **({"keep_checkpoints": True} if keep_checkpoints else {}),
    }
    atomic_write_text(path, json.dumps(plan, indent=1))


def _key(record: dict) -> str | None:
    """The `variant/trial_NNN` of a plan's run record; None for one that is not whole."""
    try:
        return Run.from_plan(record).key
    except (ConfigError, TypeError, ValueError):
        return None


def _history(plan: dict) -> list[dict]:
    if not plan:
        return []
    if "history" in plan:
        return plan["history"]
    return [{"set": plan.get("set", []), "only": plan.get("only", [])}]  # older plans


def read_plan(path: Path) -> Plan:
    try:
        plan = json.loads(path.read_text())
        return Plan(
            Path(plan["out"]),
            [Run.from_plan(record) for record in plan["runs"]],
            plan.get("wandb_project"),
            plan.get("task_packs"),
            bool(plan.get("keep_checkpoints", False)),
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"study plan {path} cannot be read ({error!r}); write it "
            "again with lit-evoae-study run or slurm"
        ) from error


def run_one(
    run: Run,
    out: Path,
    threads: int = 1,
    wandb_project: str | None = None,
    keep_checkpoints: bool = False,
) -> dict | None:
    """Train `run` alone (holding its lock) and write its result; None if another process
    finished it meanwhile."""
    with locked(run_lock(run, out), run.key) as descriptor:
        if is_finished(run, out):
            return None
        result = _run_one_locked(run, out, threads, wandb_project, descriptor)
        if not keep_checkpoints:
            remove_checkpoints(run.folder(out))
        return result


def _run_one_locked(run, out, threads, wandb_project, descriptor) -> dict:
    folder = run.folder(out)
    resume = latest_preemption_checkpoint([folder])
    if resume is None:
        clear_own_folder(folder)  # an interrupted attempt with nothing to resume from
    else:
        remove_stale_temporaries(folder)
    make_own_folder(folder)
    logging = folder / "logging.yaml"
    atomic_write_text(logging, yaml.safe_dump(logging_config(run, folder, wandb_project)))
    command = [sys.executable, "-m", "lit_evoae.cli", "fit", *fit_arguments(run, folder, logging)]
    command += ["--ckpt_path", str(resume)] if resume else []
    environment = training_environment(threads)
    start = time.perf_counter()
    log = folder / keys.LOG
    with log.open("a") as handle:
        status = subprocess.run(
            command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=environment,
            pass_fds=(descriptor,),  # the lock stays held while the run lives
        )
    if status.returncode != 0:
        raise RunFailed(f"{run.variant} trial {run.trial} failed; see {log}")
    return write_result(run, out, round(time.perf_counter() - start, 2))


def fit_arguments(run: Run, folder: Path, logging: Path) -> list[str]:
    """`lit-evoae fit` arguments of `run` writing everything into `folder` (where a
    pre-empted attempt leaves its hpc_ckpt_N.ckpt), with the loggers of `logging`."""
    options = {
        "--config": logging,
        "--trainer.default_root_dir": folder,
        "--checkpoint.dirpath": folder / "checkpoints",
        # Its log then gets a line about every twentieth of the run (GenerationLines):
        # what `status` and a study's progress read.
        "--trainer.enable_progress_bar": "true",
    }
    return [*run.arguments(), *(str(item) for pair in options.items() for item in pair)]


def logging_config(run: Run, folder: Path, wandb_project: str | None) -> dict:
    """The run's loggers: CSV into its folder (the result is read from it), optionally W&B."""
    csv_logger = {
        "class_path": "lit_evoae.loggers.ResumableCSVLogger",
        "init_args": {"save_dir": str(folder), "name": "", "version": ""},
    }
    if wandb_project is None:
        return {"trainer": {"logger": csv_logger}}
    wandb_logger = {
        "class_path": "pytorch_lightning.loggers.WandbLogger",
        "init_args": {
            "project": wandb_project,
            "group": run.variant,  # trials of one variant side by side
            "name": f"{run.variant}/trial_{run.trial:03d}",
            "tags": [f"{axis}={name}" for axis, name in run.choices],
            "save_dir": str(folder),
        },
    }
    return {"trainer": {"logger": [csv_logger, wandb_logger]}}
