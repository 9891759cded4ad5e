"""Claims a study file states, and the verdicts its results give them.

    claims:                                   # in a study file
      - random_exponential < none             # on final/train_l1_mean, the paper's metric
      - {claim: conjunctive_exponential > none, metric: test/l1}
      - conjunctive_exponential ~= none within 5%   # equivalent: within 5% of none's median

A claim compares two variants (names as the runs' `variant`) on a metric that is lower
when better. Its verdict: `holds` or `fails` when its test, Holm-corrected over all the
study's claims, is significant at 0.05, else `inconclusive`, with the reason: the test is
not significant, or the trials are too few for any result to be (the smallest p-value two
samples of those sizes can give, corrected, is not below 0.05).

- `A < B`, `A > B`: a two-sided Mann-Whitney U test; significant in the claimed direction
  holds, against it fails.
- `A ~= B within M%`: equivalence within the margin d = M% of B's median. Where the
  medians differ by less than d, two one-sided tests (TOST) on shifted samples, A + d >
  B and A - d < B (Mann-Whitney, each one-sided; p is the larger): significant holds.
  Where they differ by more, the one-sided test that A lies beyond d on that side (p
  doubled for the two sides): significant fails.
- `A <= B within M%`: A is not worse than B by more than d = M% of B's median
  (non-inferiority): the one-sided Mann-Whitney test that A - d lies below B; significant
  holds. The one-sided test that A - d lies above B, significant, fails.
- `A < B grows with AXIS`, `A grows with AXIS` (and `shrinks`): a trend over an ordered
  grid axis, see `study/trends.py`.
"""

import re
from dataclasses import dataclass
from math import comb
from statistics import median

from lit_evoae import keys
from lit_evoae.errors import ConfigError
from lit_evoae.study import trends

ALPHA = 0.05
DEFAULT_METRIC = keys.FINAL_TRAIN_L1_MEAN
#: What a claim may compare: each result.json holds these (lower is better for all but
#: capacity and sparsity, where "<" still means "lower").
METRICS = (
    *map(keys.final, keys.FINAL_NAMES),
    keys.TEST_L1,
    keys.VAL_L1_BEST,
    keys.MODEL_SPARSITY,
    *keys.COVERAGE_KEYS,
    *map(keys.run_mean, keys.COVERAGE_KEYS),
)
_FORM = re.compile(r"^\s*(\S+)\s*([<>])\s*(\S+)\s*$")
_EQUIVALENCE = re.compile(r"^\s*(\S+)\s*(~=|<=)\s*(\S+)(.*)$")
_MARGIN = re.compile(r"^\s*within\s+(\S+)\s*%\s*$")
EQUIVALENT = "~="
NOT_WORSE = "<="


@dataclass(frozen=True)
class Claim:
    left: str
    relation: str  # "<", ">", "~=" (equivalent within `margin`) or "<=" (not worse by more)
    right: str
    metric: str = DEFAULT_METRIC
    margin: float | None = None  # of the right side's median, for "~=" and "<=": 0.05 is 5%

    @property
    def text(self) -> str:
        within = "" if self.margin is None else f" within {100 * self.margin:g}%"
        return f"{self.left} {self.relation} {self.right}{within}"

    def __str__(self) -> str:
        return f"{self.text} on {self.metric}"

    def to_plan(self) -> dict:
        return {"claim": self.text, "metric": self.metric}


def parse_claim(text: str, metric: str, where: str) -> Claim:
    """One claim's text: `A < B`, `A > B`, `A ~= B within M%` or `A <= B within M%`."""
    equivalence = _EQUIVALENCE.match(str(text))
    if equivalence:
        left, relation, right, rest = equivalence.groups()
        margin = _MARGIN.match(rest)
        value = _percent(margin.group(1)) if margin else None
        if value is None or value <= 0:
            raise ConfigError(
                f"{where}: claim {text!r} needs a margin above 0: write it as "
                f"'{left} {relation} {right} within 5%'"
            )
        return Claim(left, relation, right, metric, value / 100)
    match = _FORM.match(str(text))
    if not match:
        raise ConfigError(
            f"{where}: claim {text!r} must read 'VARIANT < VARIANT', 'VARIANT > VARIANT', "
            "'VARIANT ~= VARIANT within M%', 'VARIANT <= VARIANT within M%' or "
            "'ENTRY < ENTRY grows with AXIS'"
        )
    return Claim(*match.groups(), metric)


def _percent(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_claims(
    entries, variants: list[str], where: str, axes: dict[str, list[str]] | None = None
) -> tuple[Claim, ...]:
    """Claims from a study file's `claims` list (`axes`: the grid's, axis -> entry names,
    for trend claims); errors name the claim, `where` (the file) and the known variants or
    metrics."""
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
        if trends.is_trend(text):
            claim = trends.parse_trend(text, metric, axes or {}, where)
            named = [v for _, left, right in claim.levels for v in (left, right) if v]
        else:
            claim = parse_claim(text, metric, where)
            named = [claim.left, claim.right]
        unknown = [name for name in named if name not in variants]
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
        claims.append(claim)
    return tuple(claims)


def claims_from_plan(records: list[dict]) -> tuple[Claim, ...]:
    return tuple(
        trends.from_plan(r) if "levels" in r else parse_claim(r["claim"], r["metric"], "study.json")
        for r in records
    )


def verdicts(claims: tuple[Claim, ...], results: list[dict], compare, holm) -> list[dict]:
    """One row per claim: medians and n of both sides, Holm-corrected p, effect, verdict."""
    rows, p_values, floors, within = [], [], [], []
    for claim in claims:
        if isinstance(claim, trends.TrendClaim):
            judged = trends.judge(claim, results, holm)
            rows.append({"claim": claim.text, "metric": claim.metric, "trend": judged})
            rows[-1].update(effect=judged["rho"], n_left=judged["n"], n_right=len(claim.levels))
            p_values.append(judged["p"])
            floors.append(judged["floor"])
            within.append(None)
            continue
        left, right = (_values(results, name, claim.metric) for name in (claim.left, claim.right))
        row = {
            "claim": claim.text,
            "metric": claim.metric,
            "n_left": len(left),
            "n_right": len(right),
            "median_left": median(left) if left else None,
            "median_right": median(right) if right else None,
        }
        testable = len(left) >= 1 and len(right) >= 1 and len(left) + len(right) >= 3
        p_value, effect = compare(left, right) if testable else (1.0, None)
        floor = smallest_p(len(left), len(right))
        if claim.relation == NOT_WORSE and testable:
            row["margin"] = claim.margin * abs(row["median_right"])
            p_value = not_worse_p(left, right, row["margin"], "less")
            floor = floor / 2  # one-sided
        if claim.relation == EQUIVALENT and testable:
            row["margin"] = claim.margin * abs(row["median_right"])
            within.append(abs(row["median_left"] - row["median_right"]) < row["margin"])
            p_value = equivalence_p(left, right, row["margin"], within[-1])
            floor = floor / 2 if within[-1] else floor  # one-sided, or doubled one-sided
        else:
            within.append(None)
        row["effect"] = effect
        p_values.append(p_value)
        floors.append(floor)
        rows.append(row)
    adjusted, adjusted_floors = holm(p_values), holm(floors)
    for row, claim, p_value, floor, inside in zip(
        rows, claims, adjusted, adjusted_floors, within, strict=True
    ):
        row["p_holm"] = p_value
        if "trend" in row:
            row["verdict"], row["reason"] = _trend_verdict(
                row["trend"], p_value, floor, len(claims)
            )
            continue
        if not row["n_left"] or not row["n_right"]:
            missing = [
                name
                for name, n in ((claim.left, row["n_left"]), (claim.right, row["n_right"]))
                if not n
            ]
            row["verdict"] = "inconclusive"
            row["reason"] = f"not run: no finished runs of {' and '.join(missing)}"
        elif floor >= ALPHA:
            row["verdict"] = "inconclusive"
            row["reason"] = (
                f"too few trials: n = {row['n_left']} and {row['n_right']} cannot "
                f"reach p < {ALPHA} (smallest corrected p {floor:.3g})"
            )
        elif claim.relation == EQUIVALENT:
            row["verdict"], row["reason"] = _equivalence_verdict(row, p_value, inside)
        elif claim.relation == NOT_WORSE:
            row["verdict"], row["reason"] = _not_worse_verdict(
                row, p_value, results, claim, len(claims)
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


def equivalence_p(left: list[float], right: list[float], margin: float, within: bool) -> float:
    """The p-value of equivalence within +-margin (TOST: the larger of the two one-sided
    Mann-Whitney p-values on shifted samples) when the medians lie `within` it; else of a
    difference beyond the margin on the medians' side (one-sided, doubled)."""
    from scipy.stats import mannwhitneyu  # deferred: parsing a study must not import scipy

    def shifted(by: float, alternative: str) -> float:
        return float(mannwhitneyu([v + by for v in left], right, alternative=alternative).pvalue)

    if within:
        return max(shifted(margin, "greater"), shifted(-margin, "less"))
    above = median(left) > median(right)
    beyond = shifted(-margin, "greater") if above else shifted(margin, "less")
    return min(1.0, 2 * beyond)


def not_worse_p(left: list[float], right: list[float], margin: float, alternative: str):
    """The one-sided Mann-Whitney p that `left` - margin lies below (`less`) or above
    (`greater`) `right`."""
    from scipy.stats import mannwhitneyu  # deferred: parsing a study must not import scipy

    shifted = [value - margin for value in left]
    return float(mannwhitneyu(shifted, right, alternative=alternative).pvalue)


def _not_worse_verdict(row: dict, p_value: float, results, claim, claims: int):
    margin = f"the margin {row['margin']:.3g}"
    if p_value < ALPHA:
        return "holds", f"not worse: significantly below the other's plus {margin}"
    left, right = (_values(results, name, claim.metric) for name in (claim.left, claim.right))
    if claims * not_worse_p(left, right, row["margin"], "greater") < ALPHA:
        return "fails", f"significantly worse by more than {margin}"
    return "inconclusive", f"not significantly below the other's plus {margin}"


def _trend_verdict(judged: dict, p_value: float, floor: float, claims: int) -> tuple[str, str]:
    levels = judged["n"]
    if judged["missing"] and levels < 3:
        return "inconclusive", f"not run: no finished runs of {', '.join(judged['missing'])}"
    partial = f" ({levels} levels with runs)" if judged["missing"] else ""
    if floor >= ALPHA:
        return "inconclusive", (
            f"too few levels: {levels} cannot reach p < {ALPHA} (smallest corrected p "
            f"{floor:.3g}){partial}"
        )
    rho = f"Spearman rho {judged['rho']:.2f}"
    if p_value < ALPHA:
        return "holds", f"the effect moves with the level as claimed: {rho}{partial}"
    if claims * judged["p_against"] < ALPHA:
        return "fails", f"the effect moves against the claim: {rho}{partial}"
    return "inconclusive", f"no significant trend: {rho}{partial}"


def _equivalence_verdict(row: dict, p_value: float, within: bool) -> tuple[str, str]:
    margin = f"the margin {row['margin']:.3g}"
    if p_value >= ALPHA:
        side = "within" if within else "beyond"
        return "inconclusive", f"medians differ by {side} {margin}, not significantly"
    if within:
        return "holds", f"equivalent: both one-sided tests reject a difference beyond {margin}"
    return "fails", f"significantly different by more than {margin}"


def _values(results: list[dict], variant: str, metric: str) -> list[float]:
    return [r[metric] for r in results if r["variant"] == variant and r.get(metric) is not None]


def smallest_p(n_left: int, n_right: int) -> float:
    """The smallest two-sided exact Mann-Whitney p-value samples of these sizes can give."""
    if n_left == 0 or n_right == 0:
        return 1.0
    return min(1.0, 2 / comb(n_left + n_right, n_left))
