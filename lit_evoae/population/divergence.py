"""Healing a population whose trained pair diverged (a non-finite weight): the decision."""

import torch
from torch import Tensor


@torch.no_grad()
def healing_sources(neighbourhoods: Tensor, last_l1: Tensor, diverged: Tensor) -> Tensor:
    """For each `diverged` cell, the cell of its neighbourhood (rows of `neighbourhoods`)
    whose center had the lowest last validation L1 (`last_l1`, per cell; all infinite
    before any validation, so the cell itself): the center it takes instead."""
    members = neighbourhoods.to(diverged.device)[diverged]
    return members.gather(1, last_l1[members].argmin(1, keepdim=True)).squeeze(1)
