"""Plots of a study with a claim over an ordered axis (`study/trends.py`): the grid as a
heatmap of level x the other axis's entries, each claimed effect against the level, and
how the pruning covers the weights over the generations at each level."""

from collections import defaultdict
from pathlib import Path
from statistics import median

import numpy as np

from lit_evoae import keys
from lit_evoae.study.plots import plt, save_figure


def trend_plots(results: list[dict], rows: list[dict], folder: Path, subtitle: str) -> list[Path]:
    """Every plot the trend claims among `rows` (verdict rows) ask for, into `folder`."""
    trends = [row for row in rows if "trend" in row]
    paths = []
    for axis in dict.fromkeys(row["claim"].rsplit(" with ", 1)[1] for row in trends):
        on_axis = [row for row in trends if row["claim"].endswith(f" with {axis}")]
        compared = [row for row in on_axis if " < " in row["claim"]]
        metric = (compared or on_axis)[0]["metric"]
        paths.append(plot_heatmap(results, axis, metric, folder / f"{axis}_heatmap.png", subtitle))
        if compared:
            paths.append(plot_effects(compared, axis, folder / f"{axis}_effects.png", subtitle))
        paths += plot_coverage(results, axis, folder, subtitle)
    return paths


def _level(entry: str) -> float:
    from lit_evoae.study.trends import _NUMBER

    return float(_NUMBER.findall(entry)[-1])


def _split(results: list[dict], axis: str) -> dict[str, dict[float, list[dict]]]:
    """{the other axes' entries joined: {level: runs}}."""
    table: dict[str, dict[float, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for result in results:
        choices = dict(result.get("choices") or {})
        if axis not in choices:
            continue
        level = _level(choices.pop(axis))
        table["__".join(choices.values()) or "base"][level].append(result)
    return table


def plot_heatmap(results, axis: str, metric: str, path: Path, subtitle: str) -> Path:
    """The median of `metric` at each level (columns) of each other entry (rows), with n."""
    table = _split(results, axis)
    entries = sorted(table)
    levels = sorted({level for row in table.values() for level in row})
    values = np.full((len(entries), len(levels)), np.nan)
    figure, ax = plt.subplots(figsize=(1.3 * len(levels) + 3, 0.6 * len(entries) + 2))
    for i, entry in enumerate(entries):
        for j, level in enumerate(levels):
            runs = [r[metric] for r in table[entry].get(level, []) if r.get(metric) is not None]
            if runs:
                values[i, j] = median(runs)
                ax.text(
                    j, i, f"{median(runs):.4g}\nn={len(runs)}", ha="center", va="center", fontsize=8
                )
    image = ax.imshow(values, cmap="viridis", aspect="auto")
    figure.colorbar(image, ax=ax, label=f"median {metric}")
    ax.set_xticks(range(len(levels)), [f"{level:g}" for level in levels])
    ax.set_yticks(range(len(entries)), entries)
    ax.set_xlabel(axis)
    ax.set_title(f"median {metric} by {axis} (darker: lower)")
    return save_figure(figure, path, subtitle=subtitle)


def plot_effects(rows: list[dict], axis: str, path: Path, subtitle: str) -> Path:
    """Each claimed shift (Hodges-Lehmann, with its bootstrap 95% interval) against the
    level, one line per claim."""
    figure, ax = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        levels = row["trend"]["levels"]
        x = [level["level"] for level in levels]
        y = [level["effect"] for level in levels]
        errors = [
            [level["effect"] - level["low"] for level in levels],
            [level["high"] - level["effect"] for level in levels],
        ]
        label = f"{row['claim'].split(' grows')[0].split(' shrinks')[0]}: {row['verdict']}"
        ax.errorbar(x, y, yerr=errors, marker="o", capsize=3, label=label)
    ax.axhline(0, color="0.5", linewidth=0.8)
    if rows and max(level["level"] for level in rows[0]["trend"]["levels"]) > 10 * min(
        max(level["level"], 1e-12) for level in rows[0]["trend"]["levels"]
    ):
        ax.set_xscale("log")
    ax.set_xlabel(axis)
    ax.set_ylabel(f"shift of {rows[0]['metric']} (B - A; > 0: A lower)")
    ax.set_title(f"the claimed advantage against {axis}, with 95% intervals")
    ax.legend(fontsize="small")
    return save_figure(figure, path, subtitle=subtitle)


def by_epoch(metrics: Path, key: str) -> dict[int, float]:
    """`key` of each epoch that logged it, from a metrics.csv."""
    import csv

    if not metrics.is_file():
        return {}
    with metrics.open() as handle:
        return {
            int(row["epoch"]): float(row[key])
            for row in csv.DictReader(handle)
            if row.get(key) and row.get("epoch")
        }


def plot_coverage(results, axis: str, folder: Path, subtitle: str) -> list[Path]:
    """Per other entry whose runs logged them: the median coverage and uniformity of each
    generation, one line per level (PruningCoverage's, over its window)."""
    paths = []
    measures = (keys.PRUNE_COVERAGE, keys.PRUNE_UNIFORMITY)
    for entry, by_level in sorted(_split(results, axis).items()):
        curves = {
            level: {
                key: [by_epoch(Path(r["folder"]) / keys.METRICS_CSV, key) for r in runs]
                for key in measures
            }
            for level, runs in sorted(by_level.items())
            if all("folder" in r for r in runs)
        }
        pruned = [
            v for per_key in curves.values() for c in per_key[measures[0]] for v in c.values()
        ]
        if not any(pruned):  # nothing pruned (no pruning): nothing to draw
            continue
        figure, panels = plt.subplots(1, 2, figsize=(12, 4.5))
        for panel, key in zip(panels, measures, strict=True):
            for level, per_key in curves.items():
                series = [curve for curve in per_key[key] if curve]
                if not series:
                    continue
                epochs = sorted(set().union(*series))
                middle = [median(c[e] for c in series if e in c) for e in epochs]
                panel.plot(epochs, middle, label=f"{axis} {level:g} (n={len(series)})")
            panel.set_xlabel("generation")
            panel.set_ylabel(key)
            panel.set_title(f"{entry}: {key}, median over trials")
            panel.legend(fontsize="small")
        paths.append(save_figure(figure, folder / f"coverage_{entry}.png", subtitle=subtitle))
    return paths
