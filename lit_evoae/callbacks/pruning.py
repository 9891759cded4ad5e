"""The Pruning callback: a schedule decides who is pruned, an operator decides what.

It is a `PopulationCallback`: the systems call `on_pairs_trained` after an individual's
generation of training (for a population, before the trained pair replaces its cell's
center). The CLI always registers it under `pruning.*`; with no operator it prunes nothing
and still logs the sparsity (the no-pruning control). Each trial of a batched population
draws from a generator of its own, seeded from the trial's seed, so a trial prunes as it
would alone.
"""

from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from lit_evoae import keys
from lit_evoae.arguments import ClosedUnitInterval, NonNegativeInt, check
from lit_evoae.callbacks.deferred_log import DeferredLog
from lit_evoae.data.base import validation_inputs
from lit_evoae.errors import ConfigError
from lit_evoae.nets import eval_mode
from lit_evoae.pruning.operators import PruningOperator
from lit_evoae.pruning.schedules import Fixed, Schedule
from lit_evoae.systems.base import AutoencoderSystem, PopulationCallback

#: Validation examples on which `prune/loss_change` is measured.
PROBE_SIZE = 100


class Pruning(PopulationCallback):
    """Prune each just-trained individual with probability schedule(generation, ...).

    Args:
        operator: what to prune (RandomPruning, VariancePruning, ConjunctivePruning);
            None disables pruning.
        schedule: the probability of pruning an individual at a generation; None = Fixed.
        probability: the schedule's base probability P.
        regrow: the reference behaviour: pruned weights are zeroed once but not masked, so
            training can regrow them. False keeps them at zero for good.
        seed: seed of the pruning draws (trial t of a batched population: seed + t); None
            derives each trial's from its seed (the system's `seeds`) plus one.
    """

    def __init__(
        self,
        operator: PruningOperator | None = None,
        schedule: Schedule | None = None,
        probability: ClosedUnitInterval = 0.5,
        regrow: bool = False,
        seed: NonNegativeInt | None = None,
    ) -> None:
        self.operator = operator
        self.schedule = schedule if schedule is not None else Fixed()
        self.probability = check("pruning.probability", probability, ClosedUnitInterval)
        self.regrow = bool(regrow)
        self.seed = None if seed is None else check("pruning.seed", seed, NonNegativeInt)
        self.generators: list[torch.Generator] = []  # one per trial of the pack, at setup
        self.variant: str | None = None  # None: every trial of the pack (see for_variant)
        self._probe = torch.empty(0)  # validation inputs that `prune/loss_change` is scored on
        self._pending_generators: list | None = None  # from a checkpoint, until setup
        self._deferred = DeferredLog()  # each group's keys, logged once a generation

    # ------------------------------------------------------------------ lifecycle
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.operator is None or stage != "fit":
            return
        if not isinstance(pl_module, AutoencoderSystem):
            raise ConfigError(
                "pruning needs a lit_evoae system (CanonicalAutoencoder or "
                "CoevolutionaryAutoencoder)"
            )
        seeds = pl_module.pack.seeds
        if self.seed is not None:
            seeds = [self.seed - 1 + trial for trial in range(len(seeds))]
        self.generators = [torch.Generator().manual_seed((seed + 1) % 2**63) for seed in seeds]
        self._restore_generators()

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # After the system's setup (which sizes the trained-pair slots) and the device move.
        if self.operator is not None:
            self._probe = validation_inputs(trainer)[:PROBE_SIZE]
            self.operator.attach(trainer, pl_module, self.variant)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module, batch, batch_idx) -> None:
        self._deferred.start(batch)  # one batch: one generation

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._deferred.flush(pl_module)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.operator is not None:
            self.operator.detach()

    # ------------------------------------------------------------------ the work
    @torch.no_grad()
    def on_pairs_trained(self, trainer: pl.Trainer, system, cells: Tensor) -> None:
        population = system.pruning_target()
        rows, governed = self._governed(system, cells)
        if rows is None:
            return
        picked = []
        if self.operator is not None:
            for trial, generator, chosen in self._draw(trainer, system, governed, cells.device):
                if len(chosen):
                    before = population.sparsity(chosen)
                    loss_before = self._probe_loss(population, chosen)
                    masks = self.operator.masks(population, chosen, generator)
                    system.prune_(chosen, masks, self.regrow)
                    picked.append((trial, chosen, before, loss_before))
            self.operator.reset_(rows)
        # Only the rows this callback governs: a pack has one callback per variant.
        governed_sparsity = population.sparsity(rows)
        after = governed_sparsity.new_zeros(population.population_size)
        after[rows] = governed_sparsity
        effects = [
            (
                trial,
                after[chosen] - before,
                None if loss is None else self._probe_loss(population, chosen) - loss,
            )
            for trial, chosen, before, loss in picked
        ]
        self._log(system, rows, cells, after, _summary(effects))
        if len(system.pack) > 1:  # per trial too: each trial of a pack logs what it would alone
            for trial, positions in governed:
                mine = [effect for effect in effects if effect[0] == trial]
                self._log(system, positions, cells, after, _summary(mine), trial)

    @property
    def state_key(self) -> str:
        # A pack holds one per variant: their checkpoint states must not collide.
        if self.variant is None:
            return super().state_key
        return self._generate_state_key(variant=self.variant)

    def _governed(self, system, cells: Tensor) -> tuple[Tensor | None, list]:
        """The rows of `cells`' pairs this callback prunes (None: none) and, per trial it
        governs, (trial, its positions in `cells`)."""
        rows = torch.arange(len(cells), device=cells.device)  # row i: cell cells[i]
        governed = system.pack.split(cells, self.variant)
        if self.variant is not None:  # a pack's trials of this variant only
            if not governed:
                return None, []
            rows = torch.cat([positions for _, positions in governed]).to(rows.device)
        return rows, governed

    def _draw(self, trainer: pl.Trainer, system, governed: list, device: torch.device) -> list:
        """Per governed trial, (trial, the generator its masks draw from, the rows pruned, on
        `device`), each pruned with the schedule's probability at this generation."""
        chance = self.schedule(
            trainer.current_epoch, trainer.max_epochs, self.probability, system.neighbourhood_size
        )
        draws = []
        for trial, positions in governed:
            generator = self._generator_of_this_rank(trainer, trial)
            drawn = torch.rand(len(positions), generator=generator) < chance
            draws.append((trial, generator, positions[drawn].to(device)))
        return draws

    def for_variant(self, variant: str) -> "Pruning":
        """Prune only the trials of the pack that are `variant`'s (a pack mixing pruning
        variants gives each variant's trials a Pruning of their own)."""
        self.variant = variant
        return self

    def _log(self, system, rows, cells, after, changes, trial: int | None = None) -> None:
        """The pruning's keys, over `rows`; with `trial`, under that trial's names. Under DDP
        every rank logs the population-wide events and sparsity for its own cells, summed /
        averaged over ranks (the other keys are logged only where something was pruned, so
        cannot be synced)."""
        pruned, removed, change = changes
        synced = trial is None

        def log(key, value, **options):
            if trial is None:
                self._deferred.log(system, key, value, **options)
            else:
                value = torch.as_tensor(value).view(1)
                system.pack.log(system, key, value, trials=[trial], **options)

        log(keys.PRUNE_EVENTS, float(pruned), reduce_fx="sum", sync_dist=synced)
        log(keys.PRUNE_SPARSITY, after[rows].mean(), sync_dist=synced)
        if trial is None:  # one key per cell: bounded by the population
            system.pack.log_cells(
                keys.PRUNE_SPARSITY, after[rows], cells[rows], self._log_deferred(system)
            )
        if removed is not None:
            log(keys.PRUNE_REMOVED, removed)
        if change is not None:
            log(keys.PRUNE_LOSS_CHANGE, change)

    def _log_deferred(self, system):
        def log(named: dict) -> None:
            for key, value in named.items():
                self._deferred.log(system, key, value)

        return log

    def _probe_loss(self, population, chosen: Tensor) -> Tensor | None:
        """Mean L1 of individuals `chosen` on the validation probe (None without one)."""
        if not len(self._probe):
            return None
        probe = self._probe.to(population.encoders[0].weight.device)
        with eval_mode(population):
            return (population(probe, chosen) - probe).abs().mean(dim=(1, 2))

    def _generator_of_this_rank(self, trainer: pl.Trainer, trial: int) -> torch.Generator:
        """Under DDP each rank prunes its own cells. Every rank keeps the same generators
        (so the checkpoint, saved by rank 0, resumes on any number of ranks) and draws from
        a stream forked from the trial's by rank, so that ranks' draws are not copies."""
        generator = self.generators[trial]
        if trainer.world_size == 1:
            return generator
        seed = int(torch.randint(2**62, (1,), generator=generator))
        return torch.Generator().manual_seed(seed + trainer.global_rank)

    # ------------------------------------------------------------------ checkpoint
    # Checkpoints fall between generations, where the activation statistics are empty.
    def state_dict(self) -> dict[str, Any]:
        return {"generators": [generator.get_state() for generator in self.generators]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending_generators = state_dict["generators"]
        if self.generators:  # already set up: restore now
            self._restore_generators()

    def _restore_generators(self) -> None:
        """Give the per-trial generators the states a checkpoint held (if one did)."""
        if self._pending_generators is None:
            return
        for generator, state in zip(self.generators, self._pending_generators, strict=True):
            generator.set_state(state)
        self._pending_generators = None


def _summary(effects: list) -> tuple[int, Tensor | None, Tensor | None]:
    """(individuals pruned, their mean removed fraction, their mean probe-loss change) from
    (trial, removed fraction per individual, probe-loss change per individual or None)."""
    if not effects:
        return 0, None, None
    removed = torch.cat([fractions for _, fractions, _ in effects])
    changes = [change for _, _, change in effects if change is not None]
    return len(removed), removed.mean(), torch.cat(changes).mean() if changes else None
