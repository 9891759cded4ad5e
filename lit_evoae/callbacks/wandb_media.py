"""The WandbMedia callback: what the scalar metrics cannot show, as W&B media.

Every few generations it logs the best individual's reconstructions of the first validation
inputs as one image, and for each of its linear layers a histogram of how much of every
unit's incoming weights is still live. It acts only through a `WandbLogger`, so with CSV
logging it does nothing.
"""

import math

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.trainer.states import TrainerFn
from torch import Tensor

from lit_evoae.arguments import PositiveInt, check
from lit_evoae.nets import eval_mode
from lit_evoae.population.stacked import StackedAutoencoder, StackedLinear
from lit_evoae.systems.base import AutoencoderSystem

#: Height in pixels of one example's strip when inputs are not square images.
STRIP_HEIGHT = 8
RECONSTRUCTIONS_KEY = "val/reconstructions"
MASKS_PREFIX = "masks/"


class WandbMedia(pl.Callback):
    """Log reconstructions and per-layer live-weight histograms of the best individual to W&B.

    Args:
        every_n_epochs: log after the validation of every n-th epoch (and of the last one).
        examples: how many validation inputs (the first ones) to reconstruct.
    """

    def __init__(self, every_n_epochs: PositiveInt = 10, examples: PositiveInt = 8) -> None:
        self.every_n_epochs = check("wandb_media.every_n_epochs", every_n_epochs, PositiveInt)
        self.examples = check("wandb_media.examples", examples, PositiveInt)
        self._inputs = torch.empty(0)  # the first `examples` validation inputs, on the CPU

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs,
        batch,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if dataloader_idx != 0 or len(self._inputs) >= self.examples:
            return
        if not wandb_loggers(trainer):
            return
        wanted = batch[0][: self.examples - len(self._inputs)].detach().float().cpu()
        self._inputs = torch.cat([self._inputs, wanted])

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Not on_validation_epoch_end: the system picks its best individual in that hook, and
        # callbacks run before the module.
        loggers = wandb_loggers(trainer)
        if not loggers or trainer.sanity_checking or not trainer.is_global_zero:
            return
        if not isinstance(pl_module, AutoencoderSystem) or not self._due(trainer):
            return
        import wandb  # here, not at import time: it is slow to import and only needed now

        population, index = pl_module.best_individual()
        media = {
            f"{MASKS_PREFIX}{name}": wandb.Histogram(fraction.numpy())
            for name, fraction in live_weight_fractions(population, index).items()
        }
        if len(self._inputs):
            picture, caption = reconstruction_picture(self._inputs, self._reconstruct(pl_module))
            media[RECONSTRUCTIONS_KEY] = wandb.Image(picture.numpy(), caption=caption)
        for logger in loggers:
            logger.log_metrics(media, step=trainer.global_step)

    def _due(self, trainer: pl.Trainer) -> bool:
        if trainer.state.fn != TrainerFn.FITTING:  # a standalone validation: always log
            return True
        epoch = trainer.current_epoch + 1
        return epoch % self.every_n_epochs == 0 or epoch == trainer.max_epochs

    @torch.no_grad()
    def _reconstruct(self, system: AutoencoderSystem) -> Tensor:
        """The best individual's reconstructions of the kept inputs (its `forward`)."""
        with eval_mode(system):
            return system(self._inputs.to(system.device)).float().cpu()


def wandb_loggers(trainer: pl.Trainer) -> list[WandbLogger]:
    return [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]


@torch.no_grad()
def live_weight_fractions(population: StackedAutoencoder, index: int) -> dict[str, Tensor]:
    """Per linear layer of individual `index`, each unit's fraction of nonzero incoming
    weights, keyed by the layer's name in the population (`encoders.0`, as its mask buffer is
    named in checkpoints). Nonzero rather than the mask: with `pruning.regrow` the masks stay
    open and only the zeroed weights show what was pruned."""
    return {
        name: (layer.weight[index] != 0).float().mean(dim=0).cpu()  # column j: unit j's inputs
        for name, layer in population.named_modules()
        if isinstance(layer, StackedLinear)
    }


def reconstruction_picture(inputs: Tensor, reconstructions: Tensor) -> tuple[Tensor, str]:
    """One 8-bit grayscale picture of (examples, features) inputs and their reconstructions,
    with a caption saying how to read it.

    Square feature counts (784 = 28 x 28) are drawn as square images, inputs in the top row
    and reconstructions below; other widths as one horizontal strip per vector, each input
    above its reconstruction.
    """
    count, width = inputs.shape
    pairs = torch.stack([inputs, reconstructions])  # (2, count, width)
    side = math.isqrt(width)
    if side * side == width:
        picture = pairs.view(2, count, side, side).permute(0, 2, 1, 3).reshape(2 * side, -1)
        caption = "top: inputs; bottom: the best individual's reconstructions"
    else:
        picture = pairs.transpose(0, 1).reshape(2 * count, width)
        picture = picture.repeat_interleave(STRIP_HEIGHT, dim=0)
        caption = "strips: each input above the best individual's reconstruction of it"
    return (picture.clamp(0, 1) * 255).round().to(torch.uint8), caption
