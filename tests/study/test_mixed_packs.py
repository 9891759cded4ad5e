"""A pack that mixes pruning variants trains each trial as it trains alone.

Both regimes and both update orders, a denoising network in each regime and a variational
one in sequential coevolution (selecting by its sampled loss); no pruning,
random, magnitude, variance and conjunctive pruning on four schedules, one pack per regime.
Every trial's metrics.csv, result.json and best_autoencoder.pt are compared with the same run
made alone, to 1e-5. Runs are made in this process (the runner's subprocesses add nothing the
other runner tests do not cover).
"""

import copy
import csv
from pathlib import Path

import pytest
import torch
import yaml

from lit_evoae import keys
from lit_evoae.cli import build_cli
from lit_evoae.nets import load_autoencoder
from lit_evoae.study.pack import run_pack
from lit_evoae.study.results import read_metrics, write_result
from lit_evoae.study.runner import fit_arguments, logging_config, packs
from lit_evoae.study.spec import load_study

# 5 variants x 6 regimes, each alone and packed
pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PRUNING = [
    "none",
    "random_fixed",
    "magnitude_decrease",
    "variance_exponential",
    "conjunctive_increase",
]


@pytest.fixture(scope="module")
def study(tmp_path_factory, tiny_coevolution_template):
    folder = tmp_path_factory.mktemp("mixed")
    coevolution = copy.deepcopy(tiny_coevolution_template)
    coevolution["data"]["init_args"]["data_dir"] = str(folder / "data")
    coevolution["trainer"]["max_epochs"] = 3
    sequential = copy.deepcopy(coevolution)
    sequential["model"]["init_args"]["strategy"] = {
        "init_args": {"update_order": "Sequential"},
        "class_path": "lit_evoae.population.strategy.CoevolutionStrategy",
    }
    canonical = copy.deepcopy(coevolution)
    canonical["model"] = {
        "class_path": "lit_evoae.systems.CanonicalAutoencoder",
        "init_args": {"hidden_sizes": [8], "latent_dim": 3, "lr": 0.01},
    }
    noisy_canonical, flipping = copy.deepcopy(canonical), copy.deepcopy(coevolution)
    noisy_canonical["model"]["init_args"]["denoising"] = {
        "class_path": "lit_evoae.population.corruption.GaussianNoise",
        "init_args": {"std": 0.4},
    }
    flipping["model"]["init_args"]["denoising"] = {
        "class_path": "lit_evoae.population.corruption.BitFlips",
        "init_args": {"probability": 0.2},
    }
    variational = copy.deepcopy(sequential)
    variational["model"]["init_args"]["variational"] = True  # selecting by its loss
    regimes = {
        "variational_sequential": variational,
        "canonical": canonical,
        "synchronous": coevolution,
        "sequential": sequential,
        "denoising_canonical": noisy_canonical,
        "denoising_synchronous": flipping,
    }
    for name, config in regimes.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(config))
    grid = {
        "regime": [str(folder / f"{name}.yaml") for name in regimes],
        "pruning": [str(ROOT / "callbacks" / f"{name}.yaml") for name in PRUNING],
    }
    spec = {"name": "mixed", "trials": 1, "grid": grid, "overrides": {"pruning.probability": 1.0}}
    (folder / "study.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_study(folder / "study.yaml"), folder


def fit_alone(run, out: Path) -> None:
    folder = run.folder(out)
    folder.mkdir(parents=True)
    logging = folder / "logging.yaml"
    logging.write_text(yaml.safe_dump(logging_config(run, folder, None)))
    build_cli(["fit", *fit_arguments(run, folder, logging)])
    write_result(run, out, 0.0)


@pytest.fixture(scope="module")
def both(study):
    spec, folder = study
    runs = spec.runs()
    for run in runs:
        fit_alone(run, folder / "alone")
    groups = packs(runs, 16)
    for number, group in enumerate(groups):
        pack = folder / "packs" / str(number)
        pack.mkdir(parents=True)
        logging = pack / "logging.yaml"
        logging.write_text(yaml.safe_dump(logging_config(group[0], pack, None)))
        assert run_pack(group, folder / "packed", pack, logging) == 0
    return runs, groups, folder / "alone", folder / "packed"


def by_epoch(path: Path) -> dict[tuple[str, str], float]:
    """{(epoch, key): value}; the final/* rows have no epoch, and the test row is left out
    (alone it is at the epoch after the last, packed at the last: result.json compares it)."""
    return {
        (row["epoch"], key): float(value)
        for row in read_metrics(path)
        if not row.get(keys.TEST_L1)
        for key, value in row.items()
        if key not in ("epoch", "step") and value
    }


def test_runs_that_differ_only_in_pruning_share_a_pack(both):
    runs, groups, _, _ = both
    assert len(groups) == 6  # one per regime: 3, 2 denoising and a variational one
    assert sorted(len(group) for group in groups) == [5] * 6
    for group in groups:
        assert len({run.choices[0] for run in group}) == 1  # one regime
        assert sorted(dict(run.choices)["pruning"] for run in group) == sorted(PRUNING)


def test_every_packed_trial_equals_its_run_alone(both):
    runs, _, alone, packed = both
    pruned = {}  # operator -> events over its runs (a schedule may draw none in 3 generations)
    for run in runs:
        mine, theirs = (
            by_epoch(packed / run.key / keys.METRICS_CSV),
            by_epoch(alone / run.key / keys.METRICS_CSV),
        )
        logged = {key for _, key in mine}
        expected = {
            keys.VAL_L1,
            keys.TRAIN_LOSS,
            keys.MODEL_SPARSITY,
            keys.MODEL_ENCODER_LIVE,
            keys.PRUNE_EVENTS,
            keys.PRUNE_SPARSITY,
            keys.FINAL_TRAIN_L1_MEAN,
        }
        assert expected <= logged, run.key
        # every key a run alone logs, but Lightning's step counter
        assert {key for _, key in theirs} - {"step", keys.TEST_L1} == logged, run.key
        for (epoch, key), value in mine.items():
            assert (epoch, key) in theirs, (run.key, epoch, key)
            # rel: a variational loss sums BCE over a minibatch (hundreds; float32 keeps 7 digits)
            close = pytest.approx(theirs[(epoch, key)], abs=1e-5, rel=1e-6)
            assert value == close, (run.key, key)
        events = sum(v for (_, key), v in mine.items() if key == keys.PRUNE_EVENTS)
        operator = dict(run.choices)["pruning"]
        pruned[operator] = pruned.get(operator, 0) + events
    assert {operator for operator, events in pruned.items() if events > 0} == set(PRUNING) - {
        "none"
    }


def test_records_and_best_networks_equal_the_runs_alone(both):
    runs, _, alone, packed = both
    compared = [
        keys.TEST_L1,
        keys.MODEL_SPARSITY,
        keys.MODEL_PARAMS,
        keys.VAL_L1_BEST,
        "epochs",
        *map(keys.final, keys.FINAL_NAMES),
    ]
    for run in runs:
        mine = yaml.safe_load((packed / run.key / keys.RESULT).read_text())
        theirs = yaml.safe_load((alone / run.key / keys.RESULT).read_text())
        assert mine["packed_with"] == 5 and mine["seed"] == theirs["seed"]
        for key in compared:
            assert mine[key] == pytest.approx(theirs[key], abs=1e-5, rel=0), (run.key, key)
        ours = load_autoencoder(packed / run.key / keys.BEST_AUTOENCODER).state_dict()
        reference = load_autoencoder(alone / run.key / keys.BEST_AUTOENCODER).state_dict()
        for name, tensor in reference.items():
            assert torch.equal(ours[name] == 0, tensor == 0), (run.key, name)  # the masks
            torch.testing.assert_close(ours[name], tensor, atol=1e-5, rtol=0)


def test_the_packed_folders_hold_what_a_run_alone_leaves(both):
    runs, _, _, packed = both
    for run in runs:
        names = {path.name for path in (packed / run.key).iterdir()}
        assert {keys.METRICS_CSV, keys.BEST_AUTOENCODER, keys.RESULT} <= names
        with (packed / run.key / keys.METRICS_CSV).open() as handle:
            assert "epoch" in next(csv.reader(handle))
