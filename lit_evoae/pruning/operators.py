"""Pruning operators: each gathers the statistics it needs and turns them into masks.

An operator is chosen in a config by class_path (`pruning.operator`). The Pruning callback
only decides *who* is pruned and when; the operator decides *what*, from what it measured
itself (Torch-Pruning's split between an importance and a pruner). A new operator therefore
needs no change anywhere else: subclass `PruningOperator`, override `layer_masks` (and
`statistics`, `attach`, `reset_`, `detach` if it measures something).
"""

from abc import ABC, abstractmethod
from typing import Literal

import pytorch_lightning as pl
import torch
from torch import Tensor

from lit_evoae.arguments import ClosedUnitInterval, PositiveInt, check, check_choice
from lit_evoae.arguments import HalfOpenUnitInterval as Amount
from lit_evoae.arguments import OpenUnitInterval as Threshold
from lit_evoae.data.base import validation_inputs
from lit_evoae.errors import ConfigError
from lit_evoae.nets import eval_mode
from lit_evoae.population.stacked import StackedAutoencoder
from lit_evoae.pruning.activations import ActivationMoments, layer_activations
from lit_evoae.pruning.masks import (
    Masks,
    conjunctive_masks,
    magnitude_masks,
    random_masks,
    variance_masks,
)


class PruningOperator(ABC):
    """Masks for the individuals the callback picked, from statistics the operator gathers.

    Lifecycle, called by the Pruning callback: `attach(trainer, system)` when fit starts (the
    population `system.pruning_target()` is on its device); `masks(population, rows, g)` for
    the picked rows; `reset_(rows)` after every pruning round, when the trained individuals
    leave their rows; `detach()` when fit ends.
    """

    def attach(
        self, trainer: pl.Trainer, system: pl.LightningModule, variant: str | None = None
    ) -> None:
        """Start gathering what `statistics` needs (hooks, held-out cases), for the rows of
        `variant`'s trials only if one is named (a pack prunes each variant's trials with its
        own operator)."""

    def detach(self) -> None:
        """Stop gathering (remove hooks)."""

    def reset_(self, rows: Tensor) -> None:
        """Rows `rows` of the population will hold other individuals: forget their statistics."""

    def statistics(
        self, population: StackedAutoencoder, rows: Tensor, generator: torch.Generator
    ) -> list[Tensor | None]:
        """What `layer_masks` reads, one entry per linear layer (encoder first); none here."""
        return [None] * len(list(population.linears()))

    @abstractmethod
    def layer_masks(
        self,
        weight_mask: Tensor,
        bias_mask: Tensor,
        statistic: Tensor | None,
        generator: torch.Generator,
    ) -> Masks:
        """New masks of one layer for n individuals, given that layer's entry of `statistics`."""

    def masks(
        self, population: StackedAutoencoder, rows: Tensor, generator: torch.Generator
    ) -> list[Masks]:
        """New (weight, bias) masks of every linear layer for individuals `rows`."""
        statistics = self.statistics(population, rows, generator)
        return [
            self.layer_masks(linear.weight_mask[rows], linear.bias_mask[rows], statistic, generator)
            for linear, statistic in zip(population.linears(), statistics, strict=True)
        ]


class RandomPruning(PruningOperator):
    """Prune `amount` of each layer's still-unpruned weights and biases, uniformly."""

    def __init__(self, amount: Amount = 0.1) -> None:
        self.amount = check("operator.amount", amount, Amount)

    def layer_masks(self, weight_mask, bias_mask, statistic, generator):
        return random_masks(weight_mask, bias_mask, self.amount, generator)


class MagnitudePruning(PruningOperator):
    """Prune `amount` of each layer's live weights and biases, those of smallest |value|
    (`torch.nn.utils.prune.l1_unstructured`, Lightning's `ModelPruning` default): the
    baseline every pruning study compares against. Its statistic is the weights themselves."""

    def __init__(self, amount: ClosedUnitInterval = 0.1) -> None:
        self.amount = check("operator.amount", amount, ClosedUnitInterval)

    def statistics(self, population, rows, generator):
        return [(linear.weight[rows], linear.bias[rows]) for linear in population.linears()]

    def layer_masks(self, weight_mask, bias_mask, statistic, generator):
        weight, bias = statistic
        return magnitude_masks(weight, bias, weight_mask, bias_mask, self.amount)


class VariancePruning(PruningOperator):
    """Prune units whose activations varied least over the epoch (see `variance_masks`).

    It records every unit's running activation moments with forward hooks during training.
    `amount` caps the units pruned per layer (null: no cap); `prune_end: high`,
    `per_weight: true`, `amount: null` reproduce the reference implementation.
    """

    def __init__(
        self,
        amount: Amount | None = 0.1,
        prune_end: Literal["low", "high"] = "low",
        per_weight: bool = False,
    ) -> None:
        self.amount = None if amount is None else check("operator.amount", amount, Amount)
        self.prune_end = check_choice("operator.prune_end", prune_end, Literal["low", "high"])
        self.per_weight = bool(per_weight)
        self.moments: ActivationMoments | None = None
        self._device_of_rows = torch.device("cpu")

    def attach(self, trainer, system, variant=None):
        self.detach()
        self._device_of_rows = self._device(system)
        cache: dict = {}

        def recorded() -> Tensor | None:
            if variant is None:
                return None
            current = system.pruning_target_cells()
            if cache.get("for") is not current:  # one lookup per group, not per pass
                rows = system.pack.positions(current, variant)
                cache.update({"for": current, "rows": rows.to(self._device_of_rows)})
            return cache["rows"]

        self.moments = ActivationMoments.shared(system.pack, system.pruning_target(), recorded)

    @staticmethod
    def _device(system) -> torch.device:
        return system.pruning_target().encoders[0].weight.device

    def detach(self):
        if self.moments is not None:
            self.moments.detach()

    def reset_(self, rows):
        if self.moments is not None:
            self.moments.reset_(rows)

    def statistics(self, population, rows, generator):
        return [self.moments.variance(layer)[rows] for layer in range(len(self.moments.pairs))]

    def layer_masks(self, weight_mask, bias_mask, statistic, generator):
        return variance_masks(
            weight_mask,
            bias_mask,
            statistic,
            generator,
            self.amount,
            self.prune_end,
            self.per_weight,
        )


class ConjunctivePruning(PruningOperator):
    """Prune units that stay quiet across `cases` validation examples (see `conjunctive_masks`).

    It draws its cases from the validation split at every pruning. `stop`, `output_scores`
    and `with_replacement` choose between this project's defaults and the reference
    implementation's computation (`at_one`, `logits`, `true`): it intersects marks while more
    than one unit is marked, scores the output layer on its logits (hidden layers after their
    ReLU, as here), and draws its cases with replacement.
    """

    def __init__(
        self,
        threshold: Threshold = 0.1,
        cases: PositiveInt = 100,
        stop: Literal["before_empty", "at_one"] = "before_empty",
        output_scores: Literal["activation", "logits"] = "activation",
        with_replacement: bool = False,
    ) -> None:
        self.threshold = check("operator.threshold", threshold, Threshold)
        self.cases = check("operator.cases", cases, PositiveInt)
        self.stop = check_choice("operator.stop", stop, Literal["before_empty", "at_one"])
        self.output_scores = check_choice(
            "operator.output_scores", output_scores, Literal["activation", "logits"]
        )
        self.with_replacement = bool(with_replacement)
        self.pool = torch.empty(0)  # the validation inputs the cases are drawn from

    def attach(self, trainer, system, variant=None):
        self.pool = validation_inputs(trainer)
        if len(self.pool) < self.cases and not self.with_replacement:
            raise ConfigError(
                f"pruning.operator.cases={self.cases} is more than the {len(self.pool)} "
                "validation examples; lower it, or draw them with replacement "
                "(pruning.operator.init_args.with_replacement: true)"
            )

    def statistics(self, population, rows, generator):
        if self.with_replacement:
            picks = torch.randint(len(self.pool), (self.cases,), generator=generator)
        else:
            picks = torch.randperm(len(self.pool), generator=generator)[: self.cases]
        cases = self.pool[picks].to(population.encoders[0].weight.device)
        with eval_mode(population):
            logits = self.output_scores == "logits"
            return layer_activations(population, cases, rows, output_logits=logits)

    def layer_masks(self, weight_mask, bias_mask, statistic, generator):
        return conjunctive_masks(weight_mask, bias_mask, statistic, self.threshold, self.stop)
