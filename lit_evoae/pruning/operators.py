"""Pruning operators as configurable objects: typed arguments around the pure mask functions.

Chosen in a config by class_path (`pruning.operator`). Each says which statistics it
needs: none (random), the epoch's activation variance (variance), or activations on
held-out cases (conjunctive).
"""

from abc import ABC, abstractmethod
from typing import Literal

import torch
from torch import Tensor

from lit_evoae.errors import ConfigError
from lit_evoae.pruning.masks import (
    Masks,
    conjunctive_masks,
    random_masks,
    variance_masks,
)
from lit_evoae.validation import HalfOpenUnitInterval as Amount
from lit_evoae.validation import OpenUnitInterval as Threshold
from lit_evoae.validation import PositiveInt, check, check_choice


class PruningOperator(ABC):
    needs: Literal["nothing", "variance", "cases"] = "nothing"

    @abstractmethod
    def masks(
        self,
        weight_mask: Tensor,
        bias_mask: Tensor,
        statistic: Tensor | None,
        generator: torch.Generator,
    ) -> Masks:
        """New masks of one layer for n individuals; `statistic` is what `needs` names."""


class RandomPruning(PruningOperator):
    """Prune `amount` of each layer's still-unpruned weights and biases, uniformly."""

    def __init__(self, amount: Amount = 0.1) -> None:
        self.amount = check("operator.amount", amount, Amount)

    def masks(self, weight_mask, bias_mask, statistic, generator):
        return random_masks(weight_mask, bias_mask, self.amount, generator)


class VariancePruning(PruningOperator):
    """Prune units whose activations varied least over the epoch (see `variance_masks`).

    `amount` caps the units pruned per layer (null: no cap); `prune_end: high`,
    `per_weight: true`, `amount: null` reproduce the reference implementation.
    """

    needs = "variance"

    def __init__(
        self,
        amount: Amount | None = 0.1,
        prune_end: Literal["low", "high"] = "low",
        per_weight: bool = False,
    ) -> None:
        self.amount = None if amount is None else check("operator.amount", amount, Amount)
        if prune_end not in ("low", "high"):
            raise ConfigError(f"operator.prune_end={prune_end!r} is invalid: use low or high")
        self.prune_end = prune_end
        self.per_weight = bool(per_weight)

    def masks(self, weight_mask, bias_mask, statistic, generator):
        return variance_masks(weight_mask, bias_mask, statistic, generator, self.amount,
                              self.prune_end, self.per_weight)  # fmt: skip


class ConjunctivePruning(PruningOperator):
    """Prune units that stay quiet across `cases` validation examples (see `conjunctive_masks`).

    `stop`, `output_scores` and `with_replacement` choose between this project's defaults
    and the reference implementation's computation (`at_one`, `logits`, `true`): it
    intersects marks while more than one unit is marked, scores the output layer on its
    logits (hidden layers after their ReLU, as here), and draws its cases with replacement.
    """

    needs = "cases"

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
        self.output_scores = check_choice("operator.output_scores", output_scores,
                                          Literal["activation", "logits"])  # fmt: skip
        self.with_replacement = bool(with_replacement)

    def masks(self, weight_mask, bias_mask, statistic, generator):
        return conjunctive_masks(weight_mask, bias_mask, statistic, self.threshold, self.stop)
