"""Canonical training: one autoencoder trained by gradient descent (the paper's baseline).

It is a population of one on the same stacked path, training pass and batched Adam that
coevolution uses, so pruning callbacks, checkpoints and export treat both regimes alike.
"""

from pathlib import Path

import torch
from torch import Tensor

from lit_evoae import compat, keys
from lit_evoae.arguments import (
    Beta,
    ClosedUnitInterval,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    check,
    check_choice,
    check_each,
)
from lit_evoae.components import build, describe
from lit_evoae.errors import ConfigError, Diverged
from lit_evoae.metrics import PopulationL1, PopulationMean
from lit_evoae.nets import Autoencoder, layer_sizes
from lit_evoae.population.cell_evaluation import own_losses
from lit_evoae.population.corruption import Corruption
from lit_evoae.population.optim import OptimizerState, StackedAdam
from lit_evoae.population.packing import Pack
from lit_evoae.population.stacked import StackedAutoencoder
from lit_evoae.population.training import pass_orders, train_pass
from lit_evoae.pruning.masks import Masks
from lit_evoae.systems.base import AutoencoderSystem


class CanonicalAutoencoder(AutoencoderSystem):
    """Adam(lr, betas) with a step decay of the rate (StepLR's); mean L1 reconstruction loss.

    Args:
        input_dim: width of an input vector (the CLI links it from the data module).
        hidden_sizes: encoder hidden widths; the decoder mirrors them.
        latent_dim: code width (10 in the paper, 2 for the "small" network).
        lr: Adam's learning rate.
        betas: Adam's moment coefficients.
        lr_step_epochs: the rate is multiplied by lr_gamma every this many epochs; None means
            max(1, max_epochs // 4), the paper's.
        lr_gamma: the decay factor.
        optimizer_state: persistent (Adam as usual) or reset_every_step (a fresh Adam at
            every step, as the reference creates one per step).
        variational: a variational autoencoder (the reference's): the encoder's last layer
            becomes a mean and a log-variance head, the code is sampled in training, the loss
            is binary cross-entropy plus KL divergence; validation, selection and the test
            score the reconstruction from the mean (see `StackedAutoencoder`).
        denoising: corrupt the input of every training pass (GaussianNoise, BitFlips) and
            train to reconstruct the clean one (a denoising autoencoder); None: no noise.
        seeds: one per trial, for several independent networks trained as one batched
            program (a study's pack): network t's weights, batch order and pruning draws come
            from seeds[t] alone, as they would in a run seeded with it. None: one network,
            drawn from the run's seed (seed_everything).
    """

    def __init__(
        self,
        input_dim: PositiveInt,
        hidden_sizes: tuple[PositiveInt, ...] = (30,),
        latent_dim: PositiveInt = 10,
        lr: PositiveFloat = 1e-5,
        betas: tuple[Beta, Beta] = (0.5, 0.999),
        lr_step_epochs: PositiveInt | None = None,
        lr_gamma: ClosedUnitInterval = 0.1,
        optimizer_state: OptimizerState = "persistent",
        variational: bool = False,
        denoising: Corruption | None = None,
        seeds: list[NonNegativeInt] | None = None,
    ) -> None:
        super().__init__()
        # Rebind to checked plain values: save_hyperparameters reads these locals.
        input_dim = check("input_dim", input_dim, PositiveInt)
        hidden_sizes = check_each("hidden_sizes", hidden_sizes, PositiveInt)
        latent_dim = check("latent_dim", latent_dim, PositiveInt)
        lr = check("lr", lr, PositiveFloat)
        betas = check_each("betas", betas, Beta)
        if lr_step_epochs is not None:
            lr_step_epochs = check("lr_step_epochs", lr_step_epochs, PositiveInt)
        lr_gamma = check("lr_gamma", lr_gamma, ClosedUnitInterval)
        check_choice("optimizer_state", optimizer_state, OptimizerState)
        if seeds is not None:
            self.pack = Pack(seeds)
            seeds = self.pack.seeds
        self.denoising = build(denoising, Corruption) if denoising is not None else None
        self.save_hyperparameters(ignore=["denoising"])
        self.hparams.update(denoising=describe(self.denoising) if denoising is not None else None)
        sizes = layer_sizes(input_dim, hidden_sizes, latent_dim)
        self.variational = bool(variational)
        self.population = StackedAutoencoder(len(self.pack), *sizes, self.variational)
        if seeds is not None:  # each network drawn as a run seeded with its seed draws it
            self.population.init_rows_as_alone_(seeds)
        self.adam = StackedAdam(self.population, betas, state=optimizer_state)
        self.lr = lr
        self.lr_step_epochs = lr_step_epochs
        self.lr_gamma = lr_gamma
        self.val_l1 = PopulationL1(len(self.pack))
        self.val_kl = PopulationMean(len(self.pack))
        #: Each network's last validation L1 (a pack keeps each trial's best from it).
        self.individual_l1 = torch.full((len(self.pack),), float("inf"))

    def forward(self, inputs: Tensor) -> Tensor:
        """Reconstruct a (batch, features) tensor (with the best network of a pack)."""
        _, best = self.best_individual()
        return self.population(inputs, torch.tensor([best], device=inputs.device))[0]

    def autoencoder(self) -> Autoencoder:
        """The trained network as a plain `nn.Module` (a copy; a pack's best)."""
        return self.population.individual(self.best_individual()[1])

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        """One epoch: a pass over the training set, then population callbacks (pruning)."""
        data = batch[0]
        epoch = self.current_epoch
        orders = pass_orders(self.pack.seeds, epoch, 0, len(data), data.device, self.shuffle)
        rate = torch.full(
            (len(self.pack),), self.learning_rate(epoch), dtype=torch.float64, device=self.device
        )

        rows = torch.arange(len(self.pack))
        losses_of = own_losses(self.population, self.sampling(rows, rows, epoch, 0))

        networks = torch.arange(len(self.pack), device=self.device)
        losses = train_pass(
            self.population,
            self.adam,
            rate,
            data,
            orders,
            self.batch_size,
            losses_of,
            masked=self.population.pruned(),
            corrupt=self.corruption(rows, rows, epoch, 0),
        )
        finite = torch.isfinite(losses).all(1)
        if not bool(finite.all()):
            step = int((~finite).nonzero()[0])
            self._stop_diverged(float(losses[step, 0]), step)
        self.notify_pairs_trained(networks)
        self.log_train_loss(losses.mean(0))
        self.log(keys.LR, rate[0].float(), on_step=False, on_epoch=True)
        self.pack.log(self, keys.LR, rate.float(), on_step=False, on_epoch=True)
        self.count_generation()

    def learning_rate(self, epoch: int) -> float:
        return self.lr * self.lr_gamma ** (epoch // self._lr_step_epochs())

    def _stop_diverged(self, loss: float, step: int) -> None:
        """Save the broken state for inspection and stop with what to do next."""
        checkpoint = self.trainer.checkpoint_callback
        folder = Path((checkpoint and checkpoint.dirpath) or self.trainer.default_root_dir)
        path = folder / "diverged.ckpt"
        self.trainer.save_checkpoint(path, weights_only=False)
        good = (checkpoint and (checkpoint.last_model_path or checkpoint.best_model_path)) or None
        raise Diverged(
            f"training diverged at epoch {self.current_epoch}, batch {step}: the loss is "
            f"{loss}. The state at that point is saved to {path} for inspection; the last good "
            f"checkpoint is {good or 'not written yet'}. Try a lower model.init_args.lr "
            f"(now {self.lr})."
        )

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.score_validation(self.population, batch[0], slice(0, len(self.pack)))

    def on_validation_epoch_end(self) -> None:
        per_network = self.val_l1.compute()
        self.individual_l1 = per_network.detach().cpu()
        self.log(keys.VAL_L1, per_network.min(), prog_bar=True)
        self.pack.log(self, keys.VAL_L1, per_network)  # independent trials: each one's own
        if self.variational:
            divergence = self.val_kl.compute().reshape(-1)  # torchmetrics squeezes one value
            self.log(keys.VAL_KL, divergence[per_network.argmin()])
            self.pack.log(self, keys.VAL_KL, divergence)
        self.log_model_size()

    def best_individual(self) -> tuple[StackedAutoencoder, int]:
        return self.population, int(self.individual_l1.argmin())  # 0 alone

    def pruning_target(self) -> StackedAutoencoder:
        return self.population

    def prune_(self, rows: Tensor, masks: list[Masks], regrow: bool = False) -> None:
        self.population.prune_(rows, masks, regrow)
        self.adam.apply_masks_(self.population, rows)

    def _lr_step_epochs(self) -> int:
        if self.lr_step_epochs is not None:
            return self.lr_step_epochs
        max_epochs = self.trainer.max_epochs if compat.attached_trainer(self) is not None else None
        if max_epochs is None or max_epochs < 1:
            raise ConfigError(
                "model.lr_step_epochs must be set when trainer.max_epochs is unbounded "
                f"(got max_epochs={max_epochs})"
            )
        return max(1, max_epochs // 4)
