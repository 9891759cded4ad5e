import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from lit_evoae.callbacks.deferred_log import DeferredLog

pytestmark = pytest.mark.integration  # each test trains or starts a process

#: A batch size that is not a power of two, so that Lightning's value * batch size rounds.
BATCH = 777
#: Values logged several times in one training step, as a pack's Pruning logs per group.
VALUES = torch.rand(10, 3, generator=torch.Generator().manual_seed(9)) * 3


class Logging(pl.LightningModule):
    """One training step (one batch) per epoch that logs VALUES[:, k] under key k, each value
    directly through `self.log` (deferred=False) or through a DeferredLog flushed at the end."""

    def __init__(self, deferred: bool) -> None:
        super().__init__()
        self.deferred = DeferredLog() if deferred else None
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.automatic_optimization = False

    def train_dataloader(self):
        return DataLoader(TensorDataset(torch.zeros(BATCH, 2)), batch_size=BATCH)

    def training_step(self, batch, batch_idx):
        epoch = self.current_epoch
        if self.deferred is not None:
            self.deferred.start(batch)
        for row in VALUES + epoch:
            for name, value, options in (
                ("mean_tensor", row[0], {}),
                ("mean_float", float(row[1]), {}),
                ("sum", float(row[2]), {"reduce_fx": "sum"}),
            ):
                if self.deferred is None:
                    self.log(name, value, on_step=False, on_epoch=True, **options)
                else:
                    self.deferred.log(self, name, value, **options)
        if self.deferred is not None:
            self.deferred.flush(self)

    def configure_optimizers(self):
        return None


def logged(deferred: bool, quiet_trainer) -> list[dict[str, torch.Tensor]]:
    seen = []

    class Record(pl.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            seen.append(dict(trainer.callback_metrics))

    quiet_trainer(max_epochs=2, callbacks=[Record()]).fit(Logging(deferred))
    return seen


def test_one_deferred_log_a_generation_gives_lightnings_numbers_bit_for_bit(quiet_trainer):
    direct, deferred = logged(False, quiet_trainer), logged(True, quiet_trainer)
    assert len(direct) == len(deferred) == 2
    for theirs, ours in zip(direct, deferred, strict=True):
        assert theirs.keys() == ours.keys() == {"mean_tensor", "mean_float", "sum"}
        for key in theirs:
            assert theirs[key].dtype == ours[key].dtype == torch.float32
            assert theirs[key].item() == ours[key].item(), key
    # The data tell the reductions apart: the plain mean of each epoch's values is not
    # Lightning's batch-size-weighted one in the last bits.
    for epoch, metrics in enumerate(direct):
        total = torch.tensor(0.0)
        for value in VALUES[:, 0] + epoch:
            total = total + value
        assert (total / len(VALUES)).item() != metrics["mean_tensor"].item()


def test_values_of_one_generation_do_not_carry_into_the_next(quiet_trainer):
    first, second = logged(True, quiet_trainer)
    assert second["sum"].item() == (VALUES[:, 2] + 1).sum().item()
    assert first["sum"].item() != second["sum"].item()
