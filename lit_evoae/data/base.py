"""The loaders every data module here shares: three in-memory tensor splits."""

from collections.abc import Iterator

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Sampler, TensorDataset

from lit_evoae.validation import NonNegativeInt, PositiveInt, check


class EpochShuffle(Sampler[int]):
    """A shuffle drawn from (seed, epoch) alone, so a run resumed at epoch e replays epoch e's
    order exactly (a DataLoader's default shuffle draws from the global RNG, which resuming
    does not restore). `passes` chains that many independent permutations into one epoch.

    Lightning calls `set_epoch` before every epoch. `skip` leaves out the first indices of
    the next iteration only: a run resumed mid-epoch continues where it stopped.
    """

    def __init__(self, length: int, seed: int, passes: int = 1) -> None:
        self.length = length
        self.seed = seed
        self.passes = passes
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length * self.passes

    def __iter__(self) -> Iterator[int]:
        start, self.skip = self.skip, 0
        generator = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % 2**63)
        order = [torch.randperm(self.length, generator=generator) for _ in range(self.passes)]
        yield from torch.cat(order)[start:].tolist()


class ResumableLoader(DataLoader):
    """A DataLoader whose place in the epoch is saved in Lightning's checkpoints.

    Lightning stores `state_dict()` of a loader that has one and restores it on resume, so a
    run checkpointed mid-epoch (pre-emption) goes on with the next batch instead of
    replaying the epoch from its start. The sampler must be an `EpochShuffle`.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._served = 0  # batches handed out in the current epoch
        self._resume_at = 0

    def __iter__(self):
        start, self._resume_at = self._resume_at, 0
        self.sampler.skip = start * self.batch_size
        self._served = start
        for batch in super().__iter__():
            self._served += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"batches_served": self._served}

    def load_state_dict(self, state: dict[str, int]) -> None:
        served = int(state["batches_served"])
        self._resume_at = served if served < len(self) else 0  # a finished epoch: start anew


class TensorDataModule(pl.LightningDataModule):
    """Serves `self.splits["train" | "val" | "test"]`, each a `TensorDataset` of (vector, label).

    Subclasses fill `splits` in `setup` and set `input_dim`, the width of a vector,
    which the CLI links to the model so the width is given once.
    """

    input_dim: int

    def __init__(self, batch_size: PositiveInt, num_workers: NonNegativeInt) -> None:
        super().__init__()
        self.batch_size = check("batch_size", batch_size, PositiveInt)
        self.num_workers = check("num_workers", num_workers, NonNegativeInt)
        self.splits: dict[str, TensorDataset] = {}
        #: Training passes per epoch; sequential coevolution trains one cell per pass.
        self.train_passes = 1

    def _loader(self, split: str, sampler: Sampler | None = None) -> DataLoader:
        return (DataLoader if sampler is None else ResumableLoader)(
            self.splits[split],
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        # Seeded from the run's seed (seed_everything), so runs and resumes are reproducible.
        sampler = EpochShuffle(len(self.splits["train"]), torch.initial_seed(), self.train_passes)
        return self._loader("train", sampler)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
