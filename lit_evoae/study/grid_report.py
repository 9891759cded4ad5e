"""The report's grid sections: heatmaps, quality against capacity (Pareto front), network
size over generations, the best combination per group (the paper's third claim), and the
groups side by side (a study of networks, cell evaluations or population sizes)."""

from pathlib import Path
from statistics import median

from lit_evoae import keys
from lit_evoae.study.claims import ALPHA
from lit_evoae.study.fragments import UNKNOWN
from lit_evoae.study.grid import Summary, best_and_ties
from lit_evoae.study.grid_plots import (
    CAPACITY,
    heatmap_groups,
    plot_heatmaps,
    plot_pareto,
    plot_sizes,
    summaries,
)
from lit_evoae.study.results import COMPARED_AXIS, PRUNED_WITH, by_group, natural_order

METRIC = keys.FINAL_TRAIN_L1_MEAN


def grid_sections(results: list[dict], folder: Path, compare, holm, subtitle: str = "") -> str:
    """The markdown of the grid sections; their plots are written into `folder`."""
    grouped = by_group(results)
    drawn, skipped = heatmap_groups(grouped)
    lines = ["## Operator x schedule", ""]
    lines += [f"- {line}" for line in skipped] + ([""] if skipped else [])
    if drawn:
        for metric, label, name in (
            (METRIC, "final/train_l1_mean", "heatmap_train_l1_mean.png"),
            (CAPACITY, "final/capacity", "heatmap_capacity.png"),
        ):
            plot_heatmaps(drawn, metric, label, folder / name, subtitle)
            lines += [f"![median {label} per operator x schedule]({name})", ""]
    _, fronts = plot_pareto(grouped, folder / "pareto.png", subtitle)
    lines += ["## Quality against capacity", "", "![Pareto front](pareto.png)", ""]
    for group, front in fronts.items():
        quality, capacity = (summaries(dict(grouped)[group], m) for m in (METRIC, CAPACITY))
        listed = ", ".join(
            f"{name} ({quality[name].median:.4f}, {capacity[name].median:.3f})" for name in front
        )
        lines.append(f"- {group}: Pareto front (train L1, capacity): {listed or 'none'}")
    if any(r.get(keys.MODEL_ENCODER_LIVE) is not None for r in results):
        plot_sizes(grouped, folder / "size_curves.png", subtitle)
        lines += ["", "## Network size over generations", "", "![sizes](size_curves.png)"]
    lines += ["", "## Best combination per group", "", _best_text(grouped, compare, holm), ""]
    across = _across_text(grouped, compare, holm)
    lines += ["## Across groups", "", across, ""] if across else []
    return "\n".join(lines)


def pruning_label(result: dict) -> str:
    """What a run pruned with, comparable between groups: its pruning variant where the
    study has a pruning axis, else its operator and schedule (`none` without pruning)."""
    if COMPARED_AXIS in result["choices"]:
        return result["choices"][COMPARED_AXIS]
    operator, schedule = (result.get(field, UNKNOWN) for field in PRUNED_WITH)
    return operator if operator == schedule else f"{operator} {schedule}"


def _across_text(grouped, compare, holm) -> str:
    """The groups side by side where the study varies more than pruning (a network, a cell
    evaluation, a population size): for each pruning found in several groups, every group's
    n, median and IQR of the metric, and each group against the lowest (two-sided
    Mann-Whitney, Holm over that pruning's tests; r > 0: higher, i.e. worse). Empty when no
    pruning is in two groups."""
    values: dict[str, dict[str, list[float]]] = {}
    for group, variants in grouped:
        for runs in variants.values():
            for run in runs:
                if run.get(METRIC) is not None:
                    per_group = values.setdefault(pruning_label(run), {})
                    per_group.setdefault(group, []).append(run[METRIC])
    shared = {label: found for label, found in values.items() if len(found) > 1}
    if not shared:
        return ""
    lines = [
        f"{METRIC} of each group, per pruning; each group against the lowest (two-sided "
        f"Mann-Whitney, Holm-corrected per pruning; effect r > 0: higher, i.e. worse):",
        "",
        "| pruning | group | n | median | IQR | p vs lowest (Holm) | effect vs lowest |",
        "|---|---|---|---|---|---|---|",
    ]
    for label in sorted(shared, key=natural_order):
        found = shared[label]
        best = best_and_ties(found, compare, holm, ALPHA)
        for group in found:  # in the groups' order
            summary = Summary.of(found[group])
            if group == best["best"]:
                tested = ("lowest", "–")
            elif group in best["p_holm"]:
                tested = (f"{best['p_holm'][group]:.3g}", f"{best['effect'][group]:+.2f}")
            else:
                tested = ("–", "–")  # too few runs to test
            lines.append(
                f"| {label} | {group} | {summary.n} | {summary.median:.4f} | "
                f"{summary.high - summary.low:.4f} | {tested[0]} | {tested[1]} |"
            )
    return "\n".join(lines)


def _best_text(grouped, compare, holm) -> str:
    lines = [
        f"Lowest median {METRIC}, and the variants not significantly different from it "
        f"(two-sided Mann-Whitney against the best, Holm-corrected, alpha {ALPHA}):",
        "",
    ]
    for group, variants in grouped:
        values = {
            name: [r[METRIC] for r in runs if r.get(METRIC) is not None]
            for name, runs in variants.items()
        }
        values = {name: v for name, v in values.items() if v}
        if len(values) < 2:
            lines.append(f"- {group}: fewer than two variants logged {METRIC}")
            continue
        found = best_and_ties(values, compare, holm, ALPHA)
        best, ties = found["best"], found["ties"]
        n = len(values[best])
        verdict = (
            "a single best combination: every other variant is significantly worse"
            if not ties
            else f"not a single best: {len(ties)} variant(s) are not significantly different"
        )
        tied = ", ".join(f"{name} (p {found['p_holm'].get(name, 1.0):.3g})" for name in ties)
        lines.append(
            f"- {group}: best **{best}** (median {median(values[best]):.4f}, n = {n}); "
            f"{verdict}" + (f": {tied}" if tied else "")
        )
    return "\n".join(lines)
