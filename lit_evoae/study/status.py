"""Where each planned run of a study stands, read from its folder without disturbing it.

A run is `finished` (a whole result.json), `running` (a live process holds its lock; with the
generation its log last reported), `damaged` (a result.json that is not whole; it is made
again), `failed` (a log but no result: it failed or was stopped; the log says which) or
`missing` (nothing of it under --out). `report` counts these per variant and `lit-evoae-study
status` lists them; neither takes a lock nor writes a file.
"""

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from lit_evoae import keys
from lit_evoae.study.folders import pack_folder, run_lock
from lit_evoae.study.locks import is_locked
from lit_evoae.study.results import checked_result, read_plan_file
from lit_evoae.study.spec import Run

STATES = ("finished", "running", "failed", "damaged", "missing")
_GENERATION = re.compile(rb"generation (\d+)/(\d+)")


@dataclass(frozen=True)
class RunState:
    run: Run
    state: str  # one of STATES
    detail: str = ""  # the log to read, what is damaged, or the generation reached


def planned_runs(out: Path) -> tuple[list[Run], dict[str, Path]]:
    """The runs of `out`'s plan, and for each packed run the folder of its pack."""
    plan = read_plan_file(out / keys.PLAN)
    runs = [Run.from_plan(record) for record in plan.get("runs", [])]
    by_key = {run.key: run for run in runs}
    packs = {}
    for members in plan.get("packs", []):
        first = by_key.get(members[0]) if members else None
        if first is not None:
            packs.update(dict.fromkeys(members, pack_folder(first, len(members), out)))
    return runs, packs


def run_states(out: Path) -> list[RunState]:
    """The state of every run `out`'s study.json plans, in plan order."""
    runs, packs = planned_runs(out)
    return [state_of(run, out, packs.get(run.key)) for run in runs]


def state_of(run: Run, out: Path, pack: Path | None = None) -> RunState:
    folder = run.folder(out)
    record, damage = checked_result(folder)
    if record is not None:
        return RunState(run, "finished")
    log = pack / keys.LOG if pack is not None and (pack / keys.LOG).is_file() else folder / keys.LOG
    if is_locked(run_lock(run, out)):
        reached = last_generation(log)
        detail = "generation {}/{}".format(*reached) if reached else "starting"
        return RunState(run, "running", detail)
    if damage is not None:
        return RunState(run, "damaged", damage)
    if log.is_file():
        return RunState(run, "failed", f"failed or was stopped; see {log}")
    return RunState(run, "missing")


def last_generation(log: Path) -> tuple[int, int] | None:
    """(generations done, total) of the last progress line of a run's or pack's log
    (`GenerationLines`); None before its first."""
    try:
        with log.open("rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - 65536))
            found = _GENERATION.findall(handle.read())
    except OSError:
        return None
    return (int(found[-1][0]), int(found[-1][1])) if found else None


def counts(states: list[RunState]) -> Counter:
    return Counter(state.state for state in states)


def status_lines(out: Path) -> list[str]:
    """What `lit-evoae-study status` prints: a summary, then every run not finished."""
    states = run_states(out)
    if not states:
        return [f"{out}: no study plan (study.json) here; start one with lit-evoae-study run"]
    tally = counts(states)
    summary = ", ".join(f"{tally[name]} {name}" for name in STATES if tally[name])
    lines = [f"{out}: {len(states)} runs planned: {summary}"]
    for state in states:
        if state.state != "finished":
            detail = f": {state.detail}" if state.detail else ""
            lines.append(f"  {state.run.key} {state.state}{detail}")
    return lines
