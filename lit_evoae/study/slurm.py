"""Run a study as SLURM job arrays: one array task per unfinished (variant, trial).

Each submission gets a folder `<out>/slurm/<UTC time>/` holding the plan the tasks read
(so editing the study file later cannot change what a queued task runs), the rendered
sbatch scripts and the tasks' logs. Runs use the same folders and `result.json` as a
local study, so `run`, `slurm` and `report` can be mixed on one output folder.
"""

import os
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from lit_evoae.errors import ConfigError, UserError
from lit_evoae.study.results import finished_runs, is_finished
from lit_evoae.study.runner import pack_limits, packs, read_plan, run_group, run_one, write_plan
from lit_evoae.study.spec import Study

#: The job-array template in a checkout; `--template` names another.
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2] / "slurm" / "study_array.sbatch"
#: SLURM's default MaxArraySize: array task ids must stay below it.
DEFAULT_MAX_ARRAY_SIZE = 1001
PLACEHOLDER = re.compile(r"@\{(\w+)\}")


@dataclass(frozen=True)
class Submission:
    folder: Path
    scripts: list[Path]
    commands: list[list[str]]
    job_ids: list[str]
    pending: int  # unfinished runs
    tasks: int  # array tasks: one per run, or one per pack


def render(template: str, values: dict[str, object]) -> str:
    """Fill the template's @{name} fields; a field with no value is an error, not a blank."""
    missing = sorted(set(PLACEHOLDER.findall(template)) - set(values))
    if missing:
        raise ConfigError(f"the sbatch template has fields nothing fills in: {missing}")
    return PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), template)


def array_chunks(indices: list[int], max_size: int) -> list[tuple[int, str]]:
    """(offset, --array spec) pairs covering the sorted `indices`, every id below `max_size`."""
    chunks = []
    start = 0
    while start < len(indices):
        offset = indices[start]
        end = start
        while end < len(indices) and indices[end] - offset < max_size:
            end += 1
        chunks.append((offset, _ranges([index - offset for index in indices[start:end]])))
        start = end
    return chunks


def _ranges(ids: list[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> '0-2,5,7-8', SLURM's array syntax."""
    parts, first = [], 0
    for position in range(1, len(ids) + 1):
        if position == len(ids) or ids[position] != ids[position - 1] + 1:
            low, high = ids[first], ids[position - 1]
            parts.append(str(low) if low == high else f"{low}-{high}")
            first = position
    return ",".join(parts)


def max_array_size() -> int:
    """The cluster's MaxArraySize (from `scontrol show config`), or SLURM's default."""
    try:
        shown = subprocess.run(
            ["scontrol", "show", "config"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return DEFAULT_MAX_ARRAY_SIZE
    found = re.search(r"^MaxArraySize\s*=\s*(\d+)", shown, re.MULTILINE)
    return int(found.group(1)) if found else DEFAULT_MAX_ARRAY_SIZE


def submit_study(
    study: Study,
    out: Path,
    trials: int | None = None,
    cpus_per_task: int = 2,
    time_limit: str = "04:00:00",
    parallel: int | None = None,
    sbatch_options: str = "",
    template: Path = DEFAULT_TEMPLATE,
    wandb_project: str | None = None,
    dry_run: bool = False,
    pack: int | str = 1,
    rerun: bool = False,
    keep_checkpoints: bool = False,
) -> Submission:
    """Render one array script per chunk of unfinished runs and submit it (unless dry_run).
    With `pack` > 1 (or auto), an array task trains a pack of runs as the local runner does
    (`packs`), and a requeued task resumes its pack from its newest checkpoint."""
    if not template.is_file():
        raise ConfigError(f"sbatch template {template} does not exist; pass --template")
    out = out.resolve()
    runs = study.runs(trials)
    done = finished_runs(runs, out, rerun)
    pending = [index for index, run in enumerate(runs) if run not in done]
    task_packs, unfinished, groups = None, len(pending), []
    if pack != 1:
        waiting = [runs[index] for index in pending]
        groups = packs(waiting, pack_limits(waiting, pack, study.name))
        position = {run.key: index for index, run in enumerate(runs)}
        task_packs = [[position[run.key] for run in group] for group in groups]
        pending = list(range(len(task_packs)))  # one array task per pack
    # The packs too, as the local runner writes them: `status` reads a packed run's
    # generation from its pack's log.
    write_plan(study, runs, out, wandb_project=wandb_project, groups=groups)
    folder = out / "slurm" / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    plan = folder / "plan.json"
    write_plan(
        study,
        runs,
        out,
        plan,
        wandb_project,
        task_packs=task_packs,
        keep_checkpoints=keep_checkpoints,
    )
    scripts, commands, job_ids = [], [], []
    throttle = f"%{parallel}" if parallel else ""
    size = max_array_size() if pending else DEFAULT_MAX_ARRAY_SIZE
    text = template.read_text()
    for number, (offset, array) in enumerate(array_chunks(pending, size)):
        values = {
            "job_name": study.name,
            "array": array + throttle,
            "offset": offset,
            "cpus_per_task": cpus_per_task,
            "time": time_limit,
            "logs": folder / "logs",
            "workdir": Path.cwd(),
            "python": sys.executable,
            "plan": plan,
        }
        script = folder / f"array_{number:03d}.sbatch"
        script.write_text(render(text, values))
        command = ["sbatch", "--parsable", *shlex.split(sbatch_options), str(script)]
        scripts.append(script)
        commands.append(command)
        if not dry_run:
            job_ids.append(_sbatch(command))
    return Submission(folder, scripts, commands, job_ids, unfinished, len(pending))


def _sbatch(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except FileNotFoundError as error:
        raise UserError(
            "sbatch was not found: run this on a SLURM login node, "
            "or use --dry-run to only write the scripts"
        ) from error
    if done.returncode != 0:
        raise UserError(f"{shlex.join(command)} failed: {done.stderr.strip()}")
    return done.stdout.strip().split(";")[0]  # --parsable prints "id" or "id;cluster"


def run_task(plan_path: Path, index: int) -> dict | None:
    """Run the plan's task `index` (an array task): its run, or with --pack its pack; None
    if it had already finished."""
    plan = read_plan(plan_path)
    tasks = plan.task_packs if plan.task_packs is not None else plan.runs
    if not 0 <= index < len(tasks):
        raise ConfigError(f"--index {index} is outside the plan {plan_path} (0..{len(tasks) - 1})")
    runs = [plan.runs[i] for i in plan.task_packs[index]] if plan.task_packs else [tasks[index]]
    runs = [run for run in runs if not is_finished(run, plan.out)]
    if not runs:
        return None
    # SLURM's warning signal reaches every process of the step. The run's own process
    # (Lightning) checkpoints and requeues on it; this parent must merely survive it.
    signal.signal(signal.SIGUSR1, lambda *_: None)
    threads = max(1, int(os.environ.get("SLURM_CPUS_PER_TASK", "1")))
    if plan.task_packs is None:
        return run_one(runs[0], plan.out, threads, plan.wandb_project, plan.keep_checkpoints)
    run_group(runs, plan.out, threads, plan.wandb_project, keep_checkpoints=plan.keep_checkpoints)
    return {"finished": [run.key for run in runs]}
