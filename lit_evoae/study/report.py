"""The study report: per-group tables with significance tests, and plots.

Runs are grouped by every grid axis except `pruning` (e.g. regime, data set). Within a
group each pruning variant is compared, on final test L1, against no pruning, random
pruning and magnitude pruning with the same schedule (operator and schedule as the
classes its pruning configures name them, whatever its fragment's file name): two-sided
Mann-Whitney U tests, Holm-corrected within each family (all tests against one
baseline in one group), with the rank-biserial correlation as effect size
(r = 2U/(n1 n2) - 1; r > 0: the variant's L1 tends to be higher, i.e. worse).
`median_train_l1_mean` is the paper's metric: the mean over cells of each final center's
L1 on the training set.
"""

import csv
from pathlib import Path
from statistics import median

import numpy as np
from scipy.stats import mannwhitneyu

from lit_evoae import keys
from lit_evoae.io import atomic_write_text
from lit_evoae.study.claims import ALPHA, Claim, claims_from_plan, smallest_p, verdicts
from lit_evoae.study.fragments import NO_PRUNING, UNKNOWN, operator_and_schedule
from lit_evoae.study.grid import Cell, cells, variant_at
from lit_evoae.study.grid_report import grid_sections
from lit_evoae.study.plots import plot_all
from lit_evoae.study.results import (
    COMPARED_AXIS,
    PRUNED_WITH,
    by_group,
    group_key,
    load_results,
    read_plan_file,
)
from lit_evoae.study.status import STATES, run_states


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order."""
    order = sorted(range(len(p_values)), key=lambda index: p_values[index])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, index in enumerate(order):
        running = max(running, (len(p_values) - rank) * p_values[index])
        adjusted[index] = min(1.0, running)
    return adjusted


def compare(variant: list[float], baseline: list[float]) -> tuple[float, float]:
    """Two-sided Mann-Whitney U p-value and rank-biserial effect size of variant vs baseline."""
    statistic, p_value = mannwhitneyu(variant, baseline, alternative="two-sided")
    return float(p_value), 2 * float(statistic) / (len(variant) * len(baseline)) - 1


def baseline(name: str, found: dict[str, Cell], operator: str) -> str | None:
    """The variant of a group that prunes with `operator` on `name`'s schedule (with `none`:
    the group's variant without pruning); None for `operator`'s own variants, for no
    pruning, and where the group has no such variant."""
    own, schedule = found[name]
    wanted = (NO_PRUNING, NO_PRUNING) if operator == NO_PRUNING else (operator, schedule)
    if own in (operator, NO_PRUNING) or UNKNOWN in wanted:
        return None
    return variant_at(found, wanted)


#: The operators each variant is tested against, as the column labels say them.
BASELINES = (NO_PRUNING, "random", "magnitude")


def summarise(results: list[dict]) -> dict[str, list[dict]]:
    """One table (a list of rows) per group."""
    tables = {}
    for group, variants in by_group(results):
        l1 = {name: [r[keys.TEST_L1] for r in runs] for name, runs in variants.items()}
        rows = []
        found = cells(variants)
        for name in sorted(variants):
            values = l1[name]
            quartiles = np.percentile(values, [25, 75])
            rows.append(
                {
                    "variant": name,
                    **dict(zip(PRUNED_WITH, found[name], strict=True)),
                    "n": len(values),
                    "median_test_l1": median(values),
                    "iqr_test_l1": float(quartiles[1] - quartiles[0]),
                    "median_sparsity": median(r[keys.MODEL_SPARSITY] for r in variants[name]),
                    "median_train_l1_mean": _median_of(variants[name], keys.FINAL_TRAIN_L1_MEAN),
                }
            )
        for label in BASELINES:
            tests = [(row, baseline(row["variant"], found, label)) for row in rows]
            tests = [(row, base) for row, base in tests if base is not None]
            outcomes = [compare(l1[row["variant"]], l1[base]) for row, base in tests]
            adjusted = holm([p for p, _ in outcomes])
            for (row, _), (_, effect), p_value in zip(tests, outcomes, adjusted, strict=True):
                row[f"p_vs_{label}_holm"] = p_value
                row[f"effect_vs_{label}"] = effect
        tables[group] = rows
    return tables


COLUMNS = [
    "variant",
    *PRUNED_WITH,
    "n",
    "median_test_l1",
    "iqr_test_l1",
    "median_train_l1_mean",
    "median_sparsity",
    "p_vs_none_holm",
    "effect_vs_none",
    "p_vs_random_holm",
    "effect_vs_random",
    "p_vs_magnitude_holm",
    "effect_vs_magnitude",
]


def small_n_warning(rows: list[dict]) -> str | None:
    """A warning when a group's trials are too few for any test against its baselines to
    reach p < 0.05, whatever the data: p = 1 there means "untestable", not "no difference"."""
    sizes = {row["variant"]: row["n"] for row in rows}
    found = {row["variant"]: (row["operator"], row["schedule"]) for row in rows}
    tested = [
        (row["variant"], base)
        for row in rows
        for base in (baseline(row["variant"], found, label) for label in BASELINES)
        if base is not None
    ]
    untestable = [pair for pair in tested if smallest_p(*map(sizes.get, pair)) >= ALPHA]
    if not untestable:
        return None
    lowest_p = max(smallest_p(*map(sizes.get, pair)) for pair in untestable)
    after = (
        f"too few for the Mann-Whitney test to reach p < {ALPHA} whatever the results (the "
        f"smallest possible p is {lowest_p:.3g}); run at least 4 trials per variant "
        "(--trials 4) before reading the p-values"
    )
    if len(untestable) == len(tested):
        n = min(sizes[name] for pair in untestable for name in pair)
        return f"**Warning:** n = {n} trials per variant is {after}."
    # Some variants of the group are still running: name the ones too small to test.
    few = sorted({min(pair, key=sizes.get) for pair in untestable})
    listed = ", ".join(f"{name} (n = {sizes[name]})" for name in few)
    return f"**Warning:** the trials of {listed} are {after}; the other rows are testable."


def markdown(tables: dict[str, list[dict]], provenance: str = "") -> str:
    lines = ["# Study report", "", f"Runs {provenance}." if provenance else "", ""]
    lines += [__doc__.split("\n\n", 1)[1].strip(), ""]
    for group, rows in tables.items():
        warning = small_n_warning(rows)
        lines += [
            f"## {group}",
            "",
            *([warning, ""] if warning else []),
            "| " + " | ".join(COLUMNS) + " |",
            "|" + "---|" * len(COLUMNS),
        ]
        for row in rows:
            lines.append("| " + " | ".join(_cell(row.get(column)) for column in COLUMNS) + " |")
        lines.append("")
    return "\n".join(lines)


def _median_of(runs: list[dict], key: str) -> float | None:
    """The median of `key` over runs that logged it (runs of older versions did not)."""
    values = [run[key] for run in runs if run.get(key) is not None]
    return median(values) if values else None


def _cell(value) -> str:
    if value is None:
        return "–"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


CLAIM_COLUMNS = [
    "claim",
    "metric",
    "n_left",
    "n_right",
    "median_left",
    "median_right",
    "margin",
    "p_holm",
    "effect",
    "verdict",
    "reason",
]


def claim_markdown(rows: list[dict]) -> str:
    lines = [
        "## Claims",
        "",
        "| " + " | ".join(CLAIM_COLUMNS) + " |",
        "|" + "---|" * len(CLAIM_COLUMNS),
    ]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in CLAIM_COLUMNS) + " |" for row in rows]
    for row in rows:
        if "trend" in row:
            lines += ["", *trend_markdown(row)]
    return "\n".join(lines + [""])


def trend_markdown(row: dict) -> list[str]:
    """A trend claim's levels: n, the medians, the effect with its bootstrap 95% interval
    and, comparing two entries, the Mann-Whitney p Holm-corrected over the levels."""
    claim, judged = row["claim"], row["trend"]
    left, _, rest = claim.partition(" < ")
    right = rest.split(" ")[0] if rest else None
    axis = claim.rsplit(" with ", 1)[1]
    title = f"### {claim} ({row['metric']}): {row['verdict']}"
    if right is None:
        left = left.split(" ")[0]
        head = f"| {axis} | n | median {left} | 95% interval |"
        cells = ["level", "n_left", "median_left", "interval"]
    else:
        head = (
            f"| {axis} | n | median {left} | median {right} | shift (HL) | 95% interval | "
            "p (Holm over levels) |"
        )
        cells = ["level", "n_left", "median_left", "median_right", "effect", "interval", "p_holm"]
    lines = [title, "", head, "|" + "---|" * len(cells)]
    for level in judged["levels"]:
        shown = {**level, "interval": f"{level['low']:.4g} to {level['high']:.4g}"}
        shown["level"] = f"{level['level']:g}"
        lines.append("| " + " | ".join(_cell(shown.get(c)) for c in cells) + " |")
    if judged["missing"]:
        lines += ["", f"Not run yet: {', '.join(judged['missing'])}."]
    return lines


def made_with(out: Path) -> str:
    """The --set and --only of the commands that made the runs under `out` (study.json's
    history), one line: a shortened study must say so wherever its results are shown."""
    plan = read_plan_file(out / keys.PLAN)
    history = plan.get("history") or [{"set": plan.get("set", []), "only": plan.get("only", [])}]
    commands = []
    for command in history:
        parts = [f"--set {key}={value}" for key, value in command.get("set", [])]
        parts += [f"--only '{pattern}'" for pattern in command.get("only", [])]
        commands.append(" ".join(parts) or "the study file as written (no --set, no --only)")
    return "made with: " + "; then ".join(dict.fromkeys(commands))


RUN_COLUMNS = ["group", "variant", "planned", *STATES]


def run_accounting(out: Path) -> tuple[list[dict], list[str]]:
    """One row per (group, variant) of the plan: its runs planned and in each state; and a
    line per run not finished, naming the log or file to read."""
    rows: dict[tuple[str, str], dict] = {}
    unfinished = []
    for state in run_states(out):
        choices = dict(state.run.choices) or {COMPARED_AXIS: state.run.variant}
        group = group_key(choices)
        variant = choices.get(COMPARED_AXIS, state.run.variant)
        row = rows.setdefault(
            (group, variant),
            {
                "group": group,
                "variant": variant,
                **dict(zip(PRUNED_WITH, operator_and_schedule(state.run), strict=True)),
                "planned": 0,
                **dict.fromkeys(STATES, 0),
            },
        )
        row["planned"] += 1
        row[state.state] += 1
        if state.state != "finished":
            detail = f": {state.detail}" if state.detail else ""
            unfinished.append(f"- `{state.run.key}` {state.state}{detail}")
    return [rows[key] for key in sorted(rows)], unfinished


def runs_markdown(rows: list[dict], unfinished: list[str]) -> str:
    lines = ["## Runs", "", "| " + " | ".join(RUN_COLUMNS) + " |", "|" + "---|" * len(RUN_COLUMNS)]
    lines += ["| " + " | ".join(str(row[c]) for c in RUN_COLUMNS) + " |" for row in rows]
    return "\n".join([*lines, "", *unfinished, ""])


def not_finished_line(rows: list[dict]) -> str | None:
    """The warning at the top of a report over a study with runs not finished."""
    planned = sum(row["planned"] for row in rows)
    left = {name: sum(row[name] for row in rows) for name in STATES if name != "finished"}
    if not any(left.values()):
        return None
    listed = ", ".join(f"{count} {name}" for name, count in left.items() if count)
    return (
        f"**Not finished:** {sum(left.values())} of the {planned} planned runs have no "
        f"result ({listed}); the tables below use the finished runs only. See Runs."
    )


def write_report(out: Path, claims: tuple[Claim, ...] | None = None) -> Path:
    """Tables (report.md, report.csv), the claims' verdicts (claims.csv) and plots (*.png)
    into `out/report/`; `claims`: judge these instead of those study.json recorded."""
    results = load_results(out)
    tables = summarise(results)
    folder = out / "report"
    folder.mkdir(exist_ok=True)
    if claims is None:
        records = read_plan_file(out / keys.PLAN).get("claims", [])
        claims = claims_from_plan(records)
    claims = verdicts(claims, results, compare, holm)
    provenance = made_with(out)
    accounted, unfinished = run_accounting(out)
    warning = not_finished_line(accounted)
    text = (f"{warning}\n\n" if warning else "") + markdown(tables, provenance)
    text += "\n" + claim_markdown(claims) if claims else ""
    if any("trend" in row for row in claims):
        from lit_evoae.study.trend_plots import trend_plots

        plots = trend_plots(results, claims, folder, provenance)
        text += "\n" + "\n".join(f"![{p.stem}]({p.name})" for p in plots) + "\n"
    text += "\n" + grid_sections(results, folder, compare, holm, provenance)
    text += "\n" + runs_markdown(accounted, unfinished) if accounted else ""
    atomic_write_text(folder / keys.REPORT_MD, text)
    if claims:
        with (folder / keys.CLAIMS_CSV).open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=CLAIM_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(claims)
    counted = {(row["group"], row["variant"]): row for row in accounted}
    with (folder / keys.REPORT_CSV).open("w", newline="") as handle:
        fields = ["group", *COLUMNS, "planned", *STATES, "made_with"]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for group, rows in tables.items():
            for row in rows:
                runs = counted.pop((group, row["variant"]), {})
                writer.writerow({**runs, "group": group, **row, "made_with": provenance})
        for runs in counted.values():  # planned variants with no finished run
            writer.writerow({**runs, "n": 0, "made_with": provenance})
    plot_all(results, folder, provenance)
    return folder
