"""Per-individual metrics: a torchmetric reduced across ranks, and whole-split errors."""

import torch
from torch import Tensor
from torchmetrics import Metric

from lit_evoae.nets import eval_mode

#: Most elements one scoring pass of a population may output at once. A larger population is
#: scored a chunk of rows at a time, so its passing tensors stay the same size however large
#: the pack (issue 32). At 2**25 (128 MiB outputs) each validation left a few hundred MB of
#: freed heap that the training step's smaller tensors could not reuse: a coevolution pack
#: of 16 trials peaked anywhere from 1617 to 2264 MiB (5 processes). At 2**22 (16 MiB, the
#: size of the step's own) 1306 to 1361 MiB (5), no slower (one thread, this project's CPU).
CHUNK_ELEMENTS = 2**22


def row_chunks(rows: slice, per_row: int) -> list[slice]:
    """`rows` cut into consecutive slices whose outputs of `per_row` elements each stay
    within CHUNK_ELEMENTS (one row at least)."""
    step = max(1, CHUNK_ELEMENTS // max(1, per_row))
    return [slice(at, min(at + step, rows.stop)) for at in range(rows.start, rows.stop, step)]


def l1_sums(reconstructions: Tensor, targets: Tensor) -> Tensor:
    """Each individual's summed absolute error, (n,), of `reconstructions` (n, batch,
    features) against `targets`. The difference is made absolute in place: a population's
    validation batch is hundreds of MB, and a second copy of it costs more than the sum."""
    return (reconstructions - targets).abs_().sum(dim=(1, 2))


@torch.no_grad()
def split_l1(population, inputs: Tensor, batch_size: int) -> Tensor:
    """Mean L1 of every individual of `population` over `inputs` (examples, features), in
    chunks of `batch_size` examples and of `row_chunks` individuals: (population,)."""
    device = next(population.parameters()).device
    total = torch.zeros(population.population_size, dtype=torch.float64, device=device)
    with eval_mode(population):
        for chunk in inputs.split(batch_size):
            chunk = chunk.to(device)
            for rows in row_chunks(slice(0, population.population_size), chunk.numel()):
                each = chunk.expand(rows.stop - rows.start, *chunk.shape)
                total[rows] += l1_sums(population(each, rows), chunk).double()
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
