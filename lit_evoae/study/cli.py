"""`lit-evoae-study`: run a study file's variants x trials, then report on the results."""

import argparse
import os
import sys
from pathlib import Path

from lit_evoae.errors import UserError
from lit_evoae.study.runner import run_study
from lit_evoae.study.spec import load_study


def main(args: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lit-evoae-study", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the study's unfinished runs on this machine")
    run.add_argument("--study", required=True, type=Path, help="study file (YAML)")
    run.add_argument("--out", required=True, type=Path, help="output folder of the study")
    run.add_argument("--trials", type=int, help="trials per variant (default: the study's)")
    run.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                     help="runs at a time (default: half the cores)")  # fmt: skip
    report = commands.add_parser("report", help="tables, tests and plots of a study's results")
    report.add_argument("out", type=Path, help="the study's output folder")
    options = parser.parse_args(args)
    if options.command == "report":
        _report(options.out)
        return
    if options.workers < 1 or (options.trials is not None and options.trials < 1):
        parser.error("--workers and --trials must be positive")
    try:
        study = load_study(options.study)
        outcome = run_study(study, options.out, options.workers, options.trials)
    except UserError as error:
        print(f"lit-evoae-study: error: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"{len(outcome.finished)} runs finished, {len(outcome.skipped)} already done, "
          f"{len(outcome.failed)} failed; results in {options.out}")  # fmt: skip
    for _, message in outcome.failed:
        print(f"  {message}", file=sys.stderr)
    if outcome.failed:
        sys.exit(1)


def _report(out: Path) -> None:
    from lit_evoae.study.report import write_report

    try:
        folder = write_report(out)
    except UserError as error:
        print(f"lit-evoae-study: error: {error}", file=sys.stderr)
        sys.exit(2)
    print((folder / "report.md").read_text())
    print(f"tables and plots in {folder}")


if __name__ == "__main__":
    main()
