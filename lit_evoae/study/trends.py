"""Claims over an ordered axis: does an effect grow (or shrink) with the axis's level?

    claims:
      - {claim: random_exponential < conjunctive_exponential grows with population}
      - {claim: random_exponential grows with population, metric: prune/uniformity_mean}

The axis is one of the study's grid axes; each of its entries names its level, the last
number in the entry's name (`population=20` is 20), and the levels order the axis. `A` and
`B` are entries of the other axes (joined with `__` where there are several), so at each
level L the claim compares the variants made of A and of B with L.

- `A < B grows with AXIS`: A's advantage over B (lower is better) grows with the level.
  At each level: the two medians, the Hodges-Lehmann shift of B over A (the median of
  every difference b - a, positive where A is lower) with a bootstrap 95% interval, and
  the two-sided Mann-Whitney p, Holm-corrected over the levels.
- `A grows with AXIS`: A's metric grows with the level; each level shows A's median with
  a bootstrap 95% interval.
- `shrinks` instead of `grows`: the same, downwards.

The verdict rests on one test of the trend: Spearman's correlation between the level and
the per-level effect, with an exact one-sided permutation p-value (every ordering of the
per-level effects over the levels, Monte Carlo beyond 8 levels). Why this test: it asks
only that the effect rise with the level, not that it rise linearly or in any unit; an
exact permutation test needs no distribution of the effects, whose spread differs from
level to level; and the claim names its direction, so the test is one-sided. Its price:
with k levels the smallest p is 1/k! (1/120 for five), which is the floor the verdict
states when it is inconclusive for too few levels. The p joins the study's other claims in
their Holm correction. A trend significantly the other way (its own one-sided p, times the
number of the study's claims) fails the claim.
"""

import itertools
import math
import re
from dataclasses import dataclass
from statistics import median

import numpy as np

from lit_evoae.errors import ConfigError

_TREND = re.compile(r"^\s*(\S+)\s*(?:<\s*(\S+)\s+)?(grows|shrinks)\s+with\s+(\S+)\s*$")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
RESAMPLES = 2000  # bootstrap resamples per interval
EXACT_UP_TO = 8  # levels: beyond, the permutation p is Monte Carlo


@dataclass(frozen=True)
class TrendClaim:
    left: str
    right: str | None  # None: a trend of `left`'s metric itself
    direction: str  # "grows" or "shrinks"
    axis: str
    metric: str
    #: (level, left variant, right variant or None), in the order of the levels.
    levels: tuple[tuple[float, str, str | None], ...] = ()

    @property
    def text(self) -> str:
        compared = self.left if self.right is None else f"{self.left} < {self.right}"
        return f"{compared} {self.direction} with {self.axis}"

    def __str__(self) -> str:
        return f"{self.text} on {self.metric}"

    def to_plan(self) -> dict:
        return {"claim": self.text, "metric": self.metric, "levels": [list(x) for x in self.levels]}


def is_trend(text) -> bool:
    return bool(_TREND.match(str(text)))


def parse_trend(text: str, metric: str, axes: dict[str, list[str]], where: str) -> TrendClaim:
    """A trend claim, its levels resolved against the grid's `axes` (axis -> entry names)."""
    left, right, direction, axis = _TREND.match(str(text)).groups()
    if axis not in axes:
        raise ConfigError(
            f"{where}: claim {text!r} names the axis {axis!r}, which the grid has not; "
            f"its axes are {sorted(axes)}"
        )
    levels = []
    for entry in axes[axis]:
        numbers = _NUMBER.findall(entry)
        if not numbers:
            raise ConfigError(
                f"{where}: claim {text!r} needs an ordered axis, but grid.{axis} entry "
                f"{entry!r} names no number; name each entry by its level, e.g. {axis}=20"
            )
        levels.append((float(numbers[-1]), entry))
    if len({level for level, _ in levels}) < len(levels):
        raise ConfigError(
            f"{where}: claim {text!r} needs an ordered axis, but grid.{axis}'s entries "
            f"{[e for _, e in levels]} do not name one level each"
        )
    position = list(axes).index(axis)
    resolved = tuple(
        (level, _variant(left, entry, position), right and _variant(right, entry, position))
        for level, entry in sorted(levels)
    )
    return TrendClaim(left, right, direction, axis, metric, resolved)


def _variant(rest: str, entry: str, position: int) -> str:
    parts = rest.split("__")
    return "__".join(parts[:position] + [entry] + parts[position:])


def from_plan(record: dict) -> TrendClaim:
    left, right, direction, axis = _TREND.match(record["claim"]).groups()
    levels = tuple((float(level), a, b) for level, a, b in record["levels"])
    return TrendClaim(left, right, direction, axis, record["metric"], levels)


def hodges_lehmann(left: list[float], right: list[float]) -> float:
    """The median of every difference right - left: how far `right` lies above `left`."""
    return float(np.median(np.subtract.outer(right, left)))


def bootstrap_interval(statistic, samples: list[list[float]], seed: int = 0) -> tuple:
    """A percentile bootstrap 95% interval of `statistic(*samples)`, each sample resampled
    on its own (seeded: the same results give the same interval)."""
    generator = np.random.default_rng(seed)
    values = [
        statistic(*(generator.choice(sample, len(sample)) for sample in samples))
        for _ in range(RESAMPLES)
    ]
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def spearman_permutation(levels: list[float], effects: list[float]) -> tuple[float, float, float]:
    """Spearman's rho between `levels` and `effects`, and its one-sided permutation
    p-values (rho this high or higher; this low or lower) over orderings of the effects."""
    ranks = _ranks(levels)
    effect_ranks = _ranks(effects)
    observed = _correlation(ranks, effect_ranks)
    if len(levels) <= EXACT_UP_TO:
        orderings = itertools.permutations(effect_ranks)
    else:
        generator = np.random.default_rng(0)
        orderings = (generator.permutation(effect_ranks) for _ in range(20_000))
    rhos = np.array([_correlation(ranks, list(order)) for order in orderings])
    tolerance = 1e-12
    return (
        observed,
        float(np.mean(rhos >= observed - tolerance)),
        float(np.mean(rhos <= observed + tolerance)),
    )


def _ranks(values: list[float]) -> list[float]:
    from scipy.stats import rankdata  # deferred: parsing a study must not import scipy

    return list(rankdata(values))


def _correlation(a: list[float], b: list[float]) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a - a.mean(), b - b.mean()
    scale = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / scale) if scale else 0.0


def smallest_p(levels: int) -> float:
    """The smallest one-sided p an exact permutation over `levels` levels can give."""
    return 1 / math.factorial(levels) if levels <= EXACT_UP_TO else 1 / 20_000


def judge(claim: TrendClaim, results: list[dict], holm) -> dict:
    """The claim's per-level rows and its trend test, before the study-wide correction:
    {"levels": [...], "rho", "p", "p_against", "floor", "n", "missing"}."""
    rows, missing = [], []
    for level, left_variant, right_variant in claim.levels:
        left = _values(results, left_variant, claim.metric)
        right = _values(results, right_variant, claim.metric) if right_variant else None
        if not left or (right is not None and not right):
            missing += [v for v, s in ((left_variant, left), (right_variant, right)) if v and not s]
            continue
        row = {"level": level, "n_left": len(left), "median_left": median(left)}
        if right is None:
            row["effect"] = median(left)
            row["low"], row["high"] = bootstrap_interval(lambda a: float(np.median(a)), [left])
        else:
            from scipy.stats import mannwhitneyu  # deferred, as above

            row.update(n_right=len(right), median_right=median(right))
            row["effect"] = hodges_lehmann(left, right)
            row["low"], row["high"] = bootstrap_interval(hodges_lehmann, [left, right])
            row["p"] = float(mannwhitneyu(left, right, alternative="two-sided").pvalue)
        rows.append(row)
    if all("p" in row for row in rows) and rows:
        for row, adjusted in zip(rows, holm([row["p"] for row in rows]), strict=True):
            row["p_holm"] = adjusted
    judged = {"levels": rows, "missing": missing, "n": len(rows)}
    if len(rows) < 3:
        judged.update(rho=None, p=1.0, p_against=1.0, floor=1.0)
        return judged
    effects = [row["effect"] for row in rows]
    if claim.direction == "shrinks":
        effects = [-effect for effect in effects]
    rho, p_up, p_down = spearman_permutation([row["level"] for row in rows], effects)
    sign = 1 if claim.direction == "grows" else -1
    judged.update(rho=sign * rho, p=p_up, p_against=p_down, floor=smallest_p(len(rows)))
    return judged


def _values(results: list[dict], variant: str, metric: str) -> list[float]:
    return [r[metric] for r in results if r["variant"] == variant and r.get(metric) is not None]
