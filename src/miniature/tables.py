"""Write a table of rows as Markdown, CSV and JSON (with a meta block), atomically."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from miniature.runs import atomic_write_json, atomic_write_text

# Table 1 (the model card): written by miniature.model_card, shown by the report
CARD_COLUMNS = ["model", "layers", "parameters_m", "hidden_size", "size_mb", "sparsity", "latency_ms", "speedup"]


def _fmt(value: Any, digits: int, column: str = "") -> str:
    if isinstance(value, float) and column.startswith("p_"):  # a p-value: its magnitude, however small
        return f"{value:.2g}" if value > 0 else "<1e-300"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return "" if value is None else str(value)


def to_markdown(rows: Sequence[dict], columns: Sequence[str] | None = None, digits: int = 3) -> str:
    """A GitHub-style Markdown table; floats rounded to `digits` decimals (p-values, columns `p_*`,
    to two significant digits)."""
    columns = list(columns or (rows[0].keys() if rows else []))
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c), digits, c) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    columns = list(columns or (rows[0].keys() if rows else []))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: r.get(c) for c in columns})
    return buf.getvalue()


def write_table(
    out_dir: str | Path,
    stem: str,
    rows: Sequence[dict],
    meta: dict,
    columns: Sequence[str] | None = None,
    digits: int = 3,
    extra: dict | None = None,
) -> dict[str, Path]:
    """Write `stem.md`, `stem.csv` and `stem.json` under `out_dir`; return their paths."""
    out = Path(out_dir)
    paths = {
        "md": atomic_write_text(out / f"{stem}.md", to_markdown(rows, columns, digits)),
        "csv": atomic_write_text(out / f"{stem}.csv", to_csv(rows, columns)),
        "json": atomic_write_json(out / f"{stem}.json", {"meta": meta, **(extra or {}), "rows": list(rows)}),
    }
    return paths
