"""The grid's plots: operator x schedule heatmaps, quality against capacity with its Pareto
front, and network size over generations (PNG files, matplotlib, no display needed)."""

from pathlib import Path

import numpy as np

from lit_evoae import keys
from lit_evoae.study.fragments import NO_PRUNING
from lit_evoae.study.grid import Summary, cells, grid_axes, on_grid, pareto_front, variant_at
from lit_evoae.study.plots import plt, read_curve, save_figure

CAPACITY = keys.final("capacity")
OPERATOR_COLOURS = {"random": "C0", "variance": "C1", "conjunctive": "C2", "magnitude": "C3"}
SCHEDULE_STYLES = {
    "fixed": "-",
    "increase": "--",
    "decrease": "-.",
    "population": ":",
    "exponential": (0, (5, 1)),
    "final_n": (0, (1, 3)),
}


def summaries(variants: dict[str, list[dict]], metric: str) -> dict[str, Summary]:
    """Each variant's median and IQR of `metric`, over the runs that logged it."""
    values = {
        name: [r[metric] for r in runs if r.get(metric) is not None]
        for name, runs in variants.items()
    }
    return {name: Summary.of(v) for name, v in values.items() if v}


def heatmap_groups(grouped: list[tuple[str, dict]]) -> tuple[list, list[str]]:
    """The groups that can have a heatmap (two variants or more, one on the grid), and a
    line for each one that cannot, saying why."""
    drawn, skipped = [], []
    for group, variants in grouped:
        placed = [name for name, cell in cells(variants).items() if on_grid(cell)]
        if len(variants) < 2 or not placed:
            skipped.append(
                f"{group}: no heatmap, it has {len(variants)} variant(s) and "
                f"{len(placed)} with a known operator and schedule"
            )
        else:
            drawn.append((group, variants))
    return drawn, skipped


def plot_heatmaps(grouped, metric: str, label: str, path: Path, subtitle: str = "") -> Path:
    """Median `metric` per operator (row, `none` last) x schedule (column), one panel per
    group on one shared colour scale and one layout (every operator and schedule of any
    group); each cell says its median and n, and a cell no run reached is hatched."""
    tables = {group: summaries(variants, metric) for group, variants in grouped}
    everything = [s.median for table in tables.values() for s in table.values()]
    low, high = (min(everything), max(everything)) if everything else (0.0, 1.0)
    figure, axes = plt.subplots(
        1, len(grouped), figsize=(1.4 + 1.5 * 7 * len(grouped), 4.8), squeeze=False
    )
    # One layout for every panel: a combination one group has and another lacks (a regime
    # whose grid is still running) shows as "not run" there.
    found = {group: cells(variants) for group, variants in grouped}
    every = [cell for group_cells in found.values() for cell in group_cells.values()]
    operators, schedules = grid_axes(every)
    unpruned = any(operator == NO_PRUNING for operator, _ in every)
    rows = [*operators, NO_PRUNING] if unpruned else operators
    for axis, (group, _) in zip(axes[0], grouped, strict=True):
        grid = np.full((len(rows), len(schedules)), np.nan)
        for r, operator in enumerate(rows):
            for c, schedule in enumerate(schedules):
                cell = (NO_PRUNING, NO_PRUNING) if operator == NO_PRUNING else (operator, schedule)
                summary = tables[group].get(variant_at(found[group], cell))
                if operator == NO_PRUNING and c > 0:
                    continue  # no pruning has no schedule: one cell, in the first column
                if summary is None:
                    axis.add_patch(
                        plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, hatch="//", color="0.6")
                    )
                    axis.text(c, r, "not run", ha="center", va="center", fontsize=8, color="0.4")
                    continue
                grid[r, c] = summary.median
                axis.text(
                    c,
                    r,
                    f"{summary.median:.3f}\nn={summary.n}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color=_text_colour(summary.median, low, high),
                )
        image = axis.imshow(
            np.ma.masked_invalid(grid), cmap="viridis_r", vmin=low, vmax=high, alpha=0.85
        )
        axis.set_xticks(range(len(schedules)), schedules, rotation=30, ha="right")
        axis.set_yticks(range(len(rows)), rows)
        axis.set_title(group)
    figure.colorbar(image, ax=list(axes[0]), label=f"median {label}", shrink=0.9)
    figure.suptitle(f"median {label} per operator x schedule")
    return save_figure(figure, path, tight=False, subtitle=subtitle)


def _text_colour(value: float, low: float, high: float) -> str:
    """White on the dark end of viridis_r (high values), black elsewhere."""
    share = (value - low) / (high - low) if high > low else 0.0
    return "white" if share > 0.6 else "black"


def plot_pareto(grouped, path: Path, subtitle: str = "") -> tuple[Path, dict[str, list[str]]]:
    """Each variant at (median training L1, median capacity) with IQR whiskers, one panel per
    group, its Pareto front drawn; returns the front of each group too."""
    fronts = {}
    figure, axes = plt.subplots(1, len(grouped), figsize=(7 * len(grouped), 5.5), squeeze=False)
    for axis, (group, variants) in zip(axes[0], grouped, strict=True):
        quality = summaries(variants, keys.FINAL_TRAIN_L1_MEAN)
        capacity = summaries(variants, CAPACITY)
        names = sorted(set(quality) & set(capacity))
        found = cells(variants)
        for name in names:
            q, c = quality[name], capacity[name]
            operator = found[name][0]
            axis.errorbar(
                q.median,
                c.median,
                xerr=[[q.median - q.low], [q.high - q.median]],
                yerr=[[c.median - c.low], [c.high - c.median]],
                fmt="o",
                color=OPERATOR_COLOURS.get(operator, "k"),
                alpha=0.7,
                capsize=2,
            )
        front = pareto_front({n: (quality[n].median, capacity[n].median) for n in names})
        fronts[group] = front
        if front:
            axis.step(
                [quality[n].median for n in front],
                [capacity[n].median for n in front],
                "k--",
                where="post",
                lw=1,
                label="Pareto front",
            )
            for name in front:
                axis.annotate(
                    name,
                    (quality[name].median, capacity[name].median),
                    fontsize=7,
                    xytext=(4, 4),
                    textcoords="offset points",
                )
        for operator, colour in [(NO_PRUNING, "k"), *OPERATOR_COLOURS.items()]:
            axis.plot([], [], "o", color=colour, label=operator)
        axis.set_xlabel("final/train_l1_mean (median, IQR)")
        axis.set_ylabel("final/capacity: fraction of weights nonzero (median, IQR)")
        axis.set_title(group)
        axis.legend(fontsize="small")
    figure.suptitle("quality against capacity: lower-left is better")
    return save_figure(figure, path, subtitle=subtitle), fronts


def plot_sizes(grouped, path: Path, subtitle: str = "") -> Path:
    """Live encoder and decoder parameters over generations per variant: median over trials,
    IQR band (one row of two panels per group); colour = operator, line style = schedule."""
    figure, axes = plt.subplots(len(grouped), 2, figsize=(14, 4.5 * len(grouped)), squeeze=False)
    for row, (group, variants) in zip(axes, grouped, strict=True):
        for axis, key, half in zip(
            row,
            (keys.MODEL_ENCODER_LIVE, keys.MODEL_DECODER_LIVE),
            ("encoder", "decoder"),
            strict=True,
        ):
            found = cells(variants)
            for name in sorted(variants):
                curves = [
                    read_curve(Path(r["folder"]) / keys.METRICS_CSV, key) for r in variants[name]
                ]
                curves = [curve for curve in curves if curve]
                if not curves:
                    continue
                length = min(len(curve) for curve in curves)
                values = np.array([curve[:length] for curve in curves])
                low, middle, high = np.percentile(values, [25, 50, 75], axis=0)
                operator, schedule = found[name]
                colour = OPERATOR_COLOURS.get(operator, "k")
                generations = np.arange(1, length + 1)
                axis.plot(
                    generations,
                    middle,
                    color=colour,
                    linestyle=SCHEDULE_STYLES.get(schedule, "-"),
                    label=f"{name} (n={len(curves)})",
                    lw=1,
                )
                axis.fill_between(generations, low, high, color=colour, alpha=0.08)
            axis.set_title(f"{group}: {half}")
            axis.set_xlabel("generation")
            axis.set_ylabel(f"live {half} parameters")
        row[1].legend(fontsize=6, ncol=2, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.suptitle("network size over generations (median, IQR band)")
    return save_figure(figure, path, subtitle=subtitle)
