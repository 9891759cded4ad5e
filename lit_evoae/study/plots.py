"""The study's plots, as PNG files (matplotlib, no display needed)."""

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file-only backend)

from lit_evoae import keys  # noqa: E402
from lit_evoae.study.results import by_group  # noqa: E402


def plot_all(results: list[dict], folder: Path, subtitle: str = "") -> list[Path]:
    """Every plot; each says `subtitle` (how the runs were made) under its panels."""
    paths = [
        plot_boxes(results, folder / "test_l1_boxplot.png", subtitle=subtitle),
        plot_l1_vs_sparsity(results, folder / "test_l1_vs_sparsity.png", subtitle),
        plot_curves(results, folder / "val_l1_curves.png", subtitle),
    ]
    if all(r.get(keys.FINAL_TRAIN_L1_MEAN) is not None for r in results):
        paths.append(
            plot_boxes(
                results,
                folder / "train_l1_mean_boxplot.png",
                keys.FINAL_TRAIN_L1_MEAN,
                "mean over cells of training L1",
                subtitle,
            )
        )
    return paths


def _panels(results: list[dict]):
    """A figure with one panel per group, and (panel, group, {variant: runs}) for each."""
    grouped = by_group(results)
    figure, axes = plt.subplots(1, len(grouped), figsize=(6 * len(grouped), 4.5), squeeze=False)
    panels = zip(axes[0], grouped, strict=True)
    return figure, [(axis, group, variants) for axis, (group, variants) in panels]


def plot_boxes(
    results: list[dict],
    path: Path,
    metric: str = keys.TEST_L1,
    label: str = "final test L1",
    subtitle: str = "",
) -> Path:
    """`metric` (default: the best cell's final test L1) by pruning variant, one panel per
    group, with n under each box."""
    figure, panels = _panels(results)
    for axis, group, variants in panels:
        names = sorted(variants)
        axis.boxplot([[r[metric] for r in variants[name]] for name in names])
        ticks = [f"{name}\nn={len(variants[name])}" for name in names]
        axis.set_xticks(range(1, len(names) + 1), ticks, rotation=30, ha="right")
        axis.set_title(group)
        axis.set_ylabel(label)
    return save_figure(figure, path, subtitle=subtitle)


def plot_l1_vs_sparsity(results: list[dict], path: Path, subtitle: str = "") -> Path:
    """Each run's final test L1 against the fraction of its weights pruned."""
    figure, panels = _panels(results)
    for axis, group, variants in panels:
        for name in sorted(variants):
            runs = variants[name]
            axis.scatter(
                [r[keys.MODEL_SPARSITY] for r in runs],
                [r[keys.TEST_L1] for r in runs],
                label=name,
                alpha=0.8,
            )
        axis.set_title(group)
        axis.set_xlabel("fraction of weights pruned")
        axis.set_ylabel("final test L1")
        axis.legend(fontsize="small")
    return save_figure(figure, path, subtitle=subtitle)


def plot_curves(results: list[dict], path: Path, subtitle: str = "") -> Path:
    """Median validation L1 (best individual) over epochs, per variant."""
    figure, panels = _panels(results)
    for axis, group, variants in panels:
        for name in sorted(variants):
            curves = [read_curve(Path(r["folder"]) / keys.METRICS_CSV) for r in variants[name]]
            length = min(len(curve) for curve in curves)
            if length:
                middle = [
                    sorted(curve[i] for curve in curves)[len(curves) // 2] for i in range(length)
                ]
                axis.plot(range(length), middle, label=name)
        axis.set_title(group)
        axis.set_xlabel("epoch (generation)")
        axis.set_ylabel("val L1")
        axis.legend(fontsize="small")
    return save_figure(figure, path, subtitle=subtitle)


def read_curve(metrics: Path, key: str = keys.VAL_L1) -> list[float]:
    """`key` per epoch, in epoch order, from the rows of `metrics` (a metrics.csv) that have it."""
    if not metrics.is_file():
        return []
    with metrics.open() as handle:
        rows = [row for row in csv.DictReader(handle) if row.get(key)]
    by_epoch = {int(row["epoch"]): float(row[key]) for row in rows}
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]


def save_figure(figure, path: Path, tight: bool = True, subtitle: str = "") -> Path:
    """Write `figure`, with `subtitle` (how its runs were made) below its panels."""
    if tight:
        figure.tight_layout()
    if subtitle:
        figure.text(0.5, 0, subtitle, ha="center", va="top", fontsize=8, color="0.3")
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return path
