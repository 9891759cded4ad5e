"""Claims in study files, and the verdicts the report gives them."""

import json

import pytest
import yaml

from lit_evoae import keys
from lit_evoae.errors import ConfigError
from lit_evoae.study.claims import Claim, claims_from_plan, parse_claims, verdicts
from lit_evoae.study.cli import main
from lit_evoae.study.report import compare, holm
from lit_evoae.study.spec import load_study

VARIANTS = ["none", "random_exponential"]


def results(values: dict[str, list[float]], metric: str = keys.FINAL_TRAIN_L1_MEAN) -> list[dict]:
    return [
        {"variant": variant, "trial": trial, metric: value}
        for variant, series in values.items()
        for trial, value in enumerate(series)
    ]


def test_claims_read_as_a_relation_between_variants_on_a_metric():
    claims = parse_claims(
        [
            "random_exponential < none",
            {"claim": "none > random_exponential", "metric": keys.TEST_L1},
        ],
        VARIANTS,
        "study.yaml",
    )
    assert claims == (
        Claim("random_exponential", "<", "none", keys.FINAL_TRAIN_L1_MEAN),
        Claim("none", ">", "random_exponential", keys.TEST_L1),
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "random_exponential < nothing",
            r"claim 'random_exponential < nothing' names unknown "
            r"variant\(s\) \['nothing'\]; the study's variants are",
        ),
        ({"claim": "none < random_exponential", "metric": "speed"}, "unknown metric 'speed'"),
        ("none is better", "must read 'VARIANT < VARIANT'"),
        ("none ~= random_exponential", r"needs a margin above 0: write it as 'none ~= "),
        ("none ~= random_exponential within 0%", "needs a margin above 0"),
        ("none ~= random_exponential within -5%", "needs a margin above 0"),
        ("none ~= random_exponential within five%", "needs a margin above 0"),
    ],
)
def test_a_bad_claim_is_one_error_naming_it_and_the_file(entry, message):
    with pytest.raises(ConfigError, match=message) as raised:
        parse_claims([entry], VARIANTS, "study file s.yaml")
    assert str(raised.value).startswith("study file s.yaml: claim")


def test_verdicts_hold_fail_or_are_inconclusive_with_the_reason():
    low, high = [0.10, 0.11, 0.12, 0.13, 0.14, 0.15], [0.20, 0.21, 0.22, 0.23, 0.24, 0.25]
    claims = (Claim("random_exponential", "<", "none"), Claim("none", "<", "random_exponential"))
    rows = verdicts(claims, results({"random_exponential": low, "none": high}), compare, holm)
    assert [row["verdict"] for row in rows] == ["holds", "fails"]
    assert rows[0]["p_holm"] < 0.05 and rows[0]["effect"] == -1.0  # every left value lower
    mixed = results({"random_exponential": low, "none": [v + 0.005 for v in low]})
    (row,) = verdicts(claims[:1], mixed, compare, holm)
    assert (row["verdict"], row["reason"]) == ("inconclusive", "the difference is not significant")


def test_an_equivalence_claim_reads_its_margin_and_keeps_it_in_the_plan():
    (claim,) = parse_claims(["none ~= random_exponential within 5%"], VARIANTS, "s.yaml")
    assert claim == Claim("none", "~=", "random_exponential", keys.FINAL_TRAIN_L1_MEAN, 0.05)
    assert claims_from_plan([claim.to_plan()]) == (claim,)


EQUAL = [0.200, 0.201, 0.199, 0.2005, 0.1995, 0.2002, 0.1998, 0.2001, 0.1999, 0.2003]


def test_tost_holds_for_samples_equal_within_the_margin():
    shifted = [v + 0.001 for v in EQUAL]  # 0.5% apart, margin 5% of 0.2 = 0.01
    claim = Claim("random_exponential", "~=", "none", margin=0.05)
    (row,) = verdicts(
        (claim,), results({"random_exponential": shifted, "none": EQUAL}), compare, holm
    )
    assert row["verdict"] == "holds" and row["reason"].startswith("equivalent")
    assert row["margin"] == pytest.approx(0.05 * 0.20005) and row["p_holm"] < 0.05


def test_tost_fails_for_samples_apart_by_more_than_the_margin():
    worse = [v * 1.3 for v in EQUAL]
    claim = Claim("random_exponential", "~=", "none", margin=0.05)
    (row,) = verdicts(
        (claim,), results({"random_exponential": worse, "none": EQUAL}), compare, holm
    )
    assert row["verdict"] == "fails" and "more than the margin" in row["reason"]


def test_tost_is_inconclusive_when_the_spread_hides_the_margin():
    spread = [0.1, 0.3, 0.15, 0.25, 0.2]
    claim = Claim("random_exponential", "~=", "none", margin=0.05)
    rows = verdicts(
        (claim,), results({"random_exponential": spread, "none": spread}), compare, holm
    )
    assert rows[0]["verdict"] == "inconclusive" and "not significantly" in rows[0]["reason"]


def test_a_claim_on_a_variant_not_run_says_so():
    (row,) = verdicts(
        (Claim("random_exponential", "<", "none"),),
        results({"none": [0.3, 0.2, 0.1]}),
        compare,
        holm,
    )
    assert (row["verdict"], row["reason"]) == (
        "inconclusive",
        "not run: no finished runs of random_exponential",
    )


def test_a_single_trial_cannot_settle_a_claim():
    (row,) = verdicts(
        (Claim("random_exponential", "<", "none"),),
        results({"random_exponential": [0.1], "none": [0.3]}),
        compare,
        holm,
    )
    assert row["verdict"] == "inconclusive" and row["reason"].startswith("too few trials")


@pytest.mark.integration
def test_the_study_file_states_claims_and_the_report_judges_them(tmp_path):
    study = {
        "name": "s",
        "trials": 4,
        "grid": {"pruning": {"none": {}, "random_exponential": {}}},
        "claims": ["random_exponential < none"],
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(study))
    loaded = load_study(tmp_path / "s.yaml")
    assert loaded.claims == (Claim("random_exponential", "<", "none"),)
    from lit_evoae.study.runner import write_plan

    out = tmp_path / "out"
    write_plan(loaded, loaded.runs(), out)
    for run in loaded.runs():
        folder = run.folder(out)
        folder.mkdir(parents=True)
        value = 0.1 + 0.01 * run.trial + (0.2 if run.variant == "none" else 0.0)
        (folder / keys.RESULT).write_text(
            json.dumps(
                {
                    "variant": run.variant,
                    "trial": run.trial,
                    "seed": run.seed,
                    keys.TEST_L1: value,
                    keys.FINAL_TRAIN_L1_MEAN: value,
                    keys.MODEL_SPARSITY: 0.0,
                }
            )
        )
    main(["report", str(out)])
    report = (out / "report" / "report.md").read_text()
    assert "## Claims" in report and "random_exponential < none" in report
    # 4 against 4 trials, every one lower: the exact two-sided p is 2/70 = 0.029
    assert "| holds | significant, in the claimed direction |" in report
    assert (out / "report" / "claims.csv").is_file()
    study["claims"] = ["random_exponential ~= none within 5%"]  # revised after the runs
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(study))
    main(["report", str(out), "--study", str(tmp_path / "s.yaml")])
    revised = (out / "report" / "claims.csv").read_text()
    assert "random_exponential ~= none within 5%" in revised and "< none" not in revised
    assert "significantly different by more than the margin" in revised


def test_an_unknown_variant_in_a_study_files_claims_is_refused(tmp_path):
    study = {"name": "s", "grid": {"pruning": {"none": {}}}, "claims": ["other < none"]}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(study))
    with pytest.raises(ConfigError, match=r"s.yaml: claim 'other < none' names unknown"):
        load_study(tmp_path / "s.yaml")
