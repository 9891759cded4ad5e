"""Pruning operators: pure functions from a layer's masks (and statistics) to new masks.

Every function takes one stacked layer of n individuals: `weight_mask` (n, in, out)
and `bias_mask` (n, out), True where a parameter is alive, and returns new masks.
Masks only ever lose entries. A *unit* is an output of the layer; pruning a unit
removes its incoming weights (column j of `weight_mask`) and its bias. Operators
that prune units never remove a layer's last live unit.
"""

from typing import Literal

import torch
from torch import Tensor
from torch.nn.utils import prune

Masks = tuple[Tensor, Tensor]


def live_units(weight_mask: Tensor, bias_mask: Tensor) -> Tensor:
    """(n, out): units with at least one live incoming parameter."""
    return weight_mask.any(1) | bias_mask


def prune_units(weight_mask: Tensor, bias_mask: Tensor, units: Tensor) -> Masks:
    """Remove the incoming weights and bias of `units` (n, out)."""
    return weight_mask & ~units.unsqueeze(1), bias_mask & ~units


def random_masks(
    weight_mask: Tensor, bias_mask: Tensor, amount: float, generator: torch.Generator
) -> Masks:
    """Prune floor(amount x live) of the live entries of the weight tensor, and likewise of
    the bias, uniformly at random, for each individual separately."""
    return (
        _prune_random_entries(weight_mask, amount, generator),
        _prune_random_entries(bias_mask, amount, generator),
    )


def _prune_random_entries(mask: Tensor, amount: float, generator: torch.Generator) -> Tensor:
    flat = mask.flatten(1)
    to_prune = _floor_share(flat.sum(1), amount)  # (n,)
    scores = torch.rand(flat.shape, generator=generator, device=generator.device).to(flat.device)
    scores = scores.masked_fill(~flat, 2.0)  # dead entries sort last
    chosen = _first_in_order(scores.argsort(1), to_prune)
    return (flat & ~chosen).view_as(mask)


def magnitude_masks(
    weight: Tensor, bias: Tensor, weight_mask: Tensor, bias_mask: Tensor, amount: float
) -> Masks:
    """Prune floor(amount x live) of the live entries of smallest |value| of the weight
    tensor, and likewise of the bias, for each individual separately (the ranking of
    `torch.nn.utils.prune.l1_unstructured`, counted on the live entries, as its iterative
    pruning does)."""
    return (
        _prune_smallest_entries(weight, weight_mask, amount),
        _prune_smallest_entries(bias, bias_mask, amount),
    )


def _prune_smallest_entries(values: Tensor, mask: Tensor, amount: float) -> Tensor:
    flat, live = values.flatten(1), mask.flatten(1)
    counts = _floor_share(live.sum(1), amount, at_most_all_but_one=False).tolist()
    magnitudes = torch.where(live, flat.abs(), torch.full_like(flat, float("inf")))
    kept = [
        prune.L1Unstructured(count).compute_mask(row, default_mask=alive.float()).bool()
        if count
        else alive
        for row, alive, count in zip(magnitudes, live, counts, strict=True)
    ]
    return torch.stack(kept).view_as(mask)


def _floor_share(count: Tensor, amount: float, at_most_all_but_one: bool = True) -> Tensor:
    """floor(amount x count) per row, computed in double (a long tensor times a float is
    float32, where e.g. 1 - 1e-8 is 1.0). For amount in [0, 1) that is at most count - 1,
    which rounding could still exceed, so it is capped there: never all of them (unless
    `at_most_all_but_one` is False, for an amount of 1 that means all)."""
    share = (count.double() * amount).floor().long()
    return torch.minimum(share, (count - 1).clamp(min=0)) if at_most_all_but_one else share


def variance_masks(
    weight_mask: Tensor,
    bias_mask: Tensor,
    variance: Tensor,
    generator: torch.Generator,
    amount: float | None = 0.1,
    prune_end: Literal["low", "high"] = "low",
    per_weight: bool = False,
) -> Masks:
    """Prune units by the spread of their activations over the epoch.

    Scores become probabilities linearly over the live units of each individual:
    with `prune_end="low"` the unit of least variance gets prune probability 1 and the
    unit of most variance 0, p_j = (max - v_j) / (max - min) (mirrored for "high");
    if all live units have the same variance, every p_j is 0.5. Each live unit is then
    pruned with probability p_j. `amount` bounds the count: at most floor(amount x live
    units) are pruned, those with the highest p_j among the ones drawn (None: no bound).

    `per_weight=True, amount=None, prune_end="high"` reproduces the reference: a keep/prune
    draw for every incoming weight and bias with its unit's probability, pruning the
    high-variance end, about half the weights per application.
    """
    live = live_units(weight_mask, bias_mask)
    probability = _spread_probability(variance, live, prune_end)
    draws = torch.rand(weight_mask.shape, generator=generator, device=generator.device)
    draws = draws.to(weight_mask.device)
    if per_weight:
        bias_draws = torch.rand(bias_mask.shape, generator=generator, device=generator.device)
        weights = weight_mask & ~(draws < probability.unsqueeze(1))
        bias = bias_mask & ~(bias_draws.to(bias_mask.device) < probability)
        # Draws can kill every unit of a layer; then the unit least likely to go is spared.
        died = live & ~live_units(weights, bias)
        spared = died & ~_spare_last_unit(died, live, probability)
        weights = torch.where(spared.unsqueeze(1), weight_mask, weights)
        return weights, torch.where(spared, bias_mask, bias)
    chosen = (draws[:, 0, :] < probability) & live
    if amount is not None:
        chosen = _at_most(chosen, probability, _floor_share(live.sum(1), amount))
    chosen = _spare_last_unit(chosen, live, probability)
    return prune_units(weight_mask, bias_mask, chosen)


def _spread_probability(variance: Tensor, live: Tensor, prune_end: str) -> Tensor:
    if prune_end not in ("low", "high"):
        raise ValueError(f"prune_end={prune_end!r} is invalid: use 'low' or 'high'")
    inf = torch.tensor(float("inf"), device=variance.device)
    low = torch.where(live, variance, inf).amin(1, keepdim=True)
    high = torch.where(live, variance, -inf).amax(1, keepdim=True)
    span = high - low
    scaled = (variance - low) / _nonzero(span)
    probability = 1 - scaled if prune_end == "low" else scaled
    probability = torch.where(span > 0, probability, torch.full_like(probability, 0.5))
    return torch.where(live, probability.clamp(0, 1), torch.zeros_like(probability))


def _nonzero(span: Tensor) -> Tensor:
    """`span` where positive, else 1: a divisor for min-max scaling. (Clamping to the smallest
    normal float instead would scale a subnormal but nonzero spread wrongly, to about 0.)"""
    return torch.where(span > 0, span, torch.ones_like(span))


def _at_most(chosen: Tensor, priority: Tensor, limit: Tensor) -> Tensor:
    """Keep, per row, only the `limit` chosen entries of highest priority."""
    ranked = torch.where(chosen, priority, torch.full_like(priority, -1.0))
    return chosen & _first_in_order(ranked.argsort(1, descending=True), limit)


def _first_in_order(order: Tensor, count: Tensor) -> Tensor:
    """Per row, True at the first `count` entries of `order` (a permutation of the columns):
    what `order.argsort(1) < count` gives, since a permutation's inverse is unique, with one
    scatter instead of a second sort (a pack sorts every pruned layer of every trial)."""
    first = torch.arange(order.shape[1], device=order.device) < count.unsqueeze(1)
    return torch.zeros_like(first).scatter_(1, order, first)


def _spare_last_unit(chosen: Tensor, live: Tensor, priority: Tensor) -> Tensor:
    """Where `chosen` would remove every live unit, keep the one of lowest priority."""
    emptied = (live & ~chosen).sum(1) == 0
    keep = torch.where(live, priority, torch.full_like(priority, float("inf"))).argmin(1)
    spared = torch.zeros_like(chosen)
    spared[torch.arange(len(keep), device=keep.device), keep] = True
    return chosen & ~(spared & emptied.unsqueeze(1))


def _intersected(quiet: Tensor, stop: Literal["before_empty", "at_one"]) -> Tensor:
    """The marks left after intersecting `quiet` (n, cases, units) case after case, by the
    stop rule of `conjunctive_masks`: (n, units).

    Intersections only shrink, so the running intersection after every case is one
    cumulative AND over the cases, and each rule is the first case where its count of
    marked units says stop (one pass of tensor ops instead of a step per case)."""
    running = quiet.to(torch.uint8).cummin(1).values  # after case k: cases 0..k intersected
    counts = running.sum(2)  # (n, cases)
    cases = quiet.shape[1]
    if stop == "at_one":  # the first intersection with at most one unit marked is kept
        stops = counts <= 1
        last = torch.where(stops.any(1), stops.int().argmax(1), cases - 1)
    else:  # the last intersection before the first empty one (the first case if it is empty)
        empty = counts == 0
        first_empty = torch.where(empty.any(1), empty.int().argmax(1), cases)
        last = (first_empty - 1).clamp(min=0)
    return running[torch.arange(len(quiet), device=quiet.device), last].bool()


def conjunctive_masks(
    weight_mask: Tensor,
    bias_mask: Tensor,
    case_activations: Tensor,
    threshold: float = 0.1,
    stop: Literal["before_empty", "at_one"] = "before_empty",
) -> Masks:
    """Prune the units that are quiet in case after case ("lexicase"-style).

    `case_activations` (n, cases, out) are the layer's activations on held-out cases.
    Per case, activations are min-max normalised over the live units; units below
    `threshold` are marked. Starting from the first case's marks, marks are intersected
    case after case, for each individual until:
    - `before_empty`: the next case would leave no unit marked (that case is skipped and
      the intersection stops);
    - `at_one`: at most one unit is marked (the reference implementation's rule: it
      intersects while more than one unit is marked, so it may end with one or none).
    The units still marked are pruned.
    """
    live = live_units(weight_mask, bias_mask)
    inf = torch.tensor(float("inf"), device=case_activations.device)
    low = torch.where(live.unsqueeze(1), case_activations, inf).amin(2, keepdim=True)
    high = torch.where(live.unsqueeze(1), case_activations, -inf).amax(2, keepdim=True)
    span = _nonzero(high - low)  # no spread: every live unit normalises to 0, i.e. quiet
    quiet = ((case_activations - low) / span < threshold) & live.unsqueeze(1)
    if quiet.shape[1] == 0:
        return weight_mask, bias_mask
    marked = _intersected(quiet, stop)
    loudness = case_activations.mean(1)  # the last unit left standing is the loudest
    chosen = _spare_last_unit(marked, live, -loudness)
    return prune_units(weight_mask, bias_mask, chosen)
