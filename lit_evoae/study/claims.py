"""Claims a study file states, and the verdicts its results give them.

    claims:                                   # in a study file
      - random_exponential < none             # on final/train_l1_mean, the paper's metric
      - {claim: conjunctive_exponential > none, metric: test/l1}

A claim compares two variants (names as the runs' `variant`) on a metric that is lower
when better. Its verdict: `holds` or `fails` when a two-sided Mann-Whitney U test,
Holm-corrected over all the study's claims, is significant at 0.05 (in the claimed
direction, or against it), else `inconclusive`, with the reason: the test is not
significant, or the trials are too few for any result to be (the smallest p-value two
samples of those sizes can give, corrected, is not below 0.05).
"""

import re
from dataclasses import dataclass
from math import comb
from statistics import median

from lit_evoae import keys
from lit_evoae.errors import ConfigError

ALPHA = 0.05
DEFAULT_METRIC = keys.FINAL_TRAIN_L1_MEAN
#: What a claim may compare: each result.json holds these (lower is better for all but
#: capacity and sparsity, where "<" still means "lower").
METRICS = (*map(keys.final, keys.FINAL_NAMES), keys.TEST_L1, keys.VAL_L1_BEST, keys.MODEL_SPARSITY)
_FORM = re.compile(r"^\s*(\S+)\s*([<>])\s*(\S+)\s*$")


@dataclass(frozen=True)
class Claim:
    left: str
    relation: str  # "<" or ">"
    right: str
    metric: str = DEFAULT_METRIC

    def __str__(self) -> str:
        return f"{self.left} {self.relation} {self.right} on {self.metric}"

    def to_plan(self) -> dict:
        return {"claim": f"{self.left} {self.relation} {self.right}", "metric": self.metric}


def parse_claims(entries, variants: list[str], where: str) -> tuple[Claim, ...]:
    """Claims from a study file's `claims` list; errors name the claim, `where` (the file)
    and the known variants or metrics."""
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: claims must be a list of 'A < B' or {{claim, metric}}")
    claims = []
    for entry in entries:
        text, metric = (
            (entry.get("claim"), entry.get("metric", DEFAULT_METRIC))
            if isinstance(entry, dict)
            else (entry, DEFAULT_METRIC)
        )
        match = _FORM.match(str(text))
        if not match:
            raise ConfigError(
                f"{where}: claim {text!r} must read 'VARIANT < VARIANT' or 'VARIANT > VARIANT'"
            )
        left, relation, right = match.groups()
        unknown = [name for name in (left, right) if name not in variants]
        if unknown:
            raise ConfigError(
                f"{where}: claim {text!r} names unknown variant(s) {unknown}; "
                f"the study's variants are {sorted(variants)}"
            )
        if metric not in METRICS:
            raise ConfigError(
                f"{where}: claim {text!r} names unknown metric {metric!r}; "
                f"choose one of {', '.join(METRICS)}"
            )
        claims.append(Claim(left, relation, right, metric))
    return tuple(claims)


def claims_from_plan(records: list[dict]) -> tuple[Claim, ...]:
    claims = []
    for record in records:
        left, relation, right = _FORM.match(record["claim"]).groups()
        claims.append(Claim(left, relation, right, record["metric"]))
    return tuple(claims)


def verdicts(claims: tuple[Claim, ...], results: list[dict], compare, holm) -> list[dict]:
    """One row per claim: medians and n of both sides, Holm-corrected p, effect, verdict."""
    rows, p_values, floors = [], [], []
    for claim in claims:
        left, right = (_values(results, name, claim.metric) for name in (claim.left, claim.right))
        row = {
            "claim": f"{claim.left} {claim.relation} {claim.right}",
            "metric": claim.metric,
            "n_left": len(left),
            "n_right": len(right),
            "median_left": median(left) if left else None,
            "median_right": median(right) if right else None,
        }
        testable = len(left) >= 1 and len(right) >= 1 and len(left) + len(right) >= 3
        p_value, effect = compare(left, right) if testable else (1.0, None)
        row["effect"] = effect
        p_values.append(p_value)
        floors.append(smallest_p(len(left), len(right)))
        rows.append(row)
    adjusted, adjusted_floors = holm(p_values), holm(floors)
    for row, claim, p_value, floor in zip(rows, claims, adjusted, adjusted_floors, strict=True):
        row["p_holm"] = p_value
        if floor >= ALPHA:
            row["verdict"] = "inconclusive"
            row["reason"] = (
                f"too few trials: n = {row['n_left']} and {row['n_right']} cannot "
                f"reach p < {ALPHA} (smallest corrected p {floor:.3g})"
            )
        elif p_value >= ALPHA:
            row["verdict"], row["reason"] = "inconclusive", "the difference is not significant"
        else:
            lower = row["median_left"] < row["median_right"]
            held = lower if claim.relation == "<" else not lower
            row["verdict"] = "holds" if held else "fails"
            row["reason"] = (
                "significant, in the claimed direction"
                if held
                else "significant, against the claimed direction"
            )
    return rows


def _values(results: list[dict], variant: str, metric: str) -> list[float]:
    return [r[metric] for r in results if r["variant"] == variant and r.get(metric) is not None]


def smallest_p(n_left: int, n_right: int) -> float:
    """The smallest two-sided exact Mann-Whitney p-value samples of these sizes can give."""
    if n_left == 0 or n_right == 0:
        return 1.0
    return min(1.0, 2 / comb(n_left + n_right, n_left))
