"""Claims over an ordered axis: parsing, the per-level effects and the trend's verdict."""

import json

import pytest
import yaml

from lit_evoae import keys
from lit_evoae.errors import ConfigError
from lit_evoae.study.claims import claims_from_plan, parse_claims, verdicts
from lit_evoae.study.cli import main
from lit_evoae.study.report import compare, holm
from lit_evoae.study.spec import load_study
from lit_evoae.study.trends import (
    TrendClaim,
    hodges_lehmann,
    judge,
    smallest_p,
    spearman_permutation,
)

SIZES = [1, 2, 5, 10, 20]
AXES = {"population": [f"population={n}" for n in SIZES], "pruning": ["random", "conjunctive"]}
VARIANTS = [f"population={n}__{p}" for n in SIZES for p in ("random", "conjunctive")]
METRIC = keys.FINAL_TRAIN_L1_MEAN


def results(gap_of, trials=10, metric=METRIC, base_of=lambda n: 0.2):
    """Trials whose conjunctive value lies gap_of(n) above random's at population n."""
    rows = []
    for n in SIZES:
        for trial in range(trials):
            noise = 0.001 * ((trial * 7) % 10)
            rows.append(
                {"variant": f"population={n}__random", "trial": trial, metric: base_of(n) + noise}
            )
            value = base_of(n) + gap_of(n) + 0.001 * ((trial * 3) % 10)
            rows.append({"variant": f"population={n}__conjunctive", "trial": trial, metric: value})
    return rows


def claim(text="random < conjunctive grows with population", metric=METRIC):
    return parse_claims([{"claim": text, "metric": metric}], VARIANTS, "s.yaml", AXES)


def test_a_trend_claim_resolves_each_level_to_its_variants_in_the_axis_order():
    (parsed,) = claim()
    assert isinstance(parsed, TrendClaim)
    assert parsed.levels[0] == (1.0, "population=1__random", "population=1__conjunctive")
    assert [level for level, _, _ in parsed.levels] == [1, 2, 5, 10, 20]
    (back,) = claims_from_plan([parsed.to_plan()])
    assert back == parsed  # study.json keeps the resolved levels


def test_the_level_is_the_last_number_of_the_entry_even_out_of_order():
    axes = {"size": ["s20", "s1.5", "s3"], "op": ["a"]}
    variants = [f"{s}__a" for s in axes["size"]]
    (parsed,) = parse_claims(["a grows with size"], variants, "s.yaml", axes)
    assert [(level, left) for level, left, _ in parsed.levels] == [
        (1.5, "s1.5__a"),
        (3.0, "s3__a"),
        (20.0, "s20__a"),
    ]


@pytest.mark.parametrize(
    ("axes", "text", "message"),
    [
        (
            {"population": ["small", "large"], "pruning": ["random"]},
            "random grows with population",
            r"s.yaml: claim 'random grows with population' needs an ordered axis, but "
            r"grid.population entry 'small' names no number",
        ),
        (
            {"population": ["p1", "q1"], "pruning": ["random"]},
            "random grows with population",
            "do not name one level each",
        ),
        (
            {"population": ["p1"], "pruning": ["random"]},
            "random grows with size",
            r"names the axis 'size', which the grid has not; its axes are",
        ),
    ],
)
def test_an_axis_without_order_is_one_error_naming_the_claim_and_the_file(axes, text, message):
    variants = [f"{a}__{b}" for a in axes["population"] for b in axes["pruning"]]
    with pytest.raises(ConfigError, match=message):
        parse_claims([text], variants, "study file s.yaml", axes)


def test_the_per_level_effect_is_the_hodges_lehmann_shift_with_an_interval():
    assert hodges_lehmann([1.0, 2.0], [3.0, 5.0]) == 2.5  # differences 2, 1, 4, 3
    (parsed,) = claim()
    judged = judge(parsed, results(lambda n: 0.01 * n), holm)
    for row, n in zip(judged["levels"], SIZES, strict=True):
        assert row["low"] <= row["effect"] <= row["high"]
        assert row["effect"] == pytest.approx(0.01 * n, abs=0.006)
        assert row["p_holm"] >= row["p"]


def test_a_monotone_trend_holds_a_reversed_one_fails_and_a_flat_one_is_inconclusive():
    (parsed,) = claim()
    grows = verdicts((parsed,), results(lambda n: 0.01 * n), compare, holm)[0]
    assert grows["verdict"] == "holds" and grows["effect"] == pytest.approx(1.0)
    assert grows["p_holm"] == pytest.approx(1 / 120)  # every ordering once: the exact floor
    falls = verdicts((parsed,), results(lambda n: 0.2 - 0.01 * n), compare, holm)[0]
    assert falls["verdict"] == "fails" and "against the claim" in falls["reason"]
    flat = verdicts((parsed,), results(lambda n: 0.05 + 0.004 * (n % 2)), compare, holm)[0]
    assert flat["verdict"] == "inconclusive" and "no significant trend" in flat["reason"]


def test_a_metric_of_its_own_can_trend_and_shrinks_reads_downwards():
    (rises,) = claim("random grows with population", keys.PRUNE_UNIFORMITY)
    rows = results(lambda n: 0.0, metric=keys.PRUNE_UNIFORMITY, base_of=lambda n: n / 20)
    assert verdicts((rises,), rows, compare, holm)[0]["verdict"] == "holds"
    (falls,) = claim("random shrinks with population", keys.PRUNE_UNIFORMITY)
    assert verdicts((falls,), rows, compare, holm)[0]["verdict"] == "fails"


def test_too_few_levels_cannot_settle_a_trend():
    axes = {"population": ["p1", "p2", "p3"], "pruning": ["random", "conjunctive"]}
    variants = [f"{s}__{p}" for s in axes["population"] for p in axes["pruning"]]
    (parsed,) = parse_claims(["random < conjunctive grows with population"], variants, "s", axes)
    rows = [
        {"variant": f"p{n}__{op}", "trial": t, METRIC: (0.1 if op == "random" else 0.1 + n) + t}
        for n in (1, 2, 3)
        for op in ("random", "conjunctive")
        for t in range(5)
    ]
    (row,) = verdicts((parsed,), rows, compare, holm)
    assert smallest_p(3) == pytest.approx(1 / 6)
    assert row["verdict"] == "inconclusive" and "too few levels" in row["reason"]


def test_spearman_permutation_p_is_exact_over_the_orderings():
    rho, up, down = spearman_permutation([1, 2, 3, 4], [0.1, 0.3, 0.2, 0.4])
    assert rho == pytest.approx(0.8)
    assert up == pytest.approx(4 / 24)  # the identity and the three adjacent swaps
    assert down == pytest.approx(23 / 24)  # all but the identity


def test_a_non_inferiority_claim_holds_fails_or_is_inconclusive():
    from lit_evoae.study.claims import parse_claims as parse

    variants = ["a", "b"]
    (not_worse,) = parse(["a <= b within 5%"], variants, "s.yaml")
    assert not_worse.relation == "<=" and not_worse.margin == pytest.approx(0.05)

    def rows(a, b):
        return [{"variant": "a", METRIC: v} for v in a] + [{"variant": "b", METRIC: v} for v in b]

    b = [1.0 + 0.01 * t for t in range(10)]
    better = verdicts((not_worse,), rows([v - 0.2 for v in b], b), compare, holm)[0]
    assert better["verdict"] == "holds"
    same = verdicts((not_worse,), rows(b, b), compare, holm)[0]
    assert same["verdict"] == "holds"  # equal medians: well within the 5% margin
    worse = verdicts((not_worse,), rows([v + 0.5 for v in b], b), compare, holm)[0]
    assert worse["verdict"] == "fails"
    close = verdicts((not_worse,), rows([v + 0.05 for v in b], b), compare, holm)[0]
    assert close["verdict"] == "inconclusive"


def test_a_study_file_states_a_trend_and_the_report_shows_every_level(tmp_path):
    study = {
        "name": "s",
        "trials": 4,
        "grid": {
            "population": {f"population={n}": {} for n in SIZES},
            "pruning": {"random": {}, "conjunctive": {}},
        },
        "claims": ["random < conjunctive grows with population"],
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(study))
    loaded = load_study(tmp_path / "s.yaml")
    from lit_evoae.study.runner import write_plan

    out = tmp_path / "out"
    write_plan(loaded, loaded.runs(), out)
    for run in loaded.runs():
        folder = run.folder(out)
        folder.mkdir(parents=True)
        n = float(run.variant.split("__")[0].split("=")[1])
        gap = 0.01 * n if run.variant.endswith("conjunctive") else 0.0
        value = 0.2 + gap + 0.001 * run.trial
        record = {"variant": run.variant, "trial": run.trial, "seed": run.seed}
        record |= {keys.TEST_L1: value, METRIC: value, keys.MODEL_SPARSITY: 0.0}
        (folder / keys.RESULT).write_text(json.dumps(record))
    main(["report", str(out)])
    report = (out / "report" / "report.md").read_text()
    assert "random < conjunctive grows with population" in report
    assert "| holds |" in report
    assert "| population | n | median random | median conjunctive |" in report
    assert report.count("| 20 | 4 |") == 1
    for plot in ("population_heatmap.png", "population_effects.png"):
        assert (out / "report" / plot).stat().st_size > 0 and f"({plot})" in report
