"""Data modules: the paper's synthetic binary clustering, image sets and your own arrays."""

from lit_evoae.data.arrays import ArrayDataModule
from lit_evoae.data.binary_clustering import BinaryClusteringDataModule
from lit_evoae.data.images import ImageDataModule

__all__ = ["ArrayDataModule", "BinaryClusteringDataModule", "ImageDataModule"]
