"""Divergence, injected as NaN weights: a population heals the cell, a canonical run stops."""

import pytest
import pytorch_lightning as pl
import torch
from test_coevolution import SIZE, make_system

from lit_evoae import keys
from lit_evoae.errors import Diverged
from lit_evoae.systems import CanonicalAutoencoder
from lit_evoae.systems.base import PopulationCallback

pytestmark = pytest.mark.integration  # each test trains or starts a process


class PoisonTrainee(PopulationCallback):
    """At generation 1, NaN into cell 2's trained pair, just before it would replace the center;
    records the centers and their validation L1 as they were then."""

    def on_pairs_trained(self, trainer, system, cells):
        if trainer.current_epoch == 1 and 2 in cells.tolist():
            self.centers = {k: v.clone() for k, v in system.centers.state_dict().items()}
            self.center_l1 = system.center_l1.clone()
            slot = cells.tolist().index(2)
            with torch.no_grad():
                system.trainees.encoders[0].weight[slot, 0, 0] = float("nan")


@pytest.mark.parametrize("update_order", ["synchronous", "sequential"])
def test_a_diverged_cell_takes_its_neighbourhoods_best(update_order, tiny_data, quiet_trainer):
    system, poison = make_system(update_order), PoisonTrainee()
    trainer = quiet_trainer(max_epochs=2, callbacks=[poison])
    with pytest.warns(UserWarning, match=r"generation 1: cells \[2\] diverged"):
        trainer.fit(system, datamodule=tiny_data)
    assert bool(system.centers.finite().all())
    assert trainer.callback_metrics[keys.GEN_DIVERGED].item() == 1
    neighbours = [(2 - 1) % SIZE, 2, (2 + 1) % SIZE]  # ring of radius 1
    best = neighbours[int(poison.center_l1[neighbours].argmin())]
    assert torch.isfinite(poison.center_l1[neighbours]).all()
    for name, value in system.centers.state_dict().items():
        assert torch.equal(value[2], poison.centers[name][best]), name


class PoisonWeights(pl.Callback):
    """NaN weights from the second minibatch of epoch 1 on (a forward pre-hook)."""

    def on_train_epoch_start(self, trainer, system):
        if trainer.current_epoch != 1:
            return
        calls = []

        def poison(module, args):
            calls.append(1)
            if len(calls) == 2:
                with torch.no_grad():
                    module.weight.fill_(float("nan"))

        system.population.encoders[0].register_forward_pre_hook(poison)


def test_a_diverged_canonical_run_stops_with_a_saved_state(tiny_data, tmp_path):
    system = CanonicalAutoencoder(input_dim=24, hidden_sizes=(8,), latent_dim=3, lr=1e-2)
    trainer = pl.Trainer(
        max_epochs=3,
        accelerator="cpu",
        logger=False,
        callbacks=[PoisonWeights()],
        default_root_dir=tmp_path,
        enable_progress_bar=False,
    )
    with pytest.raises(Diverged) as stopped:
        trainer.fit(system, datamodule=tiny_data)
    message = str(stopped.value)
    assert "diverged at epoch 1, batch 1: the loss is nan" in message
    assert "model.init_args.lr (now 0.01)" in message
    saved = tmp_path / "checkpoints" / "diverged.ckpt"
    assert f"saved to {saved}" in message and saved.is_file()
    assert "last good checkpoint is" in message and "epoch=0" in message
