"""PruningCoverage: the measures logged equal those recomputed from the prune events."""

import csv
import math

import pytest
import torch

from lit_evoae import keys
from lit_evoae.callbacks import Pruning, PruningCoverage
from lit_evoae.errors import ConfigError
from lit_evoae.population.strategy import CoevolutionStrategy
from lit_evoae.population.topology import Ring
from lit_evoae.pruning.coverage import coverage, mask_diversity, uniformity
from lit_evoae.pruning.operators import ConjunctivePruning, RandomPruning
from lit_evoae.systems import CanonicalAutoencoder, CoevolutionaryAutoencoder
from lit_evoae.systems.base import PopulationCallback

pytestmark = pytest.mark.integration
CELLS = 4


class Events(PopulationCallback):
    """Every prune event (generation, cells, closed positions) and the logged measures."""

    def __init__(self):
        self.events, self.logged = [], []

    def on_pruned(self, trainer, system, cells, closed):
        flat = torch.cat([c.flatten(1) for c in closed], 1)
        self.events.append((trainer.current_epoch, cells.clone(), flat.clone()))

    def on_train_epoch_end(self, trainer, pl_module):
        self.logged.append({k: float(trainer.callback_metrics[k]) for k in keys.COVERAGE_KEYS})


def coevolution(seeds=None, evaluation="lipi_simple"):
    strategy = CoevolutionStrategy(update_order="sequential", cell_evaluation=evaluation)
    return CoevolutionaryAutoencoder(
        24, (8,), 3, lr=0.01, topology=Ring(size=CELLS), strategy=strategy, seeds=seeds
    )


def fit(system, data, quiet_trainer, epochs, window, *more):
    pruning = Pruning(RandomPruning(0.3), probability=0.6)
    callbacks = [pruning, PruningCoverage(window=window), *more]
    trainer = quiet_trainer(max_epochs=epochs, callbacks=callbacks)
    trainer.fit(system, datamodule=data)
    return trainer


def test_logged_measures_are_those_of_the_windows_events(tiny_data, quiet_trainer):
    events = Events()
    fit(coevolution(), tiny_data, quiet_trainer, 5, 2, events)
    positions = events.events[0][2].shape[1]
    for generation, logged in enumerate(events.logged):
        counts = torch.zeros(positions, dtype=torch.int32)
        sets = torch.zeros(CELLS, positions, dtype=torch.bool)
        for when, cells, closed in events.events:
            if generation - 2 < when <= generation:
                counts += closed.sum(0)
                sets[cells] |= closed
        expected = {
            keys.PRUNE_COVERAGE: coverage(counts).item(),
            keys.PRUNE_UNIFORMITY: uniformity(counts).item(),
            keys.PRUNE_DIVERSITY: mask_diversity(sets).item(),
        }
        for key, value in expected.items():
            if not math.isnan(value):
                assert logged[key] == pytest.approx(value, abs=1e-6), (generation, key)
    assert any(logged[keys.PRUNE_COVERAGE] > 0 for logged in events.logged)


def test_a_packed_trial_covers_as_it_does_alone(tiny_data, quiet_trainer):
    from lit_evoae.study.trial_logs import TrialLogs

    def run(seeds, folder):
        system = coevolution(seeds)
        paths = [folder / f"trial_{t}.csv" for t in range(len(seeds))]
        logs = TrialLogs(paths)
        system.pack.trial_logs = logs
        fit(system, tiny_data, quiet_trainer, 4, 3, logs)
        return paths

    def rows(path):
        with path.open() as handle:
            return list(csv.DictReader(handle))

    packed = rows(run([4, 5, 6], tiny_data.data_dir / "packed")[1])
    alone = rows(run([5], tiny_data.data_dir / "alone")[0])
    for mine, own in zip(packed, alone, strict=True):  # to 1e-5, as packs are tested
        assert mine.keys() == own.keys()
        for key, value in own.items():
            assert (
                (mine[key] == value)
                if not value
                else float(mine[key]) == pytest.approx(float(value), abs=1e-5)
            ), key
    assert any(row.get(keys.PRUNE_DIVERSITY) for row in alone)


def test_one_network_logs_coverage_and_uniformity_but_no_diversity(tiny_data, quiet_trainer):
    system = CanonicalAutoencoder(24, (8,), 3, lr=0.01)
    pruning = Pruning(ConjunctivePruning(threshold=0.3, cases=10), probability=1.0)
    trainer = quiet_trainer(max_epochs=2, callbacks=[pruning, PruningCoverage(window=5)])
    trainer.fit(system, datamodule=tiny_data)
    assert 0 < trainer.callback_metrics[keys.PRUNE_COVERAGE].item() <= 1
    assert f"{keys.PRUNE_COVERAGE}_layer3" in trainer.callback_metrics
    assert keys.PRUNE_DIVERSITY not in trainer.callback_metrics


def test_a_resumed_run_measures_as_an_uninterrupted_one(tiny_data, quiet_trainer, tmp_path):
    import pytorch_lightning as pl

    def run(epochs, resume=None):
        pl.seed_everything(2, verbose=False)
        system = coevolution(evaluation="all_vs_all")
        events = Events()
        trainer = fit(system, tiny_data, quiet_trainer, epochs, 3, events)
        return trainer, events

    straight, whole = run(4)
    half, _ = run(2)
    half.save_checkpoint(tmp_path / "half.ckpt")
    pl.seed_everything(2, verbose=False)
    events = Events()
    pruning = Pruning(RandomPruning(0.3), probability=0.6)
    resumed = quiet_trainer(max_epochs=4, callbacks=[pruning, PruningCoverage(window=3), events])
    resumed.fit(coevolution(evaluation="all_vs_all"), tiny_data, ckpt_path=tmp_path / "half.ckpt")
    assert events.logged == whole.logged[2:]


def test_bad_window_is_a_one_line_error():
    with pytest.raises(ConfigError, match="coverage.window"):
        PruningCoverage(window=0)
