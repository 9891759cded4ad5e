"""Per-trial speed against pack size: what `--pack N` buys on this machine.

Packs of `configs/studies/paper_main.yaml`'s runs of one regime, the paper's variants
interleaved (a pack of T holds T different variants' trials where it can), are timed one
after another in this one process, one thread, after WARM_UP generations
(`benchmarks/study.py`'s `time_pack`). One line per size:
  pack size <regime> T=<T>: X trial-generations/s  (S s/generation, start-up U s)

    python benchmarks/pack_size.py [--regime coevolution] [--sizes 2 8 19 38 76]
                                   [--generations 1] [--threads 1]
"""

import argparse
import tempfile
from pathlib import Path

import torch
from study import STUDY, paper_study, regime_runs, set_up_like_a_pack, time_pack

from lit_evoae.study.calibration import interleaved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regime", choices=("coevolution", "canonical"), default="coevolution")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 8, 19, 38, 76])
    parser.add_argument("--generations", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    options = parser.parse_args()
    set_up_like_a_pack(options.threads)
    study = paper_study()
    variants = len(study.variants()) // 2
    trials = -(-max(options.sizes) // variants)
    runs = interleaved(regime_runs(study, options.regime, trials))
    print(f"threads: {torch.get_num_threads()}  study: {STUDY.name}, {options.regime}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        for size in options.sizes:
            folder = Path(scratch) / f"pack_{size}"
            startup, seconds = time_pack(runs[:size], folder, options.generations, "cpu")
            print(
                f"pack size {options.regime} T={size}: {size / seconds:.2f} trial-generations/s"
                f"  ({seconds:.2f} s/generation, start-up {startup:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
