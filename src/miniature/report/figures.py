"""Figures (matplotlib, headless): agreement against K, in the style of the paper's Figure 1."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

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
        lines: dict[str, list[tuple[int, float]]] = {}
        for r in rows:
            if reference in (r["model_i"], r["model_j"]):
                other = r["model_j"] if r["model_i"] == reference else r["model_i"]
                lines.setdefault(other, []).append((r["k"], r["mean"]))
        for other, pts in lines.items():
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=4, label=other)
        ax.set_title(f"({chr(ord('a') + n)}) {title}")
        ax.set_xlabel("K")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(title=f"against {reference}", fontsize=8, title_fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())
