"""Independent trials trained as one population: the one place that knows about trials.

A study packs T runs into one stacked population, T times one run's cells; a run alone is
a pack of one. Trial t owns the consecutive rows t*cells .. (t+1)*cells - 1 and draws only
from its own seed, so it trains as it would alone. Systems, update orders, cell evaluations
and pruning are written for a population plus a `Pack`: they ask it which rows go together,
whose generator to draw from and under which names to log, and never number trials.
"""

from collections.abc import Sequence

import torch
from torch import Tensor

from lit_evoae import compat, keys
from lit_evoae.arguments import NonNegativeInt, check_each
from lit_evoae.errors import ConfigError


class Pack:
    """The trials of one population: their seeds, generators, rows and pruning variants,
    and the activation moments their operators share."""

    def __init__(self, seeds: Sequence[int], cells: int = 1) -> None:
        if not seeds:
            raise ConfigError("seeds: give at least one seed (or null for the run's own)")
        self.seeds = list(check_each("seeds", seeds, NonNegativeInt))
        self.cells = cells
        #: Each trial's generator of evolution draws (weights, selection, mutation, order).
        self.generators = [torch.Generator().manual_seed(seed) for seed in self.seeds]
        #: Each trial's pruning variant, where a study's pack mixes them (see `split`).
        self.variants: list[str | None] = [None] * len(self.seeds)
        #: The activation moments of a population, shared by the operators recording it
        #: (`ActivationMoments.shared`): one forward hook per layer however many variants.
        self.moments = None
        #: Where each trial's values go, if not to Lightning: a study's pack gives each
        #: trial a log of its own (`study.trial_logs.TrialLogs`).
        self.trial_logs = None

    @classmethod
    def of_run(cls, seeds: Sequence[int] | None, cells: int = 1) -> "Pack":
        """A pack of `seeds` (a study's pack) or, for None, of the run's own seed alone."""
        return cls([torch.initial_seed()] if seeds is None else seeds, cells)

    def __len__(self) -> int:
        return len(self.seeds)

    @property
    def size(self) -> int:
        """Rows (cells) of the whole population."""
        return len(self) * self.cells

    def rows(self, trial: int) -> slice:
        return slice(trial * self.cells, (trial + 1) * self.cells)

    def trial_of(self, rows: Tensor) -> Tensor:
        return rows // self.cells

    def split(self, rows: Tensor, variant: str | None = None) -> list[tuple[int, Tensor]]:
        """(trial, positions in `rows` of its rows) for every trial present, or only for
        `variant`'s trials if one is named."""
        # One stable sort, not a comparison per trial: pruning splits every group's rows
        # several times a generation, and a pack holds hundreds of trials.
        trials = self.trial_of(rows.cpu())
        order = torch.argsort(trials, stable=True)
        present, counts = torch.unique_consecutive(trials[order], return_counts=True)
        return [
            (t, positions)
            for t, positions in zip(present.tolist(), order.split(counts.tolist()), strict=True)
            if variant is None or self.variants[t] == variant
        ]

    def positions(self, rows: Tensor, variant: str) -> Tensor:
        """Positions in `rows` of the rows of `variant`'s trials, in order."""
        mine = torch.tensor([name == variant for name in self.variants])
        return mine[self.trial_of(rows.cpu())].nonzero().squeeze(1)

    def streams(
        self, rows: Tensor, generators=None, variant: str | None = None
    ) -> list[tuple[torch.Generator, Tensor]]:
        """(generator, positions in `rows`) per trial present (of `variant`'s only, if one
        is named): what each row draws from, the trial's evolution generator or its one of
        `generators` (a family with one per trial)."""
        generators = self.generators if generators is None else generators
        return [(generators[trial], positions) for trial, positions in self.split(rows, variant)]

    def blocks(self) -> list[tuple[torch.Generator, slice]]:
        """(generator, rows) of each trial: whatever a trial draws for all its rows at once."""
        return [(generator, self.rows(t)) for t, generator in enumerate(self.generators)]

    def per_row(self, per_trial: Tensor, rows: Tensor) -> Tensor:
        """`per_trial` (trials, ...) indexed by the trial of each of `rows`: (rows, ...)."""
        return per_trial[self.trial_of(rows).to(per_trial.device)]

    def counts(self, rows: Tensor) -> Tensor:
        """How many of `rows` each trial holds, (trials,), zeros included."""
        return torch.bincount(self.trial_of(rows.cpu()), minlength=len(self))

    def each(self, values: Tensor) -> Tensor:
        """`values` over every row of the population as (trials, cells)."""
        return values.view(len(self), -1)

    def means(self, values: Tensor, rows: Tensor) -> Tensor:
        """The mean of `values` (one per row of `rows`) over each trial's rows: (trials,)."""
        trials = self.trial_of(rows).to(values.device)
        sums = torch.zeros(len(self), device=values.device).index_add_(0, trials, values)
        return sums / torch.bincount(trials, minlength=len(self)).clamp(min=1)

    def tile(self, neighbourhoods: Tensor) -> Tensor:
        """One trial's neighbourhood table (cells, k) repeated for every trial, so that no
        trial's neighbourhood leaves its own rows."""
        return torch.cat([neighbourhoods + trial * self.cells for trial in range(len(self))])

    @property
    def logs_each_trial(self) -> bool:
        """Whether each trial's values are logged apart: a run alone logs its own keys."""
        return self.trial_logs is not None or len(self) > 1

    def log(self, module, key: str, values: Tensor, trials=None, **options) -> None:
        """Each trial's value of `key`, values (trials,), or of `trials` only: into each
        one's own log if the pack has `trial_logs`, else through `module.log` under each
        trial's own name (`keys.trial`). Nothing for a run alone: it logs `key` itself."""
        if not self.logs_each_trial or compat.attached_trainer(module) is None:
            return
        trials = torch.arange(len(self)) if trials is None else torch.as_tensor(trials)
        if self.trial_logs is not None:
            self.trial_logs.add(key, values, trials, options.get("reduce_fx", "mean"))
            return
        for name, value in self.named(key, values, trials.tolist()).items():
            module.log(name, value, **options)

    def named(self, key: str, values: Tensor, trials: Sequence[int] | None = None) -> dict:
        """Each trial's value of `key` (values: of every trial, or of `trials`) under the
        trial's own name (`keys.trial`), as a pack without trial logs logs them."""
        trials = range(len(self)) if trials is None else trials
        return {keys.trial(key, t): v for t, v in zip(trials, values, strict=True)}

    def log_by_trial(
        self, module, key: str, values: Tensor, rows: Tensor, reduce_fx: str = "mean", **options
    ) -> None:
        """`values`, one per row of `rows`, reduced over each trial's rows (their mean, or
        their sum for `reduce_fx` "sum"), as the value of `key` of each trial present."""
        split = self.split(rows)
        if not self.logs_each_trial or not split:
            return
        reduce = torch.sum if reduce_fx == "sum" else torch.mean
        per_trial = torch.stack([reduce(values[p.to(values.device)]) for _, p in split])
        trials = [trial for trial, _ in split]
        self.log(module, key, per_trial, trials, reduce_fx=reduce_fx, **options)

    def log_cells(self, key: str, values: Tensor, cells: Tensor, log) -> None:
        """`key` of each of `cells` (values, one each): into each trial's own log, numbered
        within the trial, if the pack has `trial_logs`; else `log({name: value})`, the names
        numbered over the whole pack (`keys.cell`), the values plain floats."""
        if self.trial_logs is not None:
            self.trial_logs.add_cells(key, values, cells, self.cells)
        else:
            log({keys.cell(key, int(c)): v for c, v in zip(cells, values.tolist(), strict=True)})
