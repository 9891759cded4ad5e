"""Coevolutionary training: a population of encoder/decoder cells on a spatial topology.

One Lightning epoch is one generation. At its first batch every cell scores the
pairings of its neighbourhood's centers, selects a pair by tournament and copies
it (weights, masks, optimiser moments) into its *trainee* slot; the trainees
train on the epoch's batches with the cell's own learning rate; after the last
batch, callbacks that define `on_pairs_trained` (pruning) see the trained pairs,
the pairs replace the centers and the learning rates mutate. Validation then
scores every center and the best cell's error is `val/l1`.

In `sequential` order a generation makes one pass over the training data per
cell, visiting cells one at a time in a shuffled order.
"""

import contextlib
import inspect
from functools import partial
from typing import Any

import torch
from pytorch_lightning.utilities import rank_zero_warn
from torch import Tensor

from lit_evoae.components import build, describe
from lit_evoae.data.base import TensorDataModule
from lit_evoae.errors import ConfigError
from lit_evoae.metrics import PopulationL1
from lit_evoae.nets import Autoencoder, layer_sizes
from lit_evoae.population.optim import PopulationStep, StackedAdam
from lit_evoae.population.stacked import StackedAutoencoder, copy_individuals_
from lit_evoae.population.strategy import CoevolutionStrategy, PairingPlan
from lit_evoae.population.topology import Ring, Topology
from lit_evoae.systems.base import AutoencoderSystem
from lit_evoae.validation import (
    Beta,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    check,
    check_each,
)


class CoevolutionaryAutoencoder(AutoencoderSystem):
    """A coevolving population of autoencoders (Lipizzaner-style, as in the paper).

    Args:
        input_dim: width of an input vector (the CLI links it from the data module).
        hidden_sizes: encoder hidden widths; the decoder mirrors them.
        latent_dim: code width (10 in the paper, 2 for the "small" network).
        topology: the grid; None means `Ring(size=10, radius=1)`, the paper's.
        strategy: selection, mutation and update order; None means the defaults.
        lr: every cell's initial learning rate.
        betas: Adam's moment coefficients (each individual keeps its own moments).
        evolution_seed: seed of selection, pairing and mutation draws; None uses the run's
            seed (seed_everything).
    """

    def __init__(
        self,
        input_dim: PositiveInt,
        hidden_sizes: tuple[PositiveInt, ...] = (30,),
        latent_dim: PositiveInt = 10,
        topology: Topology | None = None,
        strategy: CoevolutionStrategy | None = None,
        lr: PositiveFloat = 1e-5,
        betas: tuple[Beta, Beta] = (0.5, 0.999),
        evolution_seed: NonNegativeInt | None = None,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        input_dim = check("input_dim", input_dim, PositiveInt)
        hidden_sizes = check_each("hidden_sizes", hidden_sizes, PositiveInt)
        latent_dim = check("latent_dim", latent_dim, PositiveInt)
        lr = check("lr", lr, PositiveFloat)
        betas = check_each("betas", betas, Beta)
        evolution_seed = (
            torch.initial_seed()
            if evolution_seed is None
            else check("evolution_seed", evolution_seed, NonNegativeInt)
        )
        self.topology = build(topology, Topology) if topology is not None else Ring()
        self.strategy = (
            build(strategy, CoevolutionStrategy) if strategy is not None else CoevolutionStrategy()
        )
        # Plain values only: checkpoints must load with torch.load(weights_only=True).
        self.save_hyperparameters(ignore=["topology", "strategy"])
        self.hparams["topology"] = describe(self.topology)
        self.hparams["strategy"] = describe(self.strategy)

        size = self.topology.size
        sizes = layer_sizes(input_dim, hidden_sizes, latent_dim)
        self.centers = StackedAutoencoder(size, *sizes).requires_grad_(False)
        self.center_adam = StackedAdam(self.centers, betas)
        self.trainees = StackedAutoencoder(size, *sizes)
        self.trainee_adam = StackedAdam(self.trainees, betas)
        self.register_buffer("learning_rates", torch.full((size,), lr, dtype=torch.float64))
        self.register_buffer("selection_loss", torch.zeros(size))
        self.register_buffer("order", torch.arange(size))  # sequential visiting order
        self.register_buffer("best_index", torch.tensor(0))
        # Each center's last validation L1: a diverged cell takes its neighbourhood's best.
        self.register_buffer("center_l1", torch.full((size,), float("inf")))
        self.plan = PairingPlan(self.topology.neighbourhoods())
        self._trainees_pruned = True  # whether gradients need masking; set at each selection
        self.generator = torch.Generator().manual_seed(evolution_seed)
        self.val_l1 = PopulationL1(size)

    @property
    def population_size(self) -> int:
        return self.topology.size

    @property
    def sequential(self) -> bool:
        return self.strategy.update_order == "sequential"

    def forward(self, inputs: Tensor) -> Tensor:
        """Reconstruct a (batch, features) tensor with the best cell's center."""
        return self.centers(inputs, self.best_index.view(1))[0]

    def autoencoder(self) -> Autoencoder:
        """The best cell's center as a plain `nn.Module` (a copy)."""
        return self.centers.individual(int(self.best_index))

    # ----------------------------------------------------------------- generation
    def setup(self, stage: str) -> None:
        if stage == "fit" and self._world_size() > 1:
            self._prepare_sharding()
        if stage == "fit" and self.sequential:
            data = self.trainer.datamodule
            if not isinstance(data, TensorDataModule):
                raise ConfigError(
                    "strategy.update_order='sequential' needs a lit_evoae data module "
                    "(it trains one cell per pass over the data); use 'synchronous' otherwise"
                )
            data.train_passes = self.population_size

    def teardown(self, stage: str) -> None:
        data = self._trainer.datamodule if self._trainer is not None else None
        if stage == "fit" and isinstance(data, TensorDataModule):
            data.train_passes = 1  # the data module may be reused with another system

    # ----------------------------------------------------------------- sharding (DDP)
    def _world_size(self) -> int:
        return self.trainer.world_size if self._trainer is not None else 1

    def _block(self) -> slice | None:
        """This rank's contiguous block of cells under DDP; None on a single process."""
        world = self._world_size()
        if world == 1:
            return None
        size = self.population_size // world
        return slice(self.global_rank * size, (self.global_rank + 1) * size)

    def _prepare_sharding(self) -> None:
        world = self._world_size()
        if self.sequential:
            raise ConfigError(
                "strategy.update_order='sequential' visits cells one after another, which "
                f"cannot be split over {world} processes; use 'synchronous' with DDP"
            )
        if self.population_size % world:
            raise ConfigError(
                f"{self.population_size} cells cannot be split evenly over {world} processes; "
                "use a number of devices x nodes that divides the topology's size"
            )
        # Every rank trains on the whole training set (its cells' generation), so the
        # training loader must not be split by a DistributedSampler; and buffers (masks,
        # Adam moments) differ between ranks until shared, so DDP must not broadcast them.
        self.trainer._accelerator_connector.use_distributed_sampler = False
        ddp_kwargs = getattr(self.trainer.strategy, "_ddp_kwargs", None)
        if ddp_kwargs is not None:
            parameters = inspect.signature(torch.nn.parallel.DistributedDataParallel).parameters
            option = (
                "forward_sync_buffers"
                if "forward_sync_buffers" in parameters
                else "broadcast_buffers"
            )
            ddp_kwargs[option] = False

    def _no_gradient_sync(self):
        wrapper = self.trainer.model
        return wrapper.no_sync() if hasattr(wrapper, "no_sync") else contextlib.nullcontext()

    @torch.no_grad()
    def _share_block(self, *names: str) -> dict[str, Tensor]:
        """Give every rank every other rank's block of each tensor of the named stacked
        submodules (population first); returns the full tensors by state_dict key."""
        block = self._block()
        shared = {}
        if block is None:
            return shared
        for prefix in names:
            module = getattr(self, prefix)
            for name, tensor in module.state_dict(keep_vars=True).items():
                part = tensor.data[block]
                wire = part.to(torch.uint8) if part.dtype == torch.bool else part
                gathered = self.trainer.strategy.all_gather(wire.contiguous())
                tensor.data.copy_(gathered.reshape(-1, *part.shape[1:]).to(part.dtype))
                shared[f"{prefix}.{name}"] = tensor.data
        return shared

    def _steps_per_cell(self) -> int:
        steps = self.trainer.num_training_batches // self.population_size
        if steps < 1:
            raise ConfigError(
                f"sequential order needs at least {self.population_size} training batches per "
                f"generation (one per cell); got {self.trainer.num_training_batches}"
            )
        return steps

    def _active_cell(self, batch_idx: int) -> int | None:
        """The cell trained at this batch in sequential order (None past the last cell)."""
        position = batch_idx // self._steps_per_cell()
        return int(self.order[position]) if position < self.population_size else None

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor | None:
        inputs = batch[0]
        if not self.sequential:
            if batch_idx == 0:  # every rank selects for all cells: the same draws everywhere
                self._select(inputs, torch.arange(self.population_size, device=self.device))
            losses = self._train(inputs, active=self._block())
        else:
            if batch_idx == 0:
                self.order.copy_(torch.randperm(self.population_size, generator=self.generator))
            cell = self._active_cell(batch_idx)
            if cell is None:
                return None
            if batch_idx % self._steps_per_cell() == 0:
                self._select(inputs, torch.tensor([cell], device=self.device))
            losses = self._train(inputs, active=cell)
        self.log_train_loss(losses.mean())
        return losses.mean()

    def finish_train_batch(self, batch_idx: int) -> None:
        last_batch = batch_idx + 1 == self.trainer.num_training_batches
        if not self.sequential:
            if last_batch:
                block = self._block() or slice(0, self.population_size)
                self._replace(torch.arange(block.start, block.stop, device=self.device))
                self._share_block("centers", "center_adam")
                self._end_generation()
            return
        steps = self._steps_per_cell()
        cell = self._active_cell(batch_idx)
        if cell is not None and (batch_idx + 1) % steps == 0:
            self._replace(torch.tensor([cell], device=self.device))
            if batch_idx + 1 == steps * self.population_size:
                self._end_generation()

    @torch.no_grad()
    def _select(self, inputs: Tensor, cells: Tensor) -> None:
        """Tournament in each of `cells`' neighbourhoods; copy the winners into the trainees."""
        losses = self.plan.losses(self.centers, inputs)[cells]
        winners, fitness = self.strategy.select(losses, self.generator)
        chosen = self.plan.neighbourhoods.to(self.device)[cells, winners.to(self.device)]
        copy_individuals_(self.trainees, self.centers, cells, chosen)
        copy_individuals_(self.trainee_adam, self.center_adam, cells, chosen)
        self.selection_loss[cells] = fitness
        self._trainees_pruned = self.trainees.pruned()

    def _train(self, inputs: Tensor, active: int | slice | None) -> Tensor:
        """One optimiser step of every trainee (or of trainee `active`, or of this rank's
        block `active`); per-trainee losses."""
        if isinstance(active, slice):
            index = torch.arange(active.start, active.stop, device=self.device)
        else:
            index = None if active is None else torch.tensor([active], device=self.device)
        if self.strategy.cell_evaluation == "lipi_simple":
            losses = _l1(self.trainees(inputs, index), inputs)
        else:
            losses = self._epoch_node_losses(inputs, index)
        adam, masked = self.trainee_adam, self._trainees_pruned
        update = partial(adam.step_, self.trainees, self.learning_rates, active, masked)
        if self._trainer is None:  # used outside Lightning (benchmarks, notebooks)
            losses.sum().backward()
            update()
        else:
            with self._no_gradient_sync():  # ranks train disjoint cells: nothing to average
                self.manual_backward(losses.sum())
            self.optimizers().step(closure=update)
        self.trainees.zero_grad(set_to_none=True)
        return losses.detach()

    def _epoch_node_losses(self, inputs: Tensor, index: Tensor | None) -> Tensor:
        """Trainee encoders against random neighbour decoders, and trainee decoders against
        random neighbour encoders (the centers are fixed partners)."""
        cells = torch.arange(self.population_size) if index is None else index.cpu()
        neighbourhoods = self.plan.neighbourhoods[cells]
        picks = torch.randint(neighbourhoods.shape[1], (len(cells), 2), generator=self.generator)
        decoders = neighbourhoods.gather(1, picks[:, :1]).squeeze(1).to(self.device)
        encoders = neighbourhoods.gather(1, picks[:, 1:]).squeeze(1).to(self.device)
        encoder_side = self.centers.decode(self.trainees.encode(inputs, index), decoders)
        decoder_side = self.trainees.decode(self.centers.encode(inputs, encoders), index)
        return (_l1(encoder_side, inputs) + _l1(decoder_side, inputs)) / 2

    def _replace(self, cells: Tensor) -> None:
        """Let pruning see the trained pairs, then make them the cells' centers; a pair that
        diverged (a non-finite weight) is dropped and its cell takes its neighbourhood's best."""
        self.notify_pairs_trained(cells)
        healthy = self.trainees.finite()[cells]
        self._recover(cells[~healthy])
        cells = cells[healthy]
        copy_individuals_(self.centers, self.trainees, cells, cells)
        copy_individuals_(self.center_adam, self.trainee_adam, cells, cells)

    def _recover(self, diverged: Tensor) -> None:
        """Copy into each diverged cell the center of lowest validation L1 in its
        neighbourhood (itself, before any validation): weights, masks, moments and rate."""
        if self._trainer is not None:
            self.log("gen/diverged", float(len(diverged)), on_step=False, on_epoch=True,
                     reduce_fx="sum", sync_dist=True)  # fmt: skip
        if len(diverged) == 0:
            return
        members = self.plan.neighbourhoods.to(self.device)[diverged]
        sources = members.gather(1, self.center_l1[members].argmin(1, keepdim=True)).squeeze(1)
        copy_individuals_(self.centers, self.centers, diverged, sources)
        copy_individuals_(self.center_adam, self.center_adam, diverged, sources)
        self.learning_rates[diverged] = self.learning_rates[sources]
        rank_zero_warn(f"generation {self.current_epoch}: cells {diverged.tolist()} diverged "
                       "(non-finite weights); each took its neighbourhood's best center "
                       f"(cells {sources.tolist()}) with its learning rate")  # fmt: skip

    def _end_generation(self) -> None:
        loss = self.selection_loss
        log = {
            "gen/best_loss": loss.min(),
            "gen/median_loss": loss.median(),
            "gen/worst_loss": loss.max(),
        }
        self.log_dict(log, on_step=False, on_epoch=True)
        self.learning_rates.copy_(self.strategy.mutate(self.learning_rates, self.generator))
        rates = {
            f"lr/cell_{cell:02d}": rate for cell, rate in enumerate(self.learning_rates.tolist())
        }
        self.log_dict(rates, on_step=False, on_epoch=True)

    # ----------------------------------------------------------------- evaluation
    def on_validation_epoch_start(self) -> None:
        # Reset here, not after compute: state made under validate()'s inference mode could
        # not be updated by a later validation that runs under no_grad.
        self.val_l1.reset()

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        inputs = batch[0]
        block = self._block()
        if block is None:
            self.val_l1.update(self.centers(inputs), inputs)
        else:  # each rank scores its own cells; the metric sums the ranks' rows on compute
            cells = torch.arange(block.start, block.stop, device=self.device)
            self.val_l1.update(self.centers(inputs, cells), inputs, block)

    def on_validation_epoch_end(self) -> None:
        per_cell = self.val_l1.compute()
        best = per_cell.argmin()
        self.best_index.copy_(best)
        self.center_l1.copy_(per_cell)
        self.log("val/l1", per_cell[best], prog_bar=True)
        self.log("val/l1_median", per_cell.median())
        if self.topology.trials > 1:  # independent trials: each one's best cell
            for trial, best_l1 in enumerate(per_cell.view(self.topology.trials, -1).amin(1)):
                self.log(f"val/l1/trial_{trial:02d}", best_l1)
        self.log_model_size()

    def best_individual(self) -> tuple[StackedAutoencoder, int]:
        return self.centers, int(self.best_index)

    def pruning_target(self) -> StackedAutoencoder:
        """The trained pairs: mask changes made here are carried into the centers."""
        return self.trainees

    def masks_changed(self, rows: Tensor) -> None:
        self.trainees.apply_masks_()
        self.trainee_adam.apply_masks_(self.trainees)
        self._trainees_pruned = True

    def configure_optimizers(self) -> PopulationStep:
        """The population's batched Adam, wrapped so that Lightning counts its steps."""
        return PopulationStep(self.trainees.parameters())

    # ----------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        # Under DDP each rank trained only its block of trainees: a mid-generation
        # checkpoint (pre-emption) needs them all. Every rank runs this hook.
        for key, full in self._share_block("trainees", "trainee_adam").items():
            checkpoint["state_dict"][key] = full.clone()
        checkpoint["evolution_generator"] = self.generator.get_state()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "evolution_generator" in checkpoint:
            self.generator.set_state(checkpoint["evolution_generator"])


def _l1(reconstructions: Tensor, inputs: Tensor) -> Tensor:
    """Mean L1 per individual: (n, batch, features) against (batch, features) -> (n,)."""
    return (reconstructions - inputs).abs().mean(dim=(1, 2))
