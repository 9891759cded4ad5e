"""Stacked populations of autoencoders and the evolutionary machinery around them."""

from lit_evoae.population.stacked import StackedAutoencoder, StackedLinear, StackedMLP

__all__ = ["StackedAutoencoder", "StackedLinear", "StackedMLP"]
