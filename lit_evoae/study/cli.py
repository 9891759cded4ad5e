"""`lit-evoae-study`: run a study file's variants x trials here or on SLURM, then report."""

import argparse
import json
import sys
from pathlib import Path

from lit_evoae import keys
from lit_evoae.errors import ConfigError, UserError, unwritable_line
from lit_evoae.study.spec import load_study


def main(args: list[str] | None = None) -> None:
    parser = _parser()
    options = parser.parse_args(args)
    for name in ("workers", "trials", "cpus_per_task", "parallel"):
        if getattr(options, name, None) is not None and getattr(options, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")
    if getattr(options, "index", 0) < 0:
        parser.error("--index must be non-negative")
    commands = {
        "run": _run,
        "slurm": _slurm,
        "task": _task,
        "report": _report,
        "status": _status,
        "plan": _plan,
    }
    try:
        commands[options.command](options)
    except (UserError, OSError) as error:
        message = error if isinstance(error, UserError) else unwritable_line(error, "--out")
        if message is None:
            raise
        print(f"lit-evoae-study: error: {message}", file=sys.stderr)
        sys.exit(2)


def pack_argument(value: str) -> int | str:
    """--pack: a positive number of runs, or auto."""
    if value == "auto":
        return value
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or auto, got {value!r}")
    return number


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lit-evoae-study", description=__doc__, allow_abbrev=False
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def study_command(name: str, help: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help, allow_abbrev=False)
        command.add_argument("--study", required=True, type=Path, help="study file (YAML)")
        command.add_argument("--out", required=True, type=Path, help="output folder of the study")
        command.add_argument("--trials", type=int, help="trials per variant (default: the study's)")
        command.add_argument(
            "--wandb",
            nargs="?",
            const="",
            metavar="PROJECT",
            help="also log every run to Weights & Biases, grouped by variant "
            "(project: PROJECT, default the study's name)",
        )
        command.add_argument(
            "--set",
            action="append",
            metavar="KEY=VALUE",
            default=[],
            help="override a config key in every run, e.g. --set "
            "trainer.max_epochs=20 (repeatable; in study.json)",
        )
        command.add_argument(
            "--rerun",
            action="store_true",
            help="make again the finished runs whose recorded settings differ from what this "
            "command asks for (without it, such a run stops the command)",
        )
        command.add_argument(
            "--keep-checkpoints",
            action="store_true",
            help="keep each finished run's checkpoints (by default a finished run keeps "
            "best_autoencoder.pt, metrics.csv and result.json, and no checkpoint)",
        )
        command.add_argument(
            "--only",
            action="append",
            metavar="PATTERN",
            default=[],
            help="run only the variants matching PATTERN (shell-style, e.g. "
            "'random_*'; repeatable)",
        )
        return command

    run = study_command("run", "run the study's unfinished runs on this machine")
    run.add_argument(
        "--workers", type=int, default=None, help="runs at a time (default: half the usable cores)"
    )
    run.add_argument(
        "--pack",
        type=pack_argument,
        default=1,
        metavar="N|auto",
        help="train up to N runs as one batched process: runs that differ only in their "
        "pruning (operator, schedule, probability, seed) share a pack, in either regime; each "
        "trial draws what it draws alone; auto: the largest pack that fits in memory, "
        "at least one pack per worker (default 1: each run alone)",
    )
    run.add_argument(
        "--pack-checkpoint-minutes",
        type=float,
        default=5.0,
        metavar="M",
        help="a pack writes a checkpoint every M minutes (0: every generation) and at "
        "SIGTERM/SIGUSR1; running the same command again resumes it (default 5)",
    )
    slurm = study_command("slurm", "submit the study's unfinished runs as a SLURM job array")
    slurm.add_argument("--cpus-per-task", type=int, default=2, help="CPUs per run (default 2)")
    slurm.add_argument(
        "--pack",
        type=pack_argument,
        default=1,
        metavar="N|auto",
        help="one array task per pack of up to N runs, as `run --pack` packs them; a requeued "
        "task resumes its pack (default 1: one task per run)",
    )
    slurm.add_argument("--time", default="04:00:00", help="time limit per run (default 04:00:00)")
    slurm.add_argument("--parallel", type=int, help="most array tasks running at once (%%N)")
    slurm.add_argument(
        "--sbatch",
        default="",
        metavar="OPTIONS",
        help='more sbatch options, written --sbatch="--partition=gpu --account=me"',
    )
    slurm.add_argument(
        "--template",
        type=Path,
        help="job-array template (default: slurm/study_array.sbatch of this checkout)",
    )
    slurm.add_argument(
        "--dry-run",
        action="store_true",
        help="write and print the scripts and sbatch commands, submit nothing",
    )
    task = commands.add_parser("task", help="run one run of a plan (what an array task calls)")
    task.add_argument("--plan", required=True, type=Path, help="plan.json of a submission")
    task.add_argument("--index", required=True, type=int, help="the run's index in the plan")
    report = commands.add_parser("report", help="tables, tests and plots of a study's results")
    report.add_argument("out", type=Path, help="the study's output folder")
    report.add_argument(
        "--study",
        type=Path,
        help="judge the claims of this study file instead of those its study.json "
        "recorded (claims may be revised after the runs)",
    )
    status = commands.add_parser(
        "status", help="each planned run's state: finished, running (its generation), failed"
    )
    status.add_argument("--out", required=True, type=Path, help="the study's output folder")
    plan = commands.add_parser(
        "plan",
        help="the variants, runs and packs `run` would make, and their projected cost here",
        allow_abbrev=False,
    )
    plan.add_argument("--study", required=True, type=Path, help="study file (YAML)")
    plan.add_argument("--trials", type=int, help="trials per variant (default: the study's)")
    plan.add_argument("--pack", type=pack_argument, default=1, metavar="N|auto", help="as run's")
    plan.add_argument("--workers", type=int, default=None, help="as run's")
    plan.add_argument("--set", action="append", metavar="KEY=VALUE", default=[], help="as run's")
    plan.add_argument("--only", action="append", metavar="PATTERN", default=[], help="as run's")
    plan.add_argument(
        "--out", type=Path, help="read the rates of the runs already finished in this folder"
    )
    plan.add_argument(
        "--calibrate",
        action="store_true",
        help="time a few generations of one pack of each kind of run whose rate is not known",
    )
    return parser


def _load(options):
    study = load_study(options.study).narrowed(options.only, options.set)
    project = None if options.wandb is None else (options.wandb or study.name)
    return study, project


def _run(options) -> None:
    from lit_evoae.study.runner import run_study  # deferred: it imports Lightning and torch

    study, project = _load(options)
    if options.pack_checkpoint_minutes < 0:
        raise ConfigError(
            f"--pack-checkpoint-minutes must be >= 0, got {options.pack_checkpoint_minutes}"
        )
    outcome = run_study(
        study,
        options.out,
        options.workers,
        options.trials,
        project,
        options.pack,
        options.pack_checkpoint_minutes,
        options.rerun,
        options.keep_checkpoints,
    )
    print(
        f"{len(outcome.finished)} runs finished, {len(outcome.skipped)} already done, "
        f"{len(outcome.failed)} failed; results in {options.out}"
    )
    for message in dict.fromkeys(message for _, message in outcome.failed):  # a pack's: once
        print(f"  {message}", file=sys.stderr)
    if outcome.failed:
        sys.exit(1)


def _slurm(options) -> None:
    from lit_evoae.study.slurm import DEFAULT_TEMPLATE, submit_study  # deferred: Lightning

    study, project = _load(options)
    submission = submit_study(
        study,
        options.out,
        options.trials,
        cpus_per_task=options.cpus_per_task,
        time_limit=options.time,
        parallel=options.parallel,
        sbatch_options=options.sbatch,
        template=options.template or DEFAULT_TEMPLATE,
        wandb_project=project,
        dry_run=options.dry_run,
        pack=options.pack,
        rerun=options.rerun,
        keep_checkpoints=options.keep_checkpoints,
    )
    if not submission.pending:
        print(f"every run of {study.name} has finished; nothing to submit")
        return
    for script, command in zip(submission.scripts, submission.commands, strict=True):
        if options.dry_run:
            print(f"# {script}\n{script.read_text()}")
        print(("would run: " if options.dry_run else "ran: ") + " ".join(command))
    jobs = ", ".join(submission.job_ids) or "none (dry run)"
    print(
        f"{submission.pending} runs in {submission.tasks} array task(s) of "
        f"{len(submission.scripts)} array(s); jobs: {jobs}; "
        f"logs in {submission.folder / 'logs'}; results in {options.out}"
    )


def _task(options) -> None:
    from lit_evoae.study.slurm import run_task  # deferred: it imports Lightning and torch

    result = run_task(options.plan, options.index)
    print("already finished" if result is None else json.dumps(result))


def _report(options) -> None:
    from lit_evoae.study.report import write_report  # deferred: scipy and matplotlib

    claims = None if options.study is None else load_study(options.study).claims
    folder = write_report(options.out, claims)
    print((folder / keys.REPORT_MD).read_text())
    print(f"tables and plots in {folder}")


def _plan(options) -> None:
    from lit_evoae.study.plan import plan_lines, plan_study  # deferred: Lightning and torch

    study = load_study(options.study).narrowed(options.only, options.set)
    kinds, workers, threads = plan_study(
        study, options.trials, options.pack, options.workers, options.calibrate, options.out
    )
    print("\n".join(plan_lines(study, kinds, workers, threads)))


def _status(options) -> None:
    from lit_evoae.study.status import status_lines  # reads files only; takes no lock

    print("\n".join(status_lines(options.out)))


if __name__ == "__main__":
    main()
