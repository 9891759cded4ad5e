"""The Pruning callback: a schedule decides who is pruned, an operator decides what.

It acts between generations through the systems' `on_pairs_trained` protocol: after an
individual's generation of training (for a population, before the trained pair replaces
its cell's center). The CLI always registers it under `pruning.*`; with no operator it
does nothing (the no-pruning control).
"""

from contextlib import contextmanager
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from lit_evoae.errors import ConfigError
from lit_evoae.pruning.activations import ActivationMoments, layer_activations
from lit_evoae.pruning.methods import PruningOperator
from lit_evoae.pruning.schedules import Fixed, Schedule
from lit_evoae.systems.base import AutoencoderSystem
from lit_evoae.validation import ClosedUnitInterval, NonNegativeInt, check


@contextmanager
def evaluating(module: torch.nn.Module):
    """Eval mode for a side pass, so activation statistics do not record it."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


#: Validation examples on which `prune/loss_change` is measured.
PROBE_SIZE = 100


class Pruning(pl.Callback):
    """Prune each just-trained individual with probability schedule(generation, ...).

    Args:
        operator: what to prune (RandomPruning, VariancePruning, ConjunctivePruning);
            None disables pruning.
        schedule: the probability of pruning an individual at a generation; None = Fixed.
        probability: the schedule's base probability P.
        regrow: the reference behaviour: pruned weights are zeroed once but not masked, so
            training can regrow them. False keeps them at zero for good.
        seed: seed of the pruning draws; None derives it from the run's seed.
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
        seed = (
            (torch.initial_seed() + 1)
            if seed is None
            else check("pruning.seed", seed, NonNegativeInt)
        )
        self.generator = torch.Generator().manual_seed(seed % 2**63)
        self.moments: ActivationMoments | None = None
        self._validation = torch.empty(0)  # validation inputs: conjunctive's cases, the probe
        self._pending_moments: dict | None = None  # from a checkpoint, until the hooks exist

    # ------------------------------------------------------------------ lifecycle
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.operator is None or stage != "fit":
            return
        if not isinstance(pl_module, AutoencoderSystem):
            raise ConfigError("pruning needs a lit_evoae system (CanonicalAutoencoder or "
                              "CoevolutionaryAutoencoder)")  # fmt: skip
        if self.operator.needs == "variance" and self.moments is None:
            self.moments = ActivationMoments(pl_module.pruning_target()).attach()
        self._validation = self._validation_inputs(trainer)
        if self.operator.needs == "cases" and len(self._validation) < self.operator.cases:
            raise ConfigError(
                f"pruning.operator.cases={self.operator.cases} is more than the "
                f"{len(self._validation)} validation examples; lower it"
            )

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.moments is not None:
            self.moments.detach()

    def _validation_inputs(self, trainer: pl.Trainer) -> Tensor:
        """The validation set's inputs (conjunctive's cases, the loss probe); empty if none."""
        data = trainer.datamodule
        loader = data.val_dataloader() if data is not None else None
        if not loader:
            return torch.empty(0)
        return torch.cat([batch[0] for batch in loader])

    # ------------------------------------------------------------------ the work
    @torch.no_grad()
    def on_pairs_trained(
        self, trainer: pl.Trainer, system: AutoencoderSystem, rows: Tensor
    ) -> None:
        if self.operator is None:
            return
        population = system.pruning_target()
        chance = self.schedule(trainer.current_epoch, trainer.max_epochs, self.probability,
                               population.population_size)  # fmt: skip
        generator = self._generator_of_this_rank(trainer)
        drawn = torch.rand(len(rows), generator=generator) < chance
        chosen = rows[drawn.to(rows.device)]
        before = population.sparsity()[chosen]
        loss_before = self._probe_loss(population, chosen)
        if len(chosen):
            self._prune(population, chosen, generator)
            system.masks_changed(chosen)
        if self.moments is not None:
            self.moments.reset_(rows)
        after = population.sparsity()
        # Under DDP every rank logs these two for its own cells: summed / averaged over ranks
        # (the other keys are logged only where something was pruned, so cannot be synced).
        system.log("prune/events", float(len(chosen)), on_step=False, on_epoch=True,
                   reduce_fx="sum", sync_dist=True)  # fmt: skip
        system.log("prune/sparsity", after[rows].mean(), on_step=False, on_epoch=True,
                   sync_dist=True)  # fmt: skip
        for row in rows.tolist():  # one key per individual: bounded by the population size
            system.log(f"prune/sparsity/cell_{row:02d}", after[row], on_step=False, on_epoch=True)
        if len(chosen):
            removed = (after[chosen] - before).mean()
            system.log("prune/removed_fraction", removed, on_step=False, on_epoch=True)
            if loss_before is not None:
                change = (self._probe_loss(population, chosen) - loss_before).mean()
                system.log("prune/loss_change", change, on_step=False, on_epoch=True)

    def _probe_loss(self, population, chosen: Tensor) -> Tensor | None:
        """Mean L1 of individuals `chosen` on the validation probe (None without one)."""
        if not len(self._validation) or not len(chosen):
            return None
        probe = self._validation[:PROBE_SIZE].to(population.encoders[0].weight.device)
        with evaluating(population):
            return (population(probe, chosen) - probe).abs().mean(dim=(1, 2))

    def _generator_of_this_rank(self, trainer: pl.Trainer) -> torch.Generator:
        """Under DDP each rank prunes its own cells. Every rank keeps the same `generator`
        (so the checkpoint, saved by rank 0, resumes on any number of ranks) and draws from
        a stream forked from it by rank, so that ranks' draws are not copies of each other."""
        if trainer.world_size == 1:
            return self.generator
        seed = int(torch.randint(2**62, (1,), generator=self.generator))
        return torch.Generator().manual_seed(seed + trainer.global_rank)

    def _prune(self, population, chosen: Tensor, generator: torch.Generator) -> None:
        statistics = self._statistics(population, chosen, generator)
        for linear, statistic in zip(population.linears(), statistics, strict=True):
            weight_mask, bias_mask = self.operator.masks(
                linear.weight_mask[chosen], linear.bias_mask[chosen], statistic, generator
            )
            if self.regrow:  # zero once, keep the masks open
                linear.weight[chosen] = linear.weight[chosen] * weight_mask
                linear.bias[chosen] = linear.bias[chosen] * bias_mask
            else:
                linear.weight_mask[chosen] = weight_mask
                linear.bias_mask[chosen] = bias_mask

    def _statistics(self, population, chosen: Tensor, generator) -> list[Tensor | None]:
        layers = len(list(population.linears()))
        if self.operator.needs == "variance":
            return [self.moments.variance(layer)[chosen] for layer in range(layers)]
        if self.operator.needs == "cases":
            picks = torch.randperm(len(self._validation), generator=generator)
            cases = self._validation[picks[: self.operator.cases]]
            cases = cases.to(population.encoders[0].weight.device)
            with evaluating(population):
                return layer_activations(population, cases, chosen)
        return [None] * layers

    # ------------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"generator": self.generator.get_state()}
        if self.moments is not None:
            state["moments"] = self.moments.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.generator.set_state(state_dict["generator"])
        self._pending_moments = state_dict.get("moments")

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._pending_moments is not None and self.moments is not None:
            self.moments.load_state_dict(self._pending_moments)
            self._pending_moments = None
