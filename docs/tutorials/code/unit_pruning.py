"""Tutorial 1: a pruning operator of your own, in one file.

RandomUnitPruning removes whole units at random: every incoming weight and the bias of
`amount` of each layer's live units. Structured pruning of this kind shrinks a network a
plain `nn.Module` export can compact; whether it costs quality against unstructured
random pruning is what the tutorial's study asks.
"""

import torch

from lit_evoae.arguments import HalfOpenUnitInterval, check
from lit_evoae.pruning.operators import PruningOperator


class RandomUnitPruning(PruningOperator):
    """Remove `amount` of each layer's live units, drawn uniformly.

    Args:
        amount: the fraction of a layer's live units to remove, in [0, 1).
    """

    def __init__(self, amount: HalfOpenUnitInterval = 0.1) -> None:
        # The type annotation makes a bad value a parse-time error naming the key;
        # `check` gives the same error when the class is built from Python.
        self.amount = check("operator.amount", amount, HalfOpenUnitInterval)

    def layer_masks(self, weight_mask, bias_mask, statistic, generator):
        # One layer for the n individuals pruned now: weight_mask (n, in, out), stored
        # transposed, and bias_mask (n, out). A unit is an output column.
        live = bias_mask | weight_mask.any(1)  # (n, out): units with anything left
        scores = torch.rand(live.shape, generator=generator).to(live.device)
        scores[~live] = 2.0  # above every draw: a dead unit is never picked again
        count = (live.sum(1, keepdim=True) * self.amount).floor()
        drop = scores.argsort(1).argsort(1) < count  # the `count` lowest draws per row
        return weight_mask & ~drop.unsqueeze(1), bias_mask & ~drop
