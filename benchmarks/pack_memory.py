"""`--pack auto`'s memory estimate of a pack against the pack's measured peak resident memory.

For each regime and operator, that operator's runs are calibrated as `--pack auto` does
for a study of them (lit_evoae.study.calibration, packs of 1, 4, 16, ... up to the
largest size below, a fresh cache), and its estimate is read for each size. (Each
operator alone, as `--pack auto` would calibrate a study of that operator: it calibrates
on the study's own runs of a kind, so a pack has the composition it measured.)
Then each pack is built and trained for the calibration's generations in a fresh
process, by the calibration's own `measure` (set up as the runner's pack processes are,
one thread; its peak resident set, VmHWM, counts memory freed but kept by the
allocator). One line per pack, then the ratio farthest from 1:
  pack <study> <regime> <operator> T=<T>: estimate E MiB, measured peak P MiB, ratio E/P
  pack memory estimate / measured peak: X  (worst of N packs; min M, max X)

    python benchmarks/pack_memory.py [--study pruning_demo] [--sizes 1 16 128]
                                     [--regimes coevolution canonical] [--operators ...]
"""

import argparse
import os
import tempfile
from pathlib import Path

import torch

from lit_evoae.population.memory import available_bytes
from lit_evoae.study.calibration import TIMED, WARM_UP, calibrated, measure
from lit_evoae.study.sizing import AUTO_SHARE
from lit_evoae.study.spec import load_study

HERE = Path(__file__).resolve().parent
STUDIES = HERE.parent / "configs" / "studies"


def runs_of(study_name: str, regime: str, operator: str | None, size: int):
    """`size` trials of the study's runs of `regime` and `operator` (every operator: None),
    trained for the calibration's generations."""
    study = load_study(STUDIES / f"{study_name}.yaml")
    study = study.narrowed(sets=[f"trainer.max_epochs={WARM_UP + TIMED}"])
    return [
        run
        for run in study.runs(size)
        if dict(run.choices).get("regime") == regime
        and operator in (None, dict(run.choices)["pruning"])
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="pruning_demo")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 16, 128])
    parser.add_argument("--regimes", nargs="+", default=["coevolution", "canonical"])
    parser.add_argument("--operators", nargs="+", default=None)
    options = parser.parse_args()
    study = load_study(STUDIES / f"{options.study}.yaml")
    operators = options.operators or list(
        dict.fromkeys(dict(run.choices)["pruning"] for run in study.runs(1))
    )
    largest = max(options.sizes)
    print(f"threads: 1  study: {options.study}, {WARM_UP + TIMED} generations", flush=True)
    ratios = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        os.environ["XDG_CACHE_HOME"] = str(scratch / "cache")  # calibrate afresh
        for regime in options.regimes:
            for operator in operators:
                kind = runs_of(options.study, regime, operator, largest)
                free = available_bytes(torch.device("cpu"))
                budget = int(AUTO_SHARE * free)
                calibration = calibrated(kind, largest, budget, 1, scratch / f"{regime}_{operator}")
                for size in options.sizes:
                    runs = runs_of(options.study, regime, operator, size)
                    folder = scratch / f"{regime}_{operator}_{size}"
                    estimate = calibration.bytes_for(size)
                    peak = measure(runs, 1, folder).peak  # a fresh process, as calibration's
                    ratios.append(estimate / peak)
                    print(
                        f"pack {options.study} {regime} {operator} T={size}: estimate "
                        f"{estimate / 2**20:.0f} MiB, measured peak {peak / 2**20:.0f} MiB, "
                        f"ratio {estimate / peak:.2f}",
                        flush=True,
                    )
    worst = max(ratios, key=lambda ratio: abs(ratio - 1))
    print(
        f"pack memory estimate / measured peak: {worst:.2f}  (farthest from 1 of {len(ratios)} "
        f"packs; min {min(ratios):.2f}, max {max(ratios):.2f})"
    )


if __name__ == "__main__":
    main()
