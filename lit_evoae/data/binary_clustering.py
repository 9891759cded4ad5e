"""The paper's "binary clustering" problem: noisy copies of random binary centroids.

K centroids are drawn from {0,1}^D, each bit set with probability
`centroid_density`; every example is a centroid with each bit flipped
independently with probability p. Train, validation and test
splits come from the same centroids with independent noise. The paper's sets
are K in {10, 50} x D in {1000, 4000}, 100 examples per cluster, p = 0.05.

The reference draws centroid bits from Binomial(2, 0.5) and keeps "nonzero", so
its centroids have 3/4 of their bits set: the paper presets use density 0.75.
The metric depends on it (a network that has not separated every cluster
still gets the common bits right).
"""

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from lit_evoae.arguments import ClosedUnitInterval, NonNegativeInt, PositiveInt, check
from lit_evoae.data.base import TensorDataModule
from lit_evoae.data.cache import Tensors, cached

SPLITS = ("train", "val", "test")
CACHE_FORMAT = 1


@dataclass(frozen=True)
class BinaryClusteringSpec:
    num_clusters: int
    dim: int
    examples_per_cluster: int
    flip_probability: float
    seed: int
    centroid_density: float = 0.5

    def cache_name(self) -> str:
        density = "" if self.centroid_density == 0.5 else f"_q{self.centroid_density}"
        return (
            f"binary_clustering_k{self.num_clusters}_d{self.dim}_n{self.examples_per_cluster}"
            f"_p{self.flip_probability}{density}_seed{self.seed}.pt"
        )


def generate(spec: BinaryClusteringSpec) -> Tensors:
    """Centroids and, per split, uint8 examples and their cluster labels; same seed, same data."""
    generator = torch.Generator().manual_seed(spec.seed)
    shape = (spec.num_clusters, spec.dim)
    if spec.centroid_density == 0.5:  # the original draw: same seed, same data as before
        centroids = torch.randint(0, 2, shape, generator=generator)
    else:
        centroids = torch.rand(shape, generator=generator) < spec.centroid_density
    centroids = centroids.to(torch.uint8)
    labels = torch.arange(spec.num_clusters).repeat_interleave(spec.examples_per_cluster)
    tensors = {"centroids": centroids}
    for split in SPLITS:
        flips = torch.rand(len(labels), spec.dim, generator=generator) < spec.flip_probability
        tensors[f"{split}_examples"] = centroids[labels] ^ flips.to(torch.uint8)
        tensors[f"{split}_labels"] = labels
    return tensors


class BinaryClusteringDataModule(TensorDataModule):
    """Binary-clustering data, generated from a seed and cached under `data_dir`.

    The cache pins a study's exact data even if torch's random streams change
    between releases; a cache that fails its content check is regenerated.
    Every split holds `examples_per_cluster` examples of each cluster.
    """

    def __init__(
        self,
        num_clusters: PositiveInt = 10,
        dim: PositiveInt = 1000,
        examples_per_cluster: PositiveInt = 100,
        flip_probability: ClosedUnitInterval = 0.05,
        seed: NonNegativeInt = 0,
        centroid_density: ClosedUnitInterval = 0.5,
        batch_size: PositiveInt = 5,
        data_dir: str | Path = "data",
        num_workers: NonNegativeInt = 0,
        eval_batch_size: PositiveInt = 250,
        shuffle: bool = True,
    ) -> None:
        super().__init__(batch_size, num_workers, eval_batch_size, shuffle)
        self.spec = BinaryClusteringSpec(
            num_clusters=check("num_clusters", num_clusters, PositiveInt),
            dim=check("dim", dim, PositiveInt),
            examples_per_cluster=check("examples_per_cluster", examples_per_cluster, PositiveInt),
            flip_probability=check("flip_probability", flip_probability, ClosedUnitInterval),
            seed=check("seed", seed, NonNegativeInt),
            centroid_density=check("centroid_density", centroid_density, ClosedUnitInterval),
        )
        self.data_dir = Path(data_dir)
        self.save_hyperparameters(
            {**asdict(self.spec), "batch_size": self.batch_size, "data_dir": str(self.data_dir)}
        )
        self.input_dim = self.spec.dim

    def load(self) -> Tensors:
        metadata = {"format": CACHE_FORMAT, **asdict(self.spec)}
        return cached(self.data_dir / self.spec.cache_name(), metadata, lambda: generate(self.spec))

    def prepare_data(self) -> None:
        self.load()

    def setup(self, stage: str) -> None:
        tensors = self.load()
        self.splits = {
            split: TensorDataset(tensors[f"{split}_examples"].float(), tensors[f"{split}_labels"])
            for split in SPLITS
        }
