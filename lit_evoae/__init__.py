"""Evolutionary autoencoder training with activation-based pruning, on PyTorch Lightning."""

__version__ = "0.1.0"
