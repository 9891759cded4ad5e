"""Per-individual metrics: a torchmetric reduced across ranks, and whole-split errors."""

import torch
from torch import Tensor
from torchmetrics import Metric

from lit_evoae.nets import eval_mode


def l1_sums(reconstructions: Tensor, targets: Tensor) -> Tensor:
    """Each individual's summed absolute error, (n,), of `reconstructions` (n, batch,
    features) against `targets`. The difference is made absolute in place: a population's
    validation batch is hundreds of MB, and a second copy of it costs more than the sum."""
    return (reconstructions - targets).abs_().sum(dim=(1, 2))


@torch.no_grad()
def split_l1(population, inputs: Tensor, batch_size: int) -> Tensor:
    """Mean L1 of every individual of `population` over `inputs` (examples, features), in
    chunks of `batch_size` examples: (population,)."""
    device = next(population.parameters()).device
    total = torch.zeros(population.population_size, dtype=torch.float64, device=device)
    with eval_mode(population):
        for chunk in inputs.split(batch_size):
            chunk = chunk.to(device)
            total += l1_sums(population(chunk), chunk).double()
    return (total / inputs.numel()).float()


class PopulationMean(Metric):
    """Every individual's sum of a value over an epoch over its count, shape (population,)."""

    full_state_update = False

    def __init__(self, population_size: int) -> None:
        super().__init__()
        self.add_state("total", torch.zeros(population_size, dtype=torch.float64), "sum")
        self.add_state("count", torch.zeros(population_size, dtype=torch.float64), "sum")

    def update(self, sums: Tensor, count: int, rows: slice = slice(None)) -> None:
        """`sums` (n,) over `count` items of individuals `rows` (all by default; under DDP a
        rank's block, summed with the others' on compute)."""
        self.total[rows] += sums.double()
        self.count[rows] += count

    def compute(self) -> Tensor:
        return (self.total / self.count).float()


class PopulationL1(PopulationMean):
    """Mean absolute reconstruction error of every individual over an epoch, shape (population,)."""

    def update(self, reconstructions: Tensor, targets: Tensor, rows: slice = slice(None)) -> None:
        """`reconstructions` (n, batch, features) of `targets` (batch, features) by individuals
        `rows`."""
        super().update(l1_sums(reconstructions, targets), targets.numel(), rows)
