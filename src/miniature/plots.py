"""Figures (matplotlib, headless): agreement against K (the paper's Figure 1), heat maps, per-model bars."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from miniature.exceptions import DependencyError
from miniature.runs import atomic_write_bytes


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise DependencyError("figures need matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: str | Path) -> Path:
    """PNG bytes of `fig`, written atomically; the figure is closed either way."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=120)
    finally:
        plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def _sweep_lines(rows: Sequence[dict], reference: str, value: str = "mean") -> dict[str, list[tuple[int, float]]]:
    """Other model -> sorted (K, `value`) points of its pair with `reference`."""
    lines: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        if reference in (r["model_i"], r["model_j"]) and r.get(value) is not None:
            other = r["model_j"] if r["model_i"] == reference else r["model_i"]
            lines.setdefault(other, []).append((r["k"], r[value]))
    return {other: sorted(pts) for other, pts in lines.items()}


def _chance_lines(ax, rows: Sequence[dict], reference: str, colours: Mapping[str, str]) -> None:
    """Each pair's chance level against K (rows' `chance`, where written), dotted in its line's colour;
    one grey line where every pair has the same (K-NN sets: it depends on K and the points only)."""
    lines = _sweep_lines(rows, reference, "chance")
    if len({tuple(pts) for pts in lines.values()}) == 1:
        pts = next(iter(lines.values()))
        ax.plot([p[0] for p in pts], [p[1] for p in pts], linestyle=":", linewidth=1.3, color="0.35",
                label="chance level")
        return
    drawn = False
    for other, pts in lines.items():
        ax.plot([p[0] for p in pts], [p[1] for p in pts], linestyle=":", linewidth=1.1, alpha=0.8,
                color=colours.get(other), label=None if drawn else "chance level (dotted)")
        drawn = True


def plot_k_sweep(path: str | Path, panels: Mapping[str, Sequence[dict]], reference: str,
                 ylabel: str = "mean Jaccard") -> Path:
    """One panel per title: y = agreement against K, one line per model paired with `reference`.

    Args:
        panels: title -> sweep rows with model_i, model_j, k and mean; rows not involving
            `reference` are left out, as the paper plots each compressed model against the large one.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False, sharey=True)
    for n, (ax, (title, rows)) in enumerate(zip(axes[0], panels.items())):
        colours = {}
        for other, pts in _sweep_lines(rows, reference).items():
            (line,) = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=4, label=other)
            colours[other] = line.get_color()
        _chance_lines(ax, rows, reference, colours)
        ax.set_title(f"({chr(ord('a') + n)}) {title}")
        ax.set_xlabel("K")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(title=f"against {reference}", fontsize=8, title_fontsize=8)
    fig.tight_layout()
    return _save(plt, fig, path)


def plot_figure1(path: str | Path, panels: Mapping[str, Sequence[dict]], reference: str,
                 ylabels: Mapping[str, str] | None = None) -> Path:
    """The paper's Figure 1: mean Jaccard against K per panel, one line per model against `reference`.

    Unlike `plot_k_sweep`, every panel has its own y scale (from 0), so low agreement stays legible.

    Args:
        panels: title -> sweep rows (model_i, model_j, k, mean), e.g. representation before and after
            fine-tuning and the data distribution; each panel is lettered (a), (b), ... in order.
        ylabels: title -> y-axis label (default "mean Jaccard").
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), 4.0), squeeze=False)
    for n, (ax, (title, rows)) in enumerate(zip(axes[0], panels.items())):
        lines = _sweep_lines(rows, reference)
        top = max((y for pts in lines.values() for _, y in pts), default=1.0)
        colours = {}
        for other, pts in lines.items():
            (line,) = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=4, linewidth=1.6,
                              label=other)
            colours[other] = line.get_color()
        _chance_lines(ax, rows, reference, colours)
        ax.set_title(f"({chr(ord('a') + n)}) {title}", fontsize=10)
        ax.set_xlabel("K")
        ax.set_ylabel((ylabels or {}).get(title, "mean Jaccard"))
        ax.set_ylim(0, min(1.0, top * 1.15) if top > 0 else 1.0)
        ax.grid(alpha=0.3)
        if lines:
            ax.legend(title=f"against {reference}", fontsize=8, title_fontsize=8)
    fig.tight_layout()
    return _save(plt, fig, path)


def plot_heatmap(path: str | Path, models: Sequence[str], matrix: Sequence[Sequence[float | None]],
                 title: str, digits: int = 3, label: str = "Jaccard", lower: float = 0.0) -> Path:
    """An n x n agreement matrix as an annotated heat map on a fixed [lower, 1] scale (`label` on
    its colour bar); unknown cells grey."""
    plt = _pyplot()
    import numpy as np

    values = np.array([[math.nan if v is None else float(v) for v in row] for row in matrix], dtype=float)
    n = len(models)
    side = max(4.2, 1.0 + 0.9 * n)
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    cmap = plt.get_cmap("viridis").with_extremes(bad="#dddddd")
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=lower, vmax=1.0)
    for a in range(n):
        for b in range(n):
            v = values[a, b]
            text = "–" if math.isnan(v) else f"{v:.{digits}f}"
            ax.text(b, a, text, ha="center", va="center", fontsize=9,
                    color="black" if math.isnan(v) or v > lower + 0.6 * (1 - lower) else "white")
    ax.set_xticks(range(n), labels=list(models), rotation=35, ha="right", fontsize=9)
    ax.set_yticks(range(n), labels=list(models), fontsize=9)
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label)
    fig.tight_layout()
    return _save(plt, fig, path)


def plot_bars(path: str | Path, models: Sequence[str], series: Mapping[str, Sequence[float | None]],
              title: str, ylabel: str, ylim: tuple[float, float] | None = None, digits: int = 2,
              reference: tuple[float, str] | None = None) -> Path:
    """Grouped bars: one group per model, one bar per series, each labelled with its value (absent: no bar).

    Args:
        reference: (y, label) of a dashed horizontal line, e.g. (0.5, "chance") for an AUROC.
    """
    plt = _pyplot()
    n, m = len(models), max(1, len(series))
    width = 0.8 / m
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * n + 2.0), 3.8))
    for s, (label, values) in enumerate(series.items()):
        xs = [x + (s - (m - 1) / 2) * width for x in range(n)]
        ys = [math.nan if v is None else float(v) for v in values]
        bars = ax.bar(xs, ys, width=width * 0.95, label=label)
        ax.bar_label(bars, labels=["" if math.isnan(y) else f"{y:.{digits}f}" for y in ys], fontsize=8,
                     padding=2)
    ax.set_xticks(range(n), labels=list(models), rotation=20 if n > 4 else 0, ha="right" if n > 4 else "center")
    if reference is not None:
        ax.axhline(reference[0], color="#6b7280", linestyle="--", linewidth=1, label=reference[1])
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(axis="y", alpha=0.3)
    if len(series) > 1 or reference is not None:  # outside the axes, so it never hides a bar
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return _save(plt, fig, path)


def _finish_row(plt: Any, fig: Any, axes: Any, ylabel: str, reference: str, path: str | Path) -> Path:
    """A row of panels against `reference`: the y label on the first, the legend on the last, saved."""
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(title=f"against {reference}", fontsize=8, title_fontsize=8)
    fig.tight_layout()
    return _save(plt, fig, path)


def plot_cdfs(path: str | Path, panels: Mapping[str, Mapping[str, Any]], reference: str,
              xlabel: str) -> Path:
    """One panel per title: the empirical CDF of each model's per-item values (KL against
    `reference`), x on a log scale where the values are positive."""
    import numpy as np

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    for n, (ax, (title, lines)) in enumerate(zip(axes[0], panels.items())):
        positive = True
        for model, values in lines.items():
            v = np.sort(np.asarray(values, dtype=float))
            v = v[np.isfinite(v)]
            if not v.size:
                continue
            positive &= bool((v > 0).all())
            ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", label=model)
        if positive:
            ax.set_xscale("log")
        ax.set_title(f"({chr(ord('a') + n)}) {title}")
        ax.set_xlabel(xlabel)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    return _finish_row(plt, fig, axes, "share of items", reference, path)


def plot_margin_risk(path: str | Path, panels: Mapping[str, Sequence[dict]], reference: str) -> Path:
    """One panel per title: the share of items whose answer changes per bin of the reference's
    margin (rows with model_j, margin_low, margin_high, n, change_rate), one line per model."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False, sharey=True)
    for n, (ax, (title, rows)) in enumerate(zip(axes[0], panels.items())):
        for model in dict.fromkeys(r["model_j"] for r in rows):
            pts = [((r["margin_low"] + r["margin_high"]) / 2, r["change_rate"]) for r in rows
                   if r["model_j"] == model and r["n"] and not math.isnan(r["change_rate"])]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=4, label=model)
        ax.set_title(f"({chr(ord('a') + n)}) {title}")
        ax.set_xlabel(f"margin of {reference} (top-1 minus top-2 probability)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    return _finish_row(plt, fig, axes, "share of answers changed", reference, path)


def plot_scorecard(path: str | Path, rows: Sequence[dict], threshold: float) -> Path:
    """The scorecard as dots: one row per characteristic, one marker per compressed model at its
    chance-corrected agreement with the reference, its 95% interval as a bar; the verdict's
    threshold dashed."""
    plt = _pyplot()
    titles = list(dict.fromkeys(r["title"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(titles) + 1.6))
    step = 0.7 / max(len(models), 1)
    for m, model in enumerate(models):
        xs, ys, lo, hi = [], [], [], []
        for r in rows:
            if r["model"] != model:
                continue
            y = titles.index(r["title"]) + (m - (len(models) - 1) / 2) * step
            xs.append(r["corrected"])
            ys.append(y)
            # an interval that misses its value by rounding (a percentile interval at 1.0) draws none there
            lo.append(max(0.0, r["corrected"] - r["ci_low"]) if r["ci_low"] is not None else 0.0)
            hi.append(max(0.0, r["ci_high"] - r["corrected"]) if r["ci_high"] is not None else 0.0)
        ax.errorbar(xs, ys, xerr=[lo, hi], fmt="o", markersize=5, capsize=2, label=model)
    ax.axvline(threshold, linestyle="--", color="0.4", linewidth=1)
    ax.axvline(0.0, color="0.75", linewidth=0.8)
    ax.set_yticks(range(len(titles)))
    ax.set_yticklabels(titles, fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.invert_yaxis()
    ax.set_xlim(min(-0.1, *(r["ci_low"] if r["ci_low"] is not None else r["corrected"] for r in rows)) - 0.02,
                1.02)
    ax.set_xlabel(f"agreement with {rows[0]['reference']}, corrected for chance (0: chance, 1: identical)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(1.0, 0.0))
    fig.tight_layout()
    return _save(plt, fig, path)
