"""Coevolutionary training: a population of encoder/decoder cells on a spatial topology.

One Lightning epoch is one generation, and its one training step runs the generation
whole (`generation`): for each group of cells the update order gives, select, train over
one pass of the data, let population callbacks (pruning) see the trained pairs, replace;
then mutate the learning rates. Lightning's validation follows and scores every center;
the best cell's error is `val/l1`.
"""

from typing import Any

import torch
from pytorch_lightning.utilities import rank_zero_warn
from torch import Tensor

from lit_evoae import compat, keys
from lit_evoae.arguments import (
    Beta,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    check,
    check_choice,
    check_each,
)
from lit_evoae.components import build, describe
from lit_evoae.metrics import PopulationL1, PopulationMean
from lit_evoae.nets import Autoencoder, eval_mode, layer_sizes
from lit_evoae.population.cell_evaluation import AllVsAll
from lit_evoae.population.corruption import SELECTION_NOISE, Corruption
from lit_evoae.population.divergence import healing_sources
from lit_evoae.population.halves import copy_half_
from lit_evoae.population.memory import check_population_fits
from lit_evoae.population.optim import OptimizerState, StackedAdam
from lit_evoae.population.orders import Sequential
from lit_evoae.population.packing import Pack
from lit_evoae.population.pairings import Pairings, Selection
from lit_evoae.population.stacked import (
    StackedAutoencoder,
    copy_individuals_,
    reconstruction_l1,
)
from lit_evoae.population.strategy import CoevolutionStrategy
from lit_evoae.population.topology import Ring, Topology
from lit_evoae.population.training import pass_orders, steps_per_pass, train_pass
from lit_evoae.pruning.masks import Masks
from lit_evoae.systems.base import AutoencoderSystem
from lit_evoae.systems.scratch import leave_out_scratch, with_own_scratch
from lit_evoae.systems.sharding import Sharding


class CoevolutionaryAutoencoder(AutoencoderSystem):
    """A coevolving population of autoencoders (Lipizzaner-style, as in the paper).

    Args:
        input_dim: width of an input vector (the CLI links it from the data module).
        hidden_sizes: encoder hidden widths; the decoder mirrors them.
        latent_dim: code width (10 in the paper, 2 for the "small" network).
        topology: the grid; None means `Ring(size=10, radius=1)`, the paper's.
        strategy: selection, mutation and update order; None means the defaults.
        lr: every cell's initial learning rate.
        betas: Adam's moment coefficients.
        optimizer_state: persistent: every individual keeps its Adam moments (they move with
            it when selected); reset_every_step: a fresh Adam at every step, as the reference.
        variational: a variational autoencoder (the reference's): the encoder's last layer
            becomes a mean and a log-variance head, the code is sampled in training, the loss
            is binary cross-entropy plus KL divergence; validation and the test score the
            reconstruction from the mean (see `StackedAutoencoder`), selection as `selection`.
        selection: what a tournament scores a pairing by (`Selection`): loss, the network's
            training loss, as the reference's tournaments (for a variational network on a
            sampled code), or l1 from the mean code. The two differ only for a variational
            network (whose L1 they left the same in the environment study, n = 10).
        denoising: corrupt the input of every training pass (GaussianNoise, BitFlips) and
            train to reconstruct the clean one (a denoising autoencoder); None: no noise.
        seeds: one per trial, for several independent populations trained as one batched
            program (a study's pack, see `Pack`): trial t's weights, batch order, selection,
            mutation and pruning draws come from seeds[t] alone. None: one population, drawn
            from the run's seed (seed_everything).
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
        optimizer_state: OptimizerState = "persistent",
        variational: bool = False,
        selection: Selection = "loss",
        denoising: Corruption | None = None,
        seeds: list[NonNegativeInt] | None = None,
    ) -> None:
        super().__init__()
        sizes = layer_sizes(
            check("input_dim", input_dim, PositiveInt),
            check_each("hidden_sizes", hidden_sizes, PositiveInt),
            check("latent_dim", latent_dim, PositiveInt),
        )
        lr = check("lr", lr, PositiveFloat)
        betas = check_each("betas", betas, Beta)
        check_choice("optimizer_state", optimizer_state, OptimizerState)
        self.selection = check_choice("selection", selection, Selection)
        self.topology = build(topology, Topology) if topology is not None else Ring()
        strategy = CoevolutionStrategy() if strategy is None else strategy
        self.strategy = build(strategy, CoevolutionStrategy)
        # All-vs-all has no neighbourhoods: a cell trains one pair at a time, as a network.
        self.neighbourhood_size = (
            1 if self.strategy.all_vs_all else self.topology.neighbourhood_size()
        )
        size = self.topology.size * (1 if seeds is None else len(seeds))
        check_population_fits(size, self.neighbourhood_size, size, sizes, torch.device("cpu"))
        self.pack = Pack.of_run(seeds, cells=self.topology.size)
        # Plain values only: checkpoints must load with torch.load(weights_only=True).
        self.denoising = build(denoising, Corruption) if denoising is not None else None
        self.save_hyperparameters(ignore=["topology", "strategy", "denoising", "seeds"])
        self.hparams.update(
            topology=describe(self.topology),
            strategy=describe(self.strategy),
            denoising=describe(self.denoising) if denoising is not None else None,
            seeds=self.pack.seeds,
        )

        self.variational = bool(variational)
        self.centers = StackedAutoencoder(size, *sizes, self.variational).requires_grad_(False)
        for generator, rows in self.pack.blocks():  # each trial's weights from its own seed
            self.centers.reset_rows_(rows, generator)
        self.center_adam = StackedAdam(self.centers, betas, state=optimizer_state)
        self._make_trainees(size)
        self.register_buffer("learning_rates", torch.full((size,), lr, dtype=torch.float64))
        self.register_buffer("selection_loss", torch.zeros(size))
        self.register_buffer("best_index", torch.tensor(0))
        # Each center's last validation L1: a diverged cell takes its neighbourhood's best.
        self.register_buffer("center_l1", torch.full((size,), float("inf")))
        self.pairings = Pairings(self.pack.tile(self.topology.neighbourhoods()))
        self.sharding = Sharding(size)
        self.val_l1 = PopulationL1(size)
        self.val_kl = PopulationMean(size)
        leave_out_scratch(self)

    @property
    def population_size(self) -> int:
        return self.pack.size

    def forward(self, inputs: Tensor) -> Tensor:
        """Reconstruct a (batch, features) tensor with the best cell's center."""
        return self.centers(inputs, self.best_index.view(1))[0]

    def autoencoder(self) -> Autoencoder:
        """The best cell's center as a plain `nn.Module` (a copy)."""
        return self.centers.individual(int(self.best_index))

    def setup(self, stage: str) -> None:
        super().setup(stage)
        order = self.strategy.update_order
        if stage in ("fit", "validate"):
            training = self.strategy if stage == "fit" else None
            self.sharding = Sharding.prepare(self.trainer, self.population_size, training)
        if stage == "fit":  # trainee slots: as many as the cells this rank trains together
            slots = order.group_size(self.pack) // self.sharding.world
            sizes = (self.centers.encoder_sizes, self.centers.decoder_sizes)
            device = self.trainer.strategy.root_device
            cells = self.population_size
            check_population_fits(
                cells, self.neighbourhood_size, slots, sizes, device, self.batch_size
            )
            self._make_trainees(slots)

    # ----------------------------------------------------------------- the generation
    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.log_train_loss(self.generation(batch[0], self.current_epoch))
        self._log_generation()
        self.count_generation()

    def generation(self, data: Tensor, generation: int) -> Tensor:
        """One generation over the training set `data` (examples, features); returns each
        trial's mean training loss, (trials,). Validation (Lightning's loop) follows."""
        if self.strategy.all_vs_all:
            return self.all_vs_all(data, generation)
        losses = []
        for number, group in enumerate(self.strategy.update_order.groups(self.pack)):
            orders = pass_orders(
                self.pack.seeds, generation, number, len(data), data.device, self.shuffle
            )
            first_batches = data[orders[:, : self.batch_size]]
            self.select(group, first_batches, generation, number)
            cells = self.sharding.own(group)
            trained = self.train_pairs(cells, data, orders, generation, number, group)
            losses.append(self.pack.means(trained.mean(0), cells))
            self.prune_and_score(cells, first_batches)
            self.replace(cells)
        self.sharding.share_(compat.attached_trainer(self), self.centers, self.center_adam)
        self.mutate()
        return torch.stack(losses).mean(0)

    def all_vs_all(self, data: Tensor, generation: int) -> Tensor:
        """A generation of AllVsAll: round by round, encoder cells e[k] train with decoder
        cells d[k] and each half returns to its own cell; no selection."""
        one_pair_at_a_time = isinstance(self.strategy.update_order, Sequential)
        losses = []
        for number, (encoders, decoders) in enumerate(
            AllVsAll.rounds(self.pack, one_pair_at_a_time)
        ):
            orders = pass_orders(
                self.pack.seeds, generation, number, len(data), data.device, self.shuffle
            )
            self.take_pairs(encoders, decoders)
            trained = self.train_pairs(encoders, data, orders, generation, number, encoders)
            losses.append(self.pack.means(trained.mean(0), encoders))
            self.prune_and_score(encoders, data[orders[:, : self.batch_size]])
            self.return_pairs(encoders, decoders)
        self.mutate()
        return torch.stack(losses).mean(0)

    def prune_and_score(self, cells: Tensor, first_batches: Tensor) -> None:
        """Pruning's turn (`notify_pairs_trained`), the trained pairs scored on their
        trial's first batch before or after it where the cell evaluation asks."""
        scored = self.strategy.cell_evaluation.replacement_scored
        if scored == "before_pruning":
            self._log_replacement_l1(cells, first_batches)
        self.notify_pairs_trained(cells)
        if scored == "after_pruning":
            self._log_replacement_l1(cells, first_batches)

    @torch.no_grad()
    def select(self, cells: Tensor, first_batches: Tensor, generation: int, number: int) -> None:
        """Tournament in each of `cells`' neighbourhoods, scored on each trial's batch in
        `first_batches` (trials, batch, features) in pass `number` of `generation`; this
        rank's winners go to the trainees."""
        all_cells = torch.arange(self.population_size)
        inputs = self.pack.per_row(first_batches, all_cells)
        noise = None
        if self.selection == "loss":  # a variational system's codes: each trial's stream
            sample = self.sampling(all_cells, all_cells, generation, number, SELECTION_NOISE)
            batch = first_batches.shape[1]
            noise = sample(self.pairings.noise_shape(self.centers, batch)) if sample else None
        losses = self.pairings.losses(self.centers, inputs, noise)[cells.to(self.device)]
        winners = torch.empty(len(cells), dtype=torch.long)
        for generator, positions in self.pack.streams(cells):
            won, fitness = self.strategy.select(losses[positions], generator)
            winners[positions] = won.cpu()
            self.selection_loss[cells[positions]] = fitness
        chosen = self.pairings.neighbourhoods[cells, winners]
        mine = self.sharding.own(cells)
        self._trainee_cells = mine
        chosen = chosen[torch.isin(cells, mine)].to(self.device)
        slots = torch.arange(len(mine), device=self.device)
        copy_individuals_(self.trainees, self.centers, slots, chosen)
        copy_individuals_(self.trainee_adam, self.center_adam, slots, chosen)
        self._trainees_pruned = self.trainees.pruned()

    def train_pairs(
        self, cells: Tensor, data: Tensor, orders: Tensor, generation: int, number: int, group
    ) -> Tensor:
        """Pass `number` of generation `generation` over `data` of the trainees (slot i: cell
        cells[i], this rank's of the group's cells `group`), each in its trial's order from
        `orders` (trials, examples); the losses of every step (steps, cells)."""
        losses_of = self.strategy.cell_evaluation.losses(
            self.trainees,
            self.centers,
            self.pairings.neighbourhoods[cells],
            self.pack.streams(cells),
            steps_per_pass(len(data), self.batch_size),
            self.sampling(group, cells, generation, number),
        )
        rates = self.learning_rates[cells.to(self.device)]
        with Sharding.no_gradient_sync(compat.attached_trainer(self)):
            return train_pass(
                self.trainees,
                self.trainee_adam,
                rates,
                data,
                self.pack.per_row(orders, cells),
                self.batch_size,
                losses_of,
                masked=self._trainees_pruned,
                corrupt=self.corruption(group, cells, generation, number),
            )

    @torch.no_grad()
    def take_pairs(self, encoders: Tensor, decoders: Tensor) -> None:
        """Trainee slot k: encoder cell encoders[k] with decoder cell decoders[k]."""
        slots = torch.arange(len(encoders), device=self.device)
        encoders, decoders = encoders.to(self.device), decoders.to(self.device)
        for trainee, center in (
            (self.trainees, self.centers),
            (self.trainee_adam, self.center_adam),
        ):
            copy_half_(trainee, center, slots, encoders, self.centers, "encoder")
            copy_half_(trainee, center, slots, decoders, self.centers, "decoder")
        self._trainee_cells = encoders.cpu()
        self._trainees_pruned = self.trainees.pruned()

    @torch.no_grad()
    def return_pairs(self, encoders: Tensor, decoders: Tensor) -> None:
        """Each trained half back to its cell; a pair that diverged is dropped, leaving both
        cells as they were before it trained."""
        slots = torch.arange(len(encoders), device=self.device)
        healthy = self.trainees.finite()[: len(encoders)]
        self._log_diverged(encoders[~healthy.cpu()])
        slots, encoders, decoders = (
            slots[healthy],
            encoders.to(self.device),
            decoders.to(self.device),
        )
        for center, trainee in (
            (self.centers, self.trainees),
            (self.center_adam, self.trainee_adam),
        ):
            copy_half_(center, trainee, encoders[healthy], slots, self.centers, "encoder")
            copy_half_(center, trainee, decoders[healthy], slots, self.centers, "decoder")

    @torch.no_grad()
    def replace(self, cells: Tensor) -> None:
        """The trained pairs become their cells' centers; a pair that diverged (a non-finite
        weight) is dropped and its cell takes its neighbourhood's best."""
        slots = torch.arange(len(cells), device=self.device)
        cells = cells.to(self.device)
        healthy = self.trainees.finite()[: len(cells)]
        self._recover(cells[~healthy])
        copy_individuals_(self.centers, self.trainees, cells[healthy], slots[healthy])
        copy_individuals_(self.center_adam, self.trainee_adam, cells[healthy], slots[healthy])

    def mutate(self) -> None:
        """Every cell's learning rate takes a Gaussian step, drawn from its trial's generator
        (under AllVsAll one step per trial, whose pairs share one rate)."""
        for generator, rows in self.pack.blocks():
            rates = self.learning_rates[rows]
            if self.strategy.all_vs_all:
                rates = rates[:1]
            self.learning_rates[rows] = self.strategy.mutate(rates, generator)

    # ----------------------------------------------------------------- helpers

    def _make_trainees(self, count: int) -> None:
        """Scratch slots for the pairs a group trains; not part of checkpoints, which fall
        between generations."""
        device = self.centers.encoders[0].weight.device
        self.trainees = self.centers.like(count)
        self.trainee_adam = StackedAdam(
            self.trainees, self.center_adam.betas, state=self.hparams.optimizer_state
        ).to(device)
        self._trainees_pruned = True
        self._trainee_cells = torch.zeros(count, dtype=torch.long)  # set by each selection

    def _log_diverged(self, diverged: Tensor) -> None:
        if compat.attached_trainer(self) is not None:
            summed = {"on_step": False, "on_epoch": True, "reduce_fx": "sum"}
            self.pack.log(self, keys.GEN_DIVERGED, self.pack.counts(diverged).float(), **summed)
            self.log(keys.GEN_DIVERGED, float(len(diverged)), sync_dist=True, **summed)

    @torch.no_grad()
    def _log_replacement_l1(self, cells: Tensor, first_batches: Tensor) -> None:
        """`gen/replacement_l1`: the trained pairs' mean L1 on their trial's first batch of
        the pass (`first_batches`, (trials, batch, features)), over the generation."""
        if compat.attached_trainer(self) is None:
            return
        slots = torch.arange(len(cells), device=self.device)
        inputs = self.pack.per_row(first_batches, cells)
        with eval_mode(self.trainees):
            l1 = reconstruction_l1(self.trainees(inputs, slots), inputs)
        self.log(keys.GEN_REPLACEMENT_L1, l1.mean(), on_step=False, on_epoch=True)
        self.pack.log_by_trial(
            self, keys.GEN_REPLACEMENT_L1, l1, cells, on_step=False, on_epoch=True
        )

    def _recover(self, diverged: Tensor) -> None:
        """Diverged cells take their neighbourhood's best center (`healing_sources`): weights,
        masks, Adam moments and learning rate."""
        self._log_diverged(diverged)
        if len(diverged):
            sources = healing_sources(self.pairings.neighbourhoods, self.center_l1, diverged)
            copy_individuals_(self.centers, self.centers, diverged, sources)
            copy_individuals_(self.center_adam, self.center_adam, diverged, sources)
            self.learning_rates[diverged] = self.learning_rates[sources]
            rank_zero_warn(
                f"generation {self.current_epoch}: cells {diverged.tolist()} diverged "
                "(non-finite weights); each took its neighbourhood's best center "
                f"(cells {sources.tolist()}) with its learning rate"
            )

    def _log_generation(self) -> None:
        """The selection's fitness over cells (none under AllVsAll, which selects nothing)
        and every cell's learning rate."""
        if not self.strategy.all_vs_all:
            self._log_selection()
        every_cell = torch.arange(self.population_size)
        self.pack.log_cells(
            keys.LR,
            self.learning_rates,
            every_cell,
            lambda rates: self.log_dict(rates, on_step=False, on_epoch=True),
        )

    def _log_selection(self) -> None:
        loss = self.selection_loss
        self.log_dict(
            {
                keys.GEN_BEST_LOSS: loss.min(),
                keys.GEN_MEDIAN_LOSS: loss.median(),
                keys.GEN_WORST_LOSS: loss.max(),
            },
            on_step=False,
            on_epoch=True,
        )
        each = self.pack.each(loss)
        for key, values in (
            (keys.GEN_BEST_LOSS, each.amin(1)),
            (keys.GEN_MEDIAN_LOSS, each.median(1).values),
            (keys.GEN_WORST_LOSS, each.amax(1)),
        ):
            self.pack.log(self, key, values, on_step=False, on_epoch=True)

    # ----------------------------------------------------------------- evaluation
    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        # Each rank scores its own cells; the metrics sum the ranks'.
        self.score_validation(self.centers, batch[0], self.sharding.block)

    def on_validation_epoch_end(self) -> None:
        per_cell = self.val_l1.compute().reshape(-1)  # torchmetrics squeezes a ring of one
        best = per_cell.argmin()
        self.best_index.copy_(best)
        self.center_l1.copy_(per_cell)
        self.log(keys.VAL_L1, per_cell[best], prog_bar=True)
        self.log(keys.VAL_L1_MEDIAN, per_cell.median())
        each = self.pack.each(per_cell)  # independent trials: each one's own
        self.pack.log(self, keys.VAL_L1, each.amin(1))
        self.pack.log(self, keys.VAL_L1_MEDIAN, each.median(1).values)
        if self.variational:  # beside the L1: each trial's best cell's
            divergence = self.val_kl.compute().reshape(-1)  # torchmetrics squeezes one value
            self.log(keys.VAL_KL, divergence[best])
            bests = each.argmin(1, keepdim=True)
            self.pack.log(self, keys.VAL_KL, self.pack.each(divergence).gather(1, bests)[:, 0])
        self.log_model_size()

    def best_individual(self) -> tuple[StackedAutoencoder, int]:
        return self.centers, int(self.best_index)

    @property
    def individual_l1(self) -> Tensor:
        """Each center's last validation L1 (as the canonical system has it per network)."""
        return self.center_l1

    def pruning_target(self) -> StackedAutoencoder:
        """The trained pairs: mask changes made here are carried into the centers."""
        return self.trainees

    def pruning_target_cells(self) -> Tensor:
        return self._trainee_cells

    def prune_(self, rows: Tensor, masks: list[Masks], regrow: bool = False) -> None:
        self.trainees.prune_(rows, masks, regrow)
        self.trainee_adam.apply_masks_(self.trainees, rows)
        self._trainees_pruned = True

    # ----------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["evolution_generators"] = [g.get_state() for g in self.pack.generators]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        for generator, saved in zip(
            self.pack.generators, checkpoint["evolution_generators"], strict=True
        ):
            generator.set_state(saved)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """The trainee slots are this process's own (see `systems/scratch.py`): keep them."""
        return super().load_state_dict(with_own_scratch(self, state_dict), strict, assign)
