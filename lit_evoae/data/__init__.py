"""Data modules: the paper's synthetic binary clustering and real image sets."""

from lit_evoae.data.binary_clustering import BinaryClusteringDataModule
from lit_evoae.data.images import ImageDataModule

__all__ = ["BinaryClusteringDataModule", "ImageDataModule"]
