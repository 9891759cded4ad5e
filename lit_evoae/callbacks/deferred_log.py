"""Values a callback logs several times a generation, reduced here and logged once at its end.

`LightningModule.log` costs about 2 ms a call on this project's CPUs (each call moves the
key's whole result record to the value's device), and a 38-trial pack's Pruning callbacks
made about 1,900 calls a generation: one per key, group and trial. Here each key is logged
once a generation. The reduction is Lightning's own epoch reduction, made with the same
float32 operations in the same order (each value times the batch size, summed, over the
summed batch sizes; or the plain sum), and the one value is logged with a batch size of 1,
which Lightning's reduction leaves unchanged: the logged number is bit for bit what logging
every value would have given. Under DDP every value is logged as it comes, since Lightning
syncs the ranks' sums, not their means.
"""

from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.data import extract_batch_size
from torch import Tensor


class DeferredLog:
    """Collects `(key, value)` pairs during a training batch (a generation), logs them at its end.

    Call `start(batch)` at the batch's start, `log(...)` as often as needed, and
    `flush(module)` at the batch's end.
    """

    def __init__(self) -> None:
        self._batch_size = 1
        self._pending: dict[str, tuple[Tensor, Tensor | None, dict[str, Any]]] = {}

    def start(self, batch: Any) -> None:
        """Lightning weights a mean by the batch's size: the one it extracts from `batch`."""
        self._batch_size = extract_batch_size(batch)
        self._pending.clear()

    def log(self, module: pl.LightningModule, key: str, value, **options) -> None:
        """As `module.log(key, value, on_step=False, on_epoch=True, **options)` would,
        reduced over the generation; `reduce_fx` may be "mean" (the default) or "sum"."""
        trainer = module.trainer
        if trainer.world_size > 1:
            module.log(key, value, on_step=False, on_epoch=True, **options)
            return
        value = _as_logged(value, module.device)
        summed = options.get("reduce_fx", "mean") == "sum"
        if key not in self._pending:  # Lightning's starting state: 0.0, and no batches yet
            zero = torch.tensor(0.0, dtype=_default_dtype(), device=value.device)
            no_batches = None if summed else torch.tensor(0, device=value.device)
            self._pending[key] = (zero, no_batches, options)
        total, count, _ = self._pending[key]
        if summed:
            total = total + value
        else:
            total = total + value * self._batch_size
            count = count + self._batch_size
        self._pending[key] = (total, count, options)

    def flush(self, module: pl.LightningModule) -> None:
        for key, (total, count, options) in self._pending.items():
            value = total if count is None else total / count
            module.log(key, value, on_step=False, on_epoch=True, batch_size=1, **options)
        self._pending.clear()


def _default_dtype() -> torch.dtype:
    """The dtype Lightning accumulates logged values in (float32 unless set higher)."""
    dtype = torch.get_default_dtype()
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def _as_logged(value, device: torch.device) -> Tensor:
    """`value` as Lightning turns it into a tensor before reducing it."""
    if not isinstance(value, Tensor):
        value = torch.tensor(value, device=device)
    if value.dtype not in (torch.float32, torch.float64):
        value = value.to(_default_dtype())
    return value.detach()
