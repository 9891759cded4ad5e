"""Does a change leave every number as it was? Seeded reference runs, compared bit for bit.

A refactor or a speed-up must not move a single logged value. `run` trains short
seeded packs of the paper's presets in both regimes (canonical; coevolution in
sequential and in synchronous order), with no pruning and each operator (random,
variance, conjunctive, magnitude) at probability 0.5, 3 trials each, 6 generations:
42 runs, about 5 minutes on one core of this project's slow CPU. `compare` then checks
two such folders: every `metrics.csv` column, every `result.json` (less its seconds) and
every tensor of every `best_autoencoder.pt`, for exact equality.

    python benchmarks/same_numbers.py run ~/ref/before      # on the commit before
    python benchmarks/same_numbers.py run ~/ref/after       # on the change
    python benchmarks/same_numbers.py compare ~/ref/before ~/ref/after
"""

import argparse
import json
import sys
from pathlib import Path

import torch
import yaml

from lit_evoae.study.cli import main as study
from lit_evoae.study.results import read_metrics

ROOT = Path(__file__).resolve().parents[1]
PRUNING = ["none", "random_fixed", "variance_decrease", "conjunctive_fixed"]
SETTINGS = {"trainer.max_epochs": 6, "pruning.probability": 0.5}


def studies() -> dict[str, dict]:
    """Both regimes with each operator, and coevolution in synchronous order."""
    fragments = [str(ROOT / "callbacks" / f"{name}.yaml") for name in PRUNING]
    paper = ROOT / "configs" / "paper"
    return {
        "orders": {
            "name": "same_numbers",
            "trials": 3,
            "grid": {
                "regime": [str(paper / "canonical.yaml"), str(paper / "coevolution.yaml")],
                "pruning": [*fragments, str(ROOT / "callbacks" / "magnitude_population.yaml")],
            },
            "overrides": SETTINGS,
        },
        "synchronous": {
            "name": "same_numbers_synchronous",
            "base": [str(paper / "coevolution.yaml")],
            "trials": 3,
            "grid": {"pruning": fragments},
            "overrides": {
                **SETTINGS,
                "model.init_args.strategy.init_args.update_order": "synchronous",
            },
        },
    }


def run(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, spec in studies().items():
        path = out / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec))
        arguments = ["run", "--study", str(path), "--out", str(out / name), "--workers", "1"]
        try:
            study([*arguments, "--pack", "30"])
        except SystemExit as exit:
            if exit.code:
                raise


def columns(path: Path) -> dict[str, list[str]]:
    """Each column's non-empty values, in row order (the rows' layout may differ)."""
    found: dict[str, list[str]] = {}
    for row in read_metrics(path):
        for key, value in row.items():
            if value != "":
                found.setdefault(key, []).append(value)
    return found


def tensors(path: Path) -> dict[str, object]:
    def flat(value, prefix=""):
        if isinstance(value, dict):
            return {
                k: v
                for key, item in value.items()
                for k, v in flat(item, f"{prefix}{key}.").items()
            }
        if isinstance(value, (list, tuple)):
            return {
                k: v for n, item in enumerate(value) for k, v in flat(item, f"{prefix}{n}.").items()
            }
        return {prefix: value}

    return flat(torch.load(path, weights_only=False))


def same(path: Path, other: Path) -> bool:
    if path.suffix == ".csv":
        return columns(path) == columns(other)
    if path.suffix == ".json":
        ours, theirs = json.loads(path.read_text()), json.loads(other.read_text())
        ours.pop("seconds", None), theirs.pop("seconds", None)
        return ours == theirs
    ours, theirs = tensors(path), tensors(other)
    if ours.keys() != theirs.keys():
        return False
    return all(
        torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b
        for a, b in ((ours[key], theirs[key]) for key in ours)
    )


def compare(before: Path, after: Path) -> int:
    checked, differ = 0, []
    for path in sorted(before.rglob("trial_*/*")):
        if path.suffix not in (".csv", ".json", ".pt"):
            continue
        checked += 1
        other = after / path.relative_to(before)
        if not other.exists() or not same(path, other):
            differ.append(path.relative_to(before))
    for path in differ[:10]:
        print(f"differs: {path}")
    if len(differ) > 10:
        print(f"... and {len(differ) - 10} more")
    print(f"same numbers: {checked - len(differ)} of {checked} files equal")
    return 1 if differ or not checked else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run").add_argument("out", type=Path)
    both = commands.add_parser("compare")
    both.add_argument("before", type=Path)
    both.add_argument("after", type=Path)
    options = parser.parse_args()
    if options.command == "run":
        run(options.out)
    else:
        sys.exit(compare(options.before, options.after))


if __name__ == "__main__":
    main()
