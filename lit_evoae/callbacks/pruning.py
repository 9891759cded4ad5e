"""The Pruning callback: a schedule decides who is pruned, an operator decides what.

It is a `PopulationCallback`: the systems call `on_pairs_trained` after an individual's
generation of training (for a population, before the trained pair replaces its cell's
center). The CLI always registers it under `pruning.*`; with no operator it prunes nothing
and still logs the sparsity (the no-pruning control). Each trial of a pack draws from a
generator of its own, seeded from the trial's seed, so a trial prunes as it would alone.
"""

from functools import partial
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from lit_evoae import keys
from lit_evoae.arguments import ClosedUnitInterval, NonNegativeInt, check
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
        seed: seed of the pruning draws (trial t of a pack: seed + t); None derives each
            trial's from its seed (the system's `seeds`) plus one.
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
        self.variant: str | None = None  # None: the whole pack (see for_variant)
        self._probe = torch.empty(0)  # validation inputs that `prune/loss_change` is scored on
        self._pending_generators: list | None = None  # from a checkpoint, until setup

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
            seeds = range(self.seed - 1, self.seed - 1 + len(seeds))
        self.generators = [torch.Generator().manual_seed((seed + 1) % 2**63) for seed in seeds]
        self._restore_generators()

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # After the system's setup (which sizes the trained-pair slots) and the device move.
        if self.operator is not None:
            self._probe = validation_inputs(trainer)[:PROBE_SIZE]
            self.operator.attach(trainer, pl_module, self.variant)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.operator is not None:
            self.operator.detach()

    # ------------------------------------------------------------------ the work
    @torch.no_grad()
    def on_pairs_trained(self, trainer: pl.Trainer, system, cells: Tensor) -> None:
        population = system.pruning_target()
        governed = system.pack.split(cells, self.variant)
        if not governed:  # none of this variant's trials trains now
            return
        rows = torch.cat([positions for _, positions in governed]).to(cells.device)
        picked = []  # per stream: (rows pruned, their sparsity and probe loss before)
        if self.operator is not None:
            chance = self.schedule(
                trainer.current_epoch,
                trainer.max_epochs,
                self.probability,
                system.neighbourhood_size,
            )
            for generator, positions in system.pack.streams(cells, self.generators, self.variant):
                generator = self._generator_of_this_rank(trainer, generator)
                drawn = torch.rand(len(positions), generator=generator) < chance
                chosen = positions[drawn].to(cells.device)
                if len(chosen):
                    before = population.sparsity(chosen)
                    loss_before = self._probe_loss(population, chosen)
                    masks = self.operator.masks(population, chosen, generator)
                    closed = [
                        linear.weight_mask[chosen] & ~weight_mask
                        for linear, (weight_mask, _) in zip(
                            population.linears(), masks, strict=True
                        )
                    ]
                    system.prune_(chosen, masks, self.regrow)
                    system.notify_pruned(cells[chosen], closed)
                    picked.append((chosen, before, loss_before))
            self.operator.reset_(rows)
        # Only the rows this callback governs: a pack has one callback per variant.
        governed_sparsity = population.sparsity(rows)
        after = governed_sparsity.new_zeros(population.population_size)
        after[rows] = governed_sparsity
        chosen = torch.cat([c for c, _, _ in picked]) if picked else rows[:0]
        removed = torch.cat([after[c] - before for c, before, _ in picked]) if picked else None
        changes = [
            self._probe_loss(population, c) - loss for c, _, loss in picked if loss is not None
        ]
        self._log(
            system, rows, cells, after, chosen, removed, torch.cat(changes) if changes else None
        )

    @property
    def state_key(self) -> str:
        # A pack holds one per variant: their checkpoint states must not collide.
        if self.variant is None:
            return super().state_key
        return self._generate_state_key(variant=self.variant)

    def for_variant(self, variant: str) -> "Pruning":
        """Prune only the trials of the pack that are `variant`'s (a pack mixing pruning
        variants gives each variant's trials a Pruning of their own)."""
        self.variant = variant
        return self

    def _log(self, system, rows, cells, after, chosen, removed, changes) -> None:
        """The pruning's keys over `rows` (pruned: `chosen`, with the fractions `removed` and
        the probe-loss `changes` of each), and each trial's over its own rows. A study's pack
        (one with trial logs) logs only each trial's: its variants' mixed figures would be
        read by no one. Under DDP every rank logs the population-wide events and sparsity for
        its own cells, summed / averaged over ranks (the other keys are logged only where
        something was pruned, so cannot be synced)."""
        pack, governed = system.pack, cells[rows]
        whole = pack.trial_logs is None  # a run alone, or a pack outside a study
        log = partial(system.log_dict, on_step=False, on_epoch=True)
        if whole:
            log({keys.PRUNE_EVENTS: float(len(chosen))}, reduce_fx="sum", sync_dist=True)
            log({keys.PRUNE_SPARSITY: after[rows].mean()}, sync_dist=True)
        pack.log_cells(keys.PRUNE_SPARSITY, after[rows], governed, log)  # bounded by the pack
        events = torch.isin(rows, chosen).float()
        pack.log_by_trial(system, keys.PRUNE_EVENTS, events, governed, "sum", sync_dist=False)
        pack.log_by_trial(system, keys.PRUNE_SPARSITY, after[rows], governed, sync_dist=False)
        for key, values in ((keys.PRUNE_REMOVED, removed), (keys.PRUNE_LOSS_CHANGE, changes)):
            if values is not None:
                if whole:
                    log({key: values.mean()})
                pack.log_by_trial(system, key, values, cells[chosen], sync_dist=False)

    def _probe_loss(self, population, chosen: Tensor) -> Tensor | None:
        """Mean L1 of individuals `chosen` on the validation probe (None without one)."""
        if not len(self._probe):
            return None
        probe = self._probe.to(population.encoders[0].weight.device)
        with eval_mode(population):
            return (population(probe, chosen) - probe).abs().mean(dim=(1, 2))

    @staticmethod
    def _generator_of_this_rank(trainer: pl.Trainer, generator) -> torch.Generator:
        """Under DDP each rank prunes its own cells. Every rank keeps the same generators
        (so the checkpoint, saved by rank 0, resumes on any number of ranks) and draws from
        a stream forked from the trial's by rank, so that ranks' draws are not copies."""
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
