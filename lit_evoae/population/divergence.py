"""Healing a population whose trained pair diverged (a non-finite weight)."""

import torch
from torch import Tensor

from lit_evoae.population.stacked import copy_individuals_


@torch.no_grad()
def heal_(system, diverged: Tensor) -> Tensor:
    """Copy into each `diverged` cell the center of lowest last validation L1 in its
    neighbourhood (itself, before any validation): weights, masks, Adam moments and
    learning rate. Returns the cells copied from."""
    members = system.plan.neighbourhoods.to(diverged.device)[diverged]
    sources = members.gather(1, system.center_l1[members].argmin(1, keepdim=True)).squeeze(1)
    copy_individuals_(system.centers, system.centers, diverged, sources)
    copy_individuals_(system.center_adam, system.center_adam, diverged, sources)
    system.learning_rates[diverged] = system.learning_rates[sources]
    return sources
