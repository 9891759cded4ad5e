"""Each trial's own log, written while the pack trains: its rows, reductions and resumes."""

from types import SimpleNamespace

import torch

from lit_evoae.study.results import read_metrics
from lit_evoae.study.trial_logs import TrialLog, TrialLogs

TRAINER = SimpleNamespace(sanity_checking=False, current_epoch=0)
BATCH = (torch.zeros(400, 3), torch.zeros(400))  # a generation: the training split at once


def test_a_log_appends_rows_and_rewrites_itself_for_a_new_column(tmp_path):
    log = TrialLog(tmp_path / "t" / "metrics.csv", last_epoch=-1)
    log.append({"epoch": 0, "val/l1": 0.5})
    log.append({"epoch": 1, "val/l1": 0.4})
    log.append({"epoch": 1, "prune/events": 2.0})  # a new column
    rows = read_metrics(log.path)
    assert [row["val/l1"] for row in rows] == ["0.5", "0.4", ""]
    assert [row["prune/events"] for row in rows] == ["", "", "2.0"]


def test_a_resumed_log_keeps_the_epochs_its_checkpoint_holds_and_nothing_else(tmp_path):
    path = tmp_path / "metrics.csv"
    log = TrialLog(path, last_epoch=-1)
    for epoch in range(4):
        log.append({"epoch": epoch, "val/l1": 1.0 / (epoch + 1)})
    log.append({"epoch": "", "final/train_l1_mean": 0.2})
    resumed = TrialLog(path, last_epoch=1)
    assert [row["epoch"] for row in read_metrics(path)] == ["0", "1"]
    resumed.append({"epoch": 2, "val/l1": 0.3})
    assert [row["val/l1"] for row in read_metrics(path)] == ["1.0", "0.5", "0.3"]
    TrialLog(path, last_epoch=-1)  # no checkpoint: generation 1 again, from nothing
    assert read_metrics(path) == []


def test_values_are_reduced_over_a_generation_as_lightning_reduces_a_runs_own(tmp_path):
    """A mean weights each value by the batch it was logged in: Lightning's float32
    (0 + a*n + b*n) / (n + n) for two values in the training step, v*1/1 in a validation
    hook; a sum adds from 0. Trials that logged nothing get no value."""
    logs = TrialLogs([tmp_path / f"{t}.csv" for t in range(3)])
    a, b = torch.tensor([0.1, 0.7]), torch.tensor([0.3, 0.2])
    logs.on_train_batch_start(TRAINER, None, BATCH, 0)
    logs.add("prune/loss_change", a, torch.tensor([0, 2]))
    logs.add("prune/loss_change", b, torch.tensor([0, 2]))
    logs.add("prune/events", torch.tensor([1.0, 2.0]), torch.tensor([0, 2]), "sum")
    logs.add("prune/events", torch.tensor([3.0]), torch.tensor([0]), "sum")
    logs.on_train_batch_end(TRAINER, None, None, BATCH, 0)
    logs.add("val/l1", torch.tensor([0.5, 0.6, 0.7]), torch.arange(3))
    logs.on_validation_end(TRAINER, None)
    logs.on_train_epoch_end(TRAINER, None)
    zero = torch.tensor(0.0)
    expected = (zero + a * 400 + b * 400) / torch.tensor(800)
    rows = [read_metrics(tmp_path / f"{t}.csv") for t in range(3)]
    assert [row["val/l1"] for row in rows[1]] == [str(torch.tensor(0.6).item())]  # val row only
    for trial, column in ((0, 0), (2, 1)):
        validation, training = rows[trial]
        assert validation["epoch"] == training["epoch"] == "0"
        assert float(training["prune/loss_change"]) == expected[column].item()
        assert validation["prune/loss_change"] == ""  # logged in training: the training row
    assert [float(rows[t][1]["prune/events"]) for t in (0, 2)] == [4.0, 2.0]


def test_the_sanity_check_is_not_logged_and_cells_are_numbered_within_their_trial(tmp_path):
    logs = TrialLogs([tmp_path / f"{t}.csv" for t in range(2)])
    logs.add("val/l1", torch.tensor([0.5, 0.6]), torch.arange(2))
    logs.on_validation_end(SimpleNamespace(sanity_checking=True, current_epoch=0), None)
    logs.add_cells("lr", torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), torch.arange(6), 3)
    logs.on_validation_end(TRAINER, None)
    logs.final({"final/train_l1_mean": torch.tensor([0.25, 0.5])})
    first, second = (read_metrics(tmp_path / f"{t}.csv") for t in range(2))
    assert "val/l1" not in first[0]
    assert [second[0][f"lr/cell_{c:02d}"] for c in range(3)] == ["4.0", "5.0", "6.0"]
    assert first[-1] == {
        "epoch": "",
        "lr/cell_00": "",
        "lr/cell_01": "",
        "lr/cell_02": "",
        "final/train_l1_mean": "0.25",
    }
