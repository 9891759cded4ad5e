"""Canonical training: one autoencoder trained by gradient descent (the paper's baseline).

It is a population of one on the same stacked path that coevolution uses, so
pruning callbacks, checkpoints and export treat both regimes alike.
"""

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MeanAbsoluteError

from lit_evoae.errors import ConfigError, Diverged
from lit_evoae.nets import Autoencoder, layer_sizes
from lit_evoae.population.stacked import StackedAutoencoder
from lit_evoae.systems.base import AutoencoderSystem
from lit_evoae.validation import (
    Beta,
    ClosedUnitInterval,
    PositiveFloat,
    PositiveInt,
    check,
    check_each,
)


class CanonicalAutoencoder(AutoencoderSystem):
    """Adam(lr, betas) with StepLR; mean L1 reconstruction loss.

    Args:
        input_dim: width of an input vector (the CLI links it from the data module).
        hidden_sizes: encoder hidden widths; the decoder mirrors them.
        latent_dim: code width (10 in the paper, 2 for the "small" network).
        lr: Adam's learning rate.
        betas: Adam's moment coefficients.
        lr_step_epochs: StepLR period; None means max(1, max_epochs // 4), the paper's.
        lr_gamma: StepLR decay factor.
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
        self.save_hyperparameters()
        self.population = StackedAutoencoder(1, *layer_sizes(input_dim, hidden_sizes, latent_dim))
        self.lr = lr
        self.betas = betas
        self.lr_step_epochs = lr_step_epochs
        self.lr_gamma = lr_gamma
        self.val_l1 = MeanAbsoluteError()

    def forward(self, inputs: Tensor) -> Tensor:
        """Reconstruct a (batch, features) tensor."""
        return self.population(inputs)[0]

    def autoencoder(self) -> Autoencoder:
        """The trained network as a plain `nn.Module` (a copy)."""
        return self.population.individual(0)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        inputs = batch[0]
        loss = F.l1_loss(self(inputs), inputs)
        if not torch.isfinite(loss):
            self._stop_diverged(float(loss.detach()), batch_idx)
        self.log_train_loss(loss)
        return loss

    def _stop_diverged(self, loss: float, batch_idx: int) -> None:
        """Save the broken state for inspection and stop with what to do next."""
        checkpoint = self.trainer.checkpoint_callback
        folder = Path((checkpoint and checkpoint.dirpath) or self.trainer.default_root_dir)
        path = folder / "diverged.ckpt"
        self.trainer.save_checkpoint(path)
        good = (checkpoint and (checkpoint.last_model_path or checkpoint.best_model_path)) or None
        raise Diverged(
            f"training diverged at epoch {self.current_epoch}, batch {batch_idx}: the loss is "
            f"{loss}. The state at that point is saved to {path} for inspection; the last good "
            f"checkpoint is {good or 'not written yet'}. Try a lower model.init_args.lr "
            f"(now {self.lr})."
        )

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Pruned weights get no gradient, so Adam (whose moments there are zero) leaves them 0.
        if self.population.pruned():
            for linear in self.population.linears():
                linear.weight.grad.mul_(linear.weight_mask)
                linear.bias.grad.mul_(linear.bias_mask)

    def finish_train_batch(self, batch_idx: int) -> None:
        if batch_idx + 1 == self.trainer.num_training_batches:  # the epoch's training is done
            self.notify_pairs_trained(torch.zeros(1, dtype=torch.long, device=self.device))

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        inputs = batch[0]
        self.val_l1(self(inputs), inputs)
        self.log("val/l1", self.val_l1, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        self.log_model_size()

    def best_individual(self) -> tuple[StackedAutoencoder, int]:
        return self.population, 0

    def pruning_target(self) -> StackedAutoencoder:
        return self.population

    @torch.no_grad()
    def masks_changed(self, rows: Tensor) -> None:
        self.population.apply_masks_()
        if self._trainer is None:
            return
        for optimizer in self.trainer.optimizers:
            for linear in self.population.linears():
                for parameter, mask in (
                    (linear.weight, linear.weight_mask),
                    (linear.bias, linear.bias_mask),
                ):
                    for moment in optimizer.state.get(parameter, {}).values():
                        if moment.shape == parameter.shape:
                            moment.mul_(mask)

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.population.parameters(), lr=self.lr, betas=self.betas)
        scheduler = torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=self._lr_step_epochs(), gamma=self.lr_gamma
        )
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def _lr_step_epochs(self) -> int:
        if self.lr_step_epochs is not None:
            return self.lr_step_epochs
        max_epochs = self.trainer.max_epochs
        if max_epochs is None or max_epochs < 1:
            raise ConfigError(
                "model.lr_step_epochs must be set when trainer.max_epochs is unbounded "
                f"(got max_epochs={max_epochs})"
            )
        return max(1, max_epochs // 4)
