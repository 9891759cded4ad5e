"""LightningModules: the systems that own and train autoencoder populations."""

from lit_evoae.systems.canonical import CanonicalAutoencoder
from lit_evoae.systems.coevolution import CoevolutionaryAutoencoder

__all__ = ["CanonicalAutoencoder", "CoevolutionaryAutoencoder"]
