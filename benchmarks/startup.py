"""How long `lit-evoae` takes to say something: the full parser against the stored copy.

Each command runs as a fresh process, REPEATS times, and the median wall time is printed:
once with an empty cache folder (the full LightningCLI start, which also writes the copy)
and once with the copy in place (cli_cache answers). `python -X importtime` gives what
the console entry and the full CLI module import, side by side.

    python benchmarks/startup.py
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 3
COMMANDS = {
    "fit --help": ["fit", "--help"],
    "unknown key": ["fit", "--config", "configs/canonical.yaml", "--trainer.max_epocs", "3"],
    "unknown subcommand": ["fitt"],
    "bad value": ["fit", "--config", "configs/canonical.yaml", "--pruning.probability", "2"],
}


def median_seconds(command: list[str], cache: Path, keep_copy: bool) -> float:
    """Median wall time of `command` with XDG_CACHE_HOME=`cache`; without `keep_copy`, the
    copy the previous run stored is removed first, so every run is a full start."""
    times = []
    environment = {**os.environ, "XDG_CACHE_HOME": str(cache), "COLUMNS": "100"}
    for _ in range(REPEATS):
        for old in [] if keep_copy else cache.glob("lit_evoae/cli-*.json"):
            old.unlink()
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=environment, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def import_seconds(module: str) -> float:
    """Cumulative import time of `module` in a fresh interpreter (`-X importtime`)."""
    shown = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    line = re.compile(rf"^import time:\s+\d+ \|\s+(\d+) \| {re.escape(module)}$")
    total = [int(m.group(1)) for text in shown.stderr.splitlines() if (m := line.match(text))]
    return total[-1] / 1e6


def main() -> None:
    program = str(Path(sys.executable).with_name("lit-evoae"))
    print(f"machine: {os.cpu_count()} cores, median of {REPEATS} runs each", flush=True)
    for module in ("lit_evoae.entry", "lit_evoae.cli", "torch"):
        print(f"import {module}: {import_seconds(module):.2f} s", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        cache = Path(scratch)
        for name, words in COMMANDS.items():
            full = median_seconds([program, *words], cache, keep_copy=False)
            quick = median_seconds([program, *words], cache, keep_copy=True)
            print(
                f"startup {name}: full parser {full:.2f} s, from the copy {quick:.2f} s "
                f"({full / quick:.0f}x)",
                flush=True,
            )


if __name__ == "__main__":
    main()
