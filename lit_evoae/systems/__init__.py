"""LightningModules: the systems that own and train autoencoder populations."""

from lit_evoae.systems.canonical import CanonicalAutoencoder

__all__ = ["CanonicalAutoencoder"]
