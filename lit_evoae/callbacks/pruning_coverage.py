"""The PruningCoverage callback: each generation, how the population's pruning covers the
weights (`pruning/coverage.py`), per trial, per layer and over all weights."""

from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from lit_evoae import keys
from lit_evoae.arguments import PositiveInt, check
from lit_evoae.errors import ConfigError
from lit_evoae.pruning.coverage import coverage, mask_diversity, uniformity
from lit_evoae.systems.base import PopulationCallback

#: No prune event at a cell and position yet.
NEVER = -(2**30)


class PruningCoverage(PopulationCallback):
    """Log `prune/coverage`, `prune/uniformity` and `prune/diversity` (over all weights) and
    each with `_layer<k>` (linear layer k, encoder first) every generation, over the prune
    events of the last `window` generations.

    Add it beside any pruning (`trainer.callbacks`); it costs memory of `window` counts and
    one generation number per weight position of every trial, and one pairwise comparison
    of each trial's cells per generation.

    Args:
        window: generations the measures look back over, the current one included.
    """

    def __init__(self, window: PositiveInt = 20) -> None:
        self.window = check("coverage.window", window, PositiveInt)
        self.counts: Tensor | None = None  # (window, trials, positions): events per generation
        self.last_pruned: Tensor | None = None  # (cells, positions): generation of the last event
        self._saved: dict | None = None  # from a checkpoint, until setup

    def setup(self, trainer: pl.Trainer, pl_module, stage: str) -> None:
        if stage != "fit":
            return
        if trainer.world_size > 1:
            raise ConfigError(
                "PruningCoverage counts the prune events of one process; it does not run "
                f"under DDP ({trainer.world_size} processes)"
            )
        population = pl_module.pruning_target()
        self.widths = [linear.weight[0].numel() for linear in population.linears()]
        positions, pack = sum(self.widths), pl_module.pack
        self.counts = torch.zeros(self.window, len(pack), positions, dtype=torch.int16)
        self.last_pruned = torch.full((pack.size, positions), NEVER, dtype=torch.int32)
        self._restore()

    def on_pruned(self, trainer, system, cells: Tensor, closed: list[Tensor]) -> None:
        events = torch.cat([layer.flatten(1) for layer in closed], 1).cpu()
        cells = cells.cpu()
        generation = trainer.current_epoch
        slot = self.counts[generation % self.window]
        slot.index_add_(0, system.pack.trial_of(cells), events.to(slot.dtype))
        self.last_pruned[cells] = torch.where(events, generation, self.last_pruned[cells])

    def on_generation_end(self, trainer, system) -> None:
        generation = trainer.current_epoch
        pack = system.pack
        counts = self.counts.sum(0, dtype=torch.int32)  # (trials, positions)
        recent = (generation - self.last_pruned < self.window).view(len(pack), pack.cells, -1)
        measures = {}
        for layer, (start, width) in enumerate(self._layers()):
            part, sets = counts[:, start : start + width], recent[..., start : start + width]
            measures[f"{keys.PRUNE_COVERAGE}_layer{layer}"] = coverage(part)
            measures[f"{keys.PRUNE_UNIFORMITY}_layer{layer}"] = uniformity(part)
            measures[f"{keys.PRUNE_DIVERSITY}_layer{layer}"] = mask_diversity(sets)
        measures[keys.PRUNE_COVERAGE] = coverage(counts)
        measures[keys.PRUNE_UNIFORMITY] = uniformity(counts)
        measures[keys.PRUNE_DIVERSITY] = mask_diversity(recent)
        self.counts[(generation + 1) % self.window] = 0  # the generation leaving the window
        for key, values in measures.items():
            defined = ~values.isnan()
            if not defined.any():
                continue
            trials = defined.nonzero().squeeze(1)
            pack.log(system, key, values[defined], trials, on_step=False, on_epoch=True)
            if pack.trial_logs is None:  # a run alone, or a pack outside a study: the mean
                system.log(key, values[defined].mean(), on_step=False, on_epoch=True)

    def _layers(self):
        start = 0
        for width in self.widths:
            yield start, width
            start += width

    # Checkpoints fall between generations: the window's counts and last events resume it.
    def state_dict(self) -> dict[str, Any]:
        if self.counts is None:
            return {}
        return {"counts": self.counts.clone(), "last_pruned": self.last_pruned.clone()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict:
            self._saved = state_dict
            self._restore()

    def _restore(self) -> None:
        """Take a checkpoint's state, once both it and the set-up buffers are here (Lightning
        restores callbacks after their setup, except under some loops: either order)."""
        if self._saved is None or self.counts is None:
            return
        self.counts.copy_(self._saved["counts"])
        self.last_pruned.copy_(self._saved["last_pruned"])
        self._saved = None
