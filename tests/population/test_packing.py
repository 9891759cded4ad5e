from types import SimpleNamespace

import pytest
import torch

from lit_evoae.errors import ConfigError
from lit_evoae.population.packing import Pack
from lit_evoae.population.topology import Torus


def test_tiled_neighbourhoods_are_copies_that_never_leave_their_trial():
    single = Torus(rows=3, columns=3)
    pack = Pack([1, 2, 3, 4], cells=single.size)
    table = pack.tile(single.neighbourhoods())
    assert pack.size == 36 and table.shape == (36, 9)
    for trial in range(4):
        block = table[pack.rows(trial)]
        assert torch.equal(block, single.neighbourhoods() + trial * 9)  # same shape, own cells
        assert torch.equal(pack.trial_of(block).unique(), torch.tensor([trial]))


def test_split_groups_rows_by_trial_and_by_variant():
    pack = Pack([5, 6, 7], cells=2)
    pack.variants = ["random", "none", "random"]
    rows = torch.tensor([5, 0, 4, 1])
    split = [(trial, positions.tolist()) for trial, positions in pack.split(rows)]
    assert split == [(0, [1, 3]), (2, [0, 2])]
    assert [t for t, _ in pack.split(rows, "random")] == [0, 2]
    assert pack.split(rows, "none") == []  # trial 1 has no row here
    assert pack.positions(torch.tensor([2, 0, 3, 5]), "none").tolist() == [0, 2]


def test_streams_hand_each_row_its_trials_generator():
    pack = Pack([5, 6], cells=3)
    (first, rows_0), (second, rows_1) = pack.streams(torch.tensor([4, 1]))
    assert first is pack.generators[0] and rows_0.tolist() == [1]
    assert second is pack.generators[1] and rows_1.tolist() == [0]
    expected = torch.Generator().manual_seed(6).initial_seed()
    assert pack.generators[1].initial_seed() == expected


def test_means_and_each_reduce_within_each_trial():
    pack = Pack([1, 2], cells=2)
    values = torch.tensor([1.0, 3.0, 10.0, 30.0])
    assert pack.each(values).tolist() == [[1.0, 3.0], [10.0, 30.0]]
    rows = torch.tensor([0, 2, 3])
    assert pack.means(values[rows], rows).tolist() == [1.0, 20.0]


def test_named_gives_each_trials_value_its_trials_own_key():
    pack = Pack([1, 2, 3])
    values = torch.tensor([0.5, 0.25, 0.125])
    assert pack.named("final/train_l1_mean", values) == {
        "final/train_l1_mean/trial_00": 0.5,
        "final/train_l1_mean/trial_01": 0.25,
        "final/train_l1_mean/trial_02": 0.125,
    }
    assert list(pack.named("val/l1", values[:2], [2, 0])) == ["val/l1/trial_02", "val/l1/trial_00"]
    with pytest.raises(ValueError):  # a value per trial named, no fewer
        pack.named("val/l1", values[:2])


def test_a_run_alone_is_a_pack_of_its_own_seed_and_bad_seeds_name_the_field():
    torch.manual_seed(42)
    alone = Pack.of_run(None, cells=10)
    assert alone.seeds == [42] and len(alone) == 1 and alone.size == 10
    with pytest.raises(ConfigError, match="seeds"):
        Pack([-1])
    with pytest.raises(ConfigError, match="at least one seed"):
        Pack([])


class Logs:
    def __init__(self):
        self.added = []

    def add(self, key, values, trials, reduce_fx):
        self.added.append((key, values.tolist(), trials.tolist(), reduce_fx))


def test_a_pack_of_one_logs_its_trial_only_where_it_has_a_trial_log():
    module = SimpleNamespace(_trainer=object(), log=lambda *a, **k: pytest.fail("logged"))
    alone = Pack([5])
    alone.log(module, "val/l1", torch.tensor([0.5]))  # a run alone: it logs val/l1 itself
    alone.trial_logs = Logs()  # a study's pack of one
    alone.log(module, "val/l1", torch.tensor([0.5]))
    assert alone.trial_logs.added == [("val/l1", [0.5], [0], "mean")]


def test_values_per_row_reduce_to_each_trials_value_in_its_log():
    pack = Pack([5, 6, 7], cells=2)
    pack.trial_logs = Logs()
    module = SimpleNamespace(_trainer=object())  # a LightningModule attached to a Trainer
    rows = torch.tensor([5, 0, 1, 4])  # trial 2, 0, 0, 2
    values = torch.tensor([1.0, 2.0, 4.0, 3.0])
    pack.log_by_trial(module, "prune/sparsity", values, rows)
    pack.log_by_trial(module, "prune/events", values, rows, "sum")
    assert pack.trial_logs.added == [
        ("prune/sparsity", [3.0, 2.0], [0, 2], "mean"),
        ("prune/events", [6.0, 4.0], [0, 2], "sum"),
    ]
    family = [torch.Generator() for _ in range(3)]
    pack.variants = ["a", "b", "a"]
    streams = pack.streams(rows, family, "a")
    assert [(g is family[t], p.tolist()) for (g, p), t in zip(streams, (0, 2), strict=True)] == [
        (True, [1, 2]),
        (True, [0, 3]),
    ]
