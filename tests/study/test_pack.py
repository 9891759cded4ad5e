"""The pack's parts, without a process: its arguments, its trials' best cells and files."""

import csv
import functools
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
import yaml

from lit_evoae import keys
from lit_evoae.cli import packable
from lit_evoae.nets import layer_sizes
from lit_evoae.population.stacked import StackedAutoencoder
from lit_evoae.study.pack import TrialBests, build_pack, pack_arguments
from lit_evoae.study.results import write_result
from lit_evoae.study.spec import Run
from lit_evoae.study.trial_logs import TrialLog
from lit_evoae.systems import CoevolutionaryAutoencoder


def test_pack_arguments_are_the_first_runs_seeded_once(tmp_path):
    runs = [
        Run("v", trial, 100 + trial, (tmp_path / "a.yaml",), (("model.init_args.lr", 0.1),))
        for trial in range(2)
    ]
    arguments = pack_arguments(runs, tmp_path / "pack", tmp_path / "logging.yaml")
    assert arguments[:4] == ["--config", str(tmp_path / "a.yaml"), "--model.init_args.lr", "0.1"]
    assert arguments.count("--seed_everything") == 1
    assert arguments[arguments.index("--seed_everything") + 1] == "100"
    assert arguments[arguments.index("--test_after_fit") + 1] == "false"


def test_each_trial_keeps_the_cell_of_its_lowest_validation_l1_so_far():
    torch.manual_seed(0)
    centers = StackedAutoencoder(4, *layer_sizes(5, [3], 2))  # 2 trials of 2 cells
    system = SimpleNamespace(
        best_individual=lambda: (centers, 0),
        device=torch.device("cpu"),
        individual_l1=torch.tensor([0.5, 0.4, 0.3, 0.6]),
    )
    trainer = SimpleNamespace(sanity_checking=False)
    bests = TrialBests(2)
    bests.on_validation_end(trainer, system)
    first = [bests.bests.individual(t).encoder[0].weight.clone() for t in range(2)]
    assert torch.equal(first[0], centers.individual(1).encoder[0].weight)
    assert torch.equal(first[1], centers.individual(2).encoder[0].weight)
    with torch.no_grad():
        centers.encoders[0].weight.add_(1.0)  # a later generation: new weights
    system.individual_l1 = torch.tensor([0.45, 0.9, 0.1, 0.2])  # trial 0 worse, trial 1 better
    bests.on_validation_end(trainer, system)
    assert torch.equal(bests.bests.individual(0).encoder[0].weight, first[0])  # kept
    assert torch.equal(
        bests.bests.individual(1).encoder[0].weight, centers.individual(2).encoder[0].weight
    )
    assert bests.best == pytest.approx([0.4, 0.1])


def test_a_trials_metrics_give_the_record_an_unpacked_run_gets(tmp_path):
    rows = [
        {"epoch": "0", "val/l1": "0.5", keys.PRUNE_COVERAGE: "0.2"},
        {"epoch": "1", "val/l1": "0.4", keys.PRUNE_COVERAGE: "0.6"},
        {"epoch": "", "final/train_l1_mean": "0.45", "final/capacity": "0.9"},
    ]
    run = Run("v", 1, 7, (), ())
    folder = run.folder(tmp_path)
    log = TrialLog(folder / keys.METRICS_CSV, last_epoch=-1)
    for row in rows:
        log.append(row)
    log.append({"epoch": "", keys.TEST_L1: 0.42, keys.MODEL_SPARSITY: 0.1, keys.MODEL_PARAMS: 30})
    with (folder / keys.METRICS_CSV).open() as handle:
        written = list(csv.DictReader(handle))
    assert [row[keys.VAL_L1] for row in written[:2]] == ["0.5", "0.4"]
    record = write_result(run, tmp_path, seconds=3.0, packed_with=2)
    assert record[keys.TEST_L1] == 0.42 and record[keys.MODEL_SPARSITY] == 0.1
    assert record[keys.VAL_L1_BEST] == 0.4 and record["epochs"] == 2
    assert record[keys.FINAL_TRAIN_L1_MEAN] == 0.45 and record["packed_with"] == 2
    assert record[keys.PRUNE_COVERAGE] == 0.6  # the last, and the mean over the run
    assert record[keys.run_mean(keys.PRUNE_COVERAGE)] == pytest.approx(0.4)
    assert keys.PRUNE_UNIFORMITY not in record  # not logged: not recorded
    assert (folder / keys.RESULT).is_file()


def test_trial_bests_ignore_the_sanity_check():
    bests = TrialBests(1)
    bests.on_validation_end(SimpleNamespace(sanity_checking=True), None)
    assert bests.bests is None
    assert isinstance(bests, pl.Callback)
    with pytest.raises(AttributeError):
        bests.on_validation_end(SimpleNamespace(sanity_checking=False), None)


def test_a_packs_system_is_built_once_with_every_runs_seed(tmp_path, tiny_coevolution, monkeypatch):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(tiny_coevolution))
    runs = [Run("v", trial, 100 + trial, (config,), ()) for trial in range(3)]
    built = []
    original = CoevolutionaryAutoencoder.__init__

    @functools.wraps(original)  # the parser reads the signature
    def counted(self, *args, **kwargs):
        built.append(kwargs.get("seeds"))
        original(self, *args, **kwargs)

    monkeypatch.setattr(CoevolutionaryAutoencoder, "__init__", counted)
    logging = tmp_path / "logging.yaml"
    logging.write_text("trainer:\n  logger: false\n")
    _, system = build_pack(runs, tmp_path / "pack", logging)
    assert built == [[100, 101, 102]]  # once, as the pack: no one-trial system first
    assert system.pack.seeds == [100, 101, 102]
    assert system.pack.variants == ["v"] * 3


def test_only_lit_evoaes_systems_take_a_packs_seeds():
    assert packable({"class_path": "lit_evoae.systems.CanonicalAutoencoder"})
    assert packable({"class_path": "lit_evoae.systems.CoevolutionaryAutoencoder"})
    assert not packable({"class_path": "pytorch_lightning.demos.boring_classes.BoringModel"})
    assert not packable({"class_path": "no.such.Module"})
