"""What every system shares: the generation's frame in Lightning, the callback contract, the
test of its best individual and the model-size metrics."""

from abc import ABC, abstractmethod

import pytorch_lightning as pl
import torch
from torch import Tensor
from torchmetrics import MeanAbsoluteError

from lit_evoae import compat, keys
from lit_evoae.checkpoints import SYSTEM_KEY
from lit_evoae.data.base import TensorDataModule
from lit_evoae.errors import ConfigError
from lit_evoae.metrics import row_chunks, split_l1
from lit_evoae.population.corruption import (
    INPUT_NOISE,
    LATENT_NOISE,
    Corruption,
    noise_generators,
    per_stream,
)
from lit_evoae.population.optim import PopulationStep
from lit_evoae.population.packing import Pack
from lit_evoae.population.stacked import StackedAutoencoder
from lit_evoae.pruning.masks import Masks


class PopulationCallback(pl.Callback):
    """A Lightning callback that the systems also call inside a generation, between a group
    of pairs' training and its replacement (pruning is one). Subclass it, override
    `on_pairs_trained`.
    """

    def on_pairs_trained(
        self, trainer: pl.Trainer, system: "AutoencoderSystem", cells: Tensor
    ) -> None:
        """Row i of `system.pruning_target()` holds the pair just trained for cell `cells[i]`
        (a canonical run: row 0, cell 0). Masks are changed through `system.prune_(rows,
        masks)`; the pairs then replace their cells' centers."""

    def on_pruned(
        self, trainer: pl.Trainer, system: "AutoencoderSystem", cells: Tensor, closed: list[Tensor]
    ) -> None:
        """Pruning just closed, at each of `cells`, the weight positions `closed` (one bool
        tensor (len(cells), out, in) per linear layer, in `linears()` order)."""

    def on_generation_end(self, trainer: pl.Trainer, system: "AutoencoderSystem") -> None:
        """A generation's training and pruning are done (before its validation)."""


class AutoencoderSystem(pl.LightningModule, ABC):
    """Base of the systems: subclasses say which population and which individual is "best";
    `forward` reconstructs with that individual. Metric names are shared so that every later
    tool can rely on them.

    One Lightning training step is one whole generation: the training loader hands over the
    whole training split once per epoch (see `TensorDataModule`) and the system walks its
    minibatches itself. Callbacks that act inside the generation (pruning) implement
    `PopulationCallback.on_pairs_trained`, which the system calls after training and
    before anything else uses the trained individuals.
    """

    #: Individuals a cell sees, itself included (the population schedule's n, as the
    #: reference computes it); a canonical run sees itself alone.
    neighbourhood_size: int = 1

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.test_l1 = MeanAbsoluteError()
        self.batch_size: int | None = None
        self.shuffle = True  # the data module's: whether each pass shuffles the examples
        #: The independent trials in the population: a run alone is a pack of one.
        self.pack = Pack.of_run(None)
        #: What training passes do to the input (a denoising system's), None: nothing.
        self.denoising: Corruption | None = None
        #: Whether the networks are variational (see `StackedAutoencoder`).
        self.variational = False

    def corruption(self, group: Tensor, trained: Tensor, generation: int, pass_index: int):
        """`train_pass`'s `corrupt` for pass `pass_index` of generation `generation`, which
        trains the rows `group` of the pack, of which this process `trained` (None without
        denoising): see `pass_noise`."""
        if self.denoising is None:
            return None
        noise = self.pass_noise(group, trained, generation, pass_index, INPUT_NOISE)
        return lambda clean: self.denoising.apply(
            clean, noise(clean.shape, self.denoising.draw).to(clean.device)
        )

    def sampling(
        self, group: Tensor, trained: Tensor, generation: int, pass_index: int, purpose=LATENT_NOISE
    ):
        """`sample(shape)` of a variational system's latent noise, N(0, 1), for the same pass
        (None for other systems): the cell evaluation's, or selection's with its `purpose`
        (see `pass_noise`)."""
        if not self.variational:
            return None
        noise = self.pass_noise(group, trained, generation, pass_index, purpose)
        device = self.pruning_target().encoders[0].weight.device
        return lambda shape: noise(shape, lambda s, g: torch.randn(s, generator=g)).to(device)

    def pass_noise(self, group, trained, generation: int, pass_index: int, purpose: int):
        """`noise(shape, draw)` for the rows `trained` of `group`: each trial's stream of the
        pass draws for all its rows of the group, on every rank, and each rank keeps its own,
        so a cell's noise is the same however the cells are sharded or packed."""
        generators = noise_generators(self.pack.seeds, generation, pass_index, purpose)
        streams = self.pack.streams(group, generators)
        kept = torch.isin(group, trained).nonzero().squeeze(1)
        return lambda shape, draw: per_stream((len(group), *shape[1:]), streams, draw)[kept]

    def on_validation_epoch_start(self) -> None:
        # Here: state made under validate()'s inference mode is frozen.
        self.val_l1.reset()
        self.val_kl.reset()

    def score_validation(self, population: StackedAutoencoder, inputs: Tensor, rows: slice):
        """Add the L1 (and a variational population's KL) of its individuals `rows` on a
        validation batch to `val_l1` (`val_kl`), a chunk of individuals at a time."""
        for chunk in row_chunks(rows, inputs.numel()):
            each = inputs.expand(chunk.stop - chunk.start, *inputs.shape)
            code, divergence = population.latent(each, chunk)
            self.val_l1.update(population.decode(code, chunk), inputs, chunk)
            if divergence is not None:
                self.val_kl.update(divergence, len(inputs), chunk)

    @abstractmethod
    def best_individual(self) -> tuple[StackedAutoencoder, int]:
        """The population that holds the best individual, and its index there."""

    @abstractmethod
    def pruning_target(self) -> StackedAutoencoder:
        """The population whose just-trained individuals pruning acts on."""

    def pruning_target_cells(self) -> Tensor:
        """The cell of each row of `pruning_target()` as it is trained now (the current
        group's, for a population)."""
        return torch.arange(self.pack.size)

    @abstractmethod
    def prune_(self, rows: Tensor, masks: list[Masks], regrow: bool = False) -> None:
        """Give rows `rows` of `pruning_target()` the new `masks` (one (weight, bias) pair per
        linear layer) and zero the weights and optimiser moments they exclude; see
        `StackedAutoencoder.prune_` for `regrow`."""

    def setup(self, stage: str) -> None:
        if stage == "fit":
            data = self.trainer.datamodule
            if not isinstance(data, TensorDataModule):
                raise ConfigError(
                    f"{type(self).__name__} trains a whole generation per step and needs a "
                    "lit_evoae data module (BinaryClusteringDataModule, ImageDataModule); got "
                    f"{type(data).__name__}"
                )
            self.batch_size, self.shuffle = data.batch_size, data.shuffle

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Which system wrote it, so `lit-evoae export` can rebuild it from the file alone.
        checkpoint[SYSTEM_KEY] = f"{type(self).__module__}.{type(self).__qualname__}"

    def notify_pairs_trained(self, cells: Tensor) -> None:
        for trainer, callback in self._population_callbacks():
            callback.on_pairs_trained(trainer, self, cells)

    def notify_pruned(self, cells: Tensor, closed: list[Tensor]) -> None:
        for trainer, callback in self._population_callbacks():
            callback.on_pruned(trainer, self, cells, closed)

    def count_generation(self) -> None:
        """End a generation: population callbacks hear of it, and Lightning is told a step
        was made, so `global_step` counts generations (ModelCheckpoint saves only at a
        global step it has not saved at)."""
        for trainer, callback in self._population_callbacks():
            callback.on_generation_end(trainer, self)
        if compat.attached_trainer(self) is not None:
            self.optimizers().step(closure=lambda: None)

    def _population_callbacks(self) -> list[tuple[pl.Trainer, PopulationCallback]]:
        trainer = compat.attached_trainer(self)
        callbacks = trainer.callbacks if trainer is not None else []
        return [(trainer, c) for c in callbacks if isinstance(c, PopulationCallback)]

    def configure_optimizers(self) -> PopulationStep:
        return PopulationStep([p for p in self.parameters() if p.requires_grad])

    def log_train_loss(self, losses: Tensor) -> None:
        """The generation's mean training loss, one per trial of the pack: over the pack,
        and each trial's."""
        if compat.attached_trainer(self) is not None:
            self.log(keys.TRAIN_LOSS, losses.mean(), on_step=False, on_epoch=True, prog_bar=True)
            self.pack.log(self, keys.TRAIN_LOSS, losses, on_step=False, on_epoch=True)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        inputs = batch[0]
        self.test_l1(self(inputs), inputs)
        self.log(keys.TEST_L1, self.test_l1)

    def on_test_epoch_end(self) -> None:
        self.log_model_size()

    def on_fit_end(self) -> None:
        """The paper's metric: every final center scored on the training and test splits."""
        trainer = compat.attached_trainer(self)
        per_cell = self.final_per_cell(trainer.datamodule)  # every center scored once
        metrics = {key: float(value) for key, value in self.final_metrics(per_cell).items()}
        if self.pack.trial_logs is not None:  # each trial's own: to its own log
            self.pack.trial_logs.final(self.final_of_each_trial(per_cell))
        trainer.callback_metrics.update({key: torch.tensor(v) for key, v in metrics.items()})
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
            logger.save()

    def final_metrics(self, per_cell: dict[str, Tensor]) -> dict[str, Tensor]:
        """final/train_l1_mean (the paper's number: the mean over cells of each center's
        training L1), final/test_l1_mean, final/train_l1_best, final/capacity (mean fraction
        of nonzero parameters) and final/capacity_at_last_prune (the fraction the last
        pruning of each lineage left, the paper's capacity when pruned weights regrow); and
        each cell's final/train_l1. Over the whole pack; each trial's too in a pack of
        several, unless the pack has trial logs (see `final_of_each_trial`). From
        `final_per_cell`."""
        metrics = {}
        each = len(self.pack) > 1 and self.pack.trial_logs is None
        for name, values in per_cell.items():
            best = name == "train_l1_best"
            metrics[keys.final(name)] = values.min() if best else values.mean()
            if each:
                metrics.update(self.pack.named(keys.final(name), self._reduced(name, values)))
        if self.pack.trial_logs is None:
            train = per_cell["train_l1_mean"]
            metrics.update({keys.cell(keys.final("train_l1"), c): v for c, v in enumerate(train)})
        return metrics

    def final_of_each_trial(self, per_cell: dict[str, Tensor]) -> dict[str, Tensor]:
        """`final_metrics`' keys as a run alone logs them, each (trials,): every trial's own,
        from `final_per_cell`."""
        final = {keys.final(name): self._reduced(name, v) for name, v in per_cell.items()}
        cells = self.pack.each(per_cell["train_l1_mean"]).T
        final.update({keys.cell(keys.final("train_l1"), c): v for c, v in enumerate(cells)})
        return final

    def _reduced(self, name: str, values: Tensor) -> Tensor:
        each = self.pack.each(values)
        return each.amin(1) if name == "train_l1_best" else each.mean(1)

    def final_per_cell(self, data: TensorDataModule) -> dict[str, Tensor]:
        """Each final quantity (keys.FINAL_NAMES) of every cell of the pack."""
        population, _ = self.best_individual()
        splits = {name: data.splits[name].tensors[0] for name in ("train", "test")}
        train, test = (
            split_l1(population, inputs, data.eval_batch_size) for inputs in splits.values()
        )
        quantities = (
            train,
            test,
            train,
            1 - population.sparsity(),
            population.capacity_at_last_prune(),
        )
        return dict(zip(keys.FINAL_NAMES, quantities, strict=True))

    def log_model_size(self) -> None:
        population, index = self.best_individual()
        params = float(population.parameters_per_individual())
        sparsity = population.sparsity()
        self.log(keys.MODEL_PARAMS, params)
        self.log(keys.MODEL_SPARSITY, sparsity[index])
        for key, live in zip(
            (keys.MODEL_ENCODER_LIVE, keys.MODEL_DECODER_LIVE),
            population.live_parameters(),
            strict=True,
        ):
            means = self.pack.each(live.float()).mean(1)
            self.log(key, means.mean())
            self.pack.log(self, key, means)
        if self.pack.logs_each_trial:  # each trial's best individual
            l1 = self.pack.each(self.individual_l1)
            best = l1.argmin(1).cpu() + torch.arange(len(l1)) * l1.shape[1]
            self.pack.log(self, keys.MODEL_PARAMS, torch.full((len(l1),), params))
            self.pack.log(self, keys.MODEL_SPARSITY, sparsity[best.to(sparsity.device)])
