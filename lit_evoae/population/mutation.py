"""Mutation: each cell's learning rate takes a small Gaussian step every generation (pure)."""

import torch
from torch import Tensor


def mutate_learning_rates(
    learning_rates: Tensor, sigma: float, bounds: tuple[float, float], generator: torch.Generator
) -> Tensor:
    """Each rate plus N(0, sigma^2), clamped to `bounds` (the paper: sigma 1e-5, [1e-9, 10])."""
    noise = torch.randn(
        learning_rates.shape,
        generator=generator,
        device=generator.device,
        dtype=learning_rates.dtype,
    )
    return (learning_rates + sigma * noise.to(learning_rates.device)).clamp(*bounds)
