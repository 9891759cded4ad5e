"""A study's progress in generations: trial-generations done over all its runs' total, with
the rate and the time left; a bar in a terminal, a line about every twentieth in a log.

A pack trains many runs in one process for hours, so a count of finished runs stands still
and then jumps. The runner instead reads the generation each running pack or run last wrote
to its log (`GenerationLines`), every `POLL_SECONDS`, without disturbing it.
"""

import sys
import time
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from lit_evoae import keys
from lit_evoae.callbacks.progress import duration
from lit_evoae.study.folders import pack_folder
from lit_evoae.study.spec import Run
from lit_evoae.study.status import last_generation

#: How often the runner reads the logs of what is running.
POLL_SECONDS = 5.0
#: A log gets a line each time another this share of the study's generations is done.
LINE_EVERY = 1 / 20


def generations_reached(group: list[Run], out: Path) -> int:
    """Trial-generations a running group has done, from its logs: a pack's log counts for
    each of its runs; runs alone (or a pack's runs that could not be packed) count their own."""
    if len(group) > 1:
        reached = last_generation(pack_folder(group[0], len(group), out) / keys.LOG)
        if reached is not None:
            return min(reached[0], group[0].generations()) * len(group)
    done = 0
    for run in group:
        reached = last_generation(run.folder(out) / keys.LOG)
        done += min(reached[0], run.generations()) if reached else 0
    return done


def _key(group: list[Run]) -> tuple[str, ...]:
    return tuple(run.key for run in group)


class StudyProgress:
    """Generations done over the total of a study's runs; `settle` a group when it ends,
    `update` with the groups running now."""

    def __init__(
        self,
        name: str,
        runs: list[Run],
        done: list[Run],
        stream: TextIO | None = None,
        earlier: int = 0,
    ):
        """`done`: the runs finished before this command; `earlier`: the generations that the
        groups about to run had reached before it (a resumed pack's), done but not by it, so
        they count in the progress and not in the rate."""
        self.name = name
        self.every = POLL_SECONDS  # read here, so that a test can set it
        self.stream = stream or sys.stderr
        self.total = sum(run.generations() for run in runs)
        self.settled = sum(run.generations() for run in done)
        self.initial = self.settled + earlier
        self.runs, self.finished, self.failed = len(runs), len(done), 0
        self.shown = self.initial
        self.credited: dict[tuple[str, ...], int] = {}  # a running group's, at the last update
        self.started = time.monotonic()
        self.next_line = self.initial
        terminal = self.stream.isatty()
        self.bar = tqdm(
            total=self.total,
            initial=self.initial,
            desc=name,
            unit="gen",
            disable=not terminal,
            file=self.stream,
            dynamic_ncols=True,
        )
        self.lines = None if terminal else sys.stdout

    def settle(self, group: list[Run], failed: bool = False) -> None:
        """A group ended: its generations count as done, or, if it failed, leave the total
        and, with what it had reached, the count done (which read 800/0 after a failure)."""
        generations = sum(run.generations() for run in group)
        if failed:
            self.total -= generations
            self.failed += len(group)
            self.shown -= self.credited.pop(_key(group), 0)
            self.bar.total, self.bar.n = self.total, self.shown
        else:
            self.settled += generations
            self.finished += len(group)

    def update(self, running: list[list[Run]], out: Path) -> None:
        self.credited = {_key(group): generations_reached(group, out) for group in running}
        done = self.settled + sum(self.credited.values())
        self.bar.set_postfix_str(self._runs(), refresh=False)
        self.bar.update(max(0, done - self.shown))
        self.shown = max(self.shown, done)
        if self.lines is not None and (self.shown >= self.next_line or self.shown >= self.total):
            print(self.line(), file=self.lines, flush=True)
            step = max(1, round(LINE_EVERY * (self.total - self.initial)))
            self.next_line = self.shown + step if self.shown < self.total else float("inf")

    def line(self) -> str:
        done, total = self.shown, self.total
        parts = [f"{self.name}: generations {done:,}/{total:,} ({done / max(total, 1):.0%})"]
        elapsed = time.monotonic() - self.started
        rate = (done - self.initial) / elapsed if elapsed > 0 else 0.0
        if rate > 0:
            parts.append(f"{rate:.2f} trial-generations/s")
            if total > done:
                parts.append(f"about {duration((total - done) / rate)} left")
        parts.append(self._runs())
        return " · ".join(parts)

    def _runs(self) -> str:
        failed = f", {self.failed} failed" if self.failed else ""
        return f"runs {self.finished}/{self.runs} finished{failed}"

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> "StudyProgress":
        return self

    def __exit__(self, *_) -> None:
        self.close()
