"""The report's content as plain blocks (text, cards, tables, figures), rendered later as HTML or Markdown."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Paragraph:
    text: str
    note: bool = False  # a side remark (left-out parts), shown muted


@dataclass(frozen=True)
class Cards:
    """Headline numbers: (label, value, explanation) each."""

    items: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class TableBlock:
    caption: str
    columns: tuple[str, ...]
    rows: tuple[dict, ...]
    digits: int = 4
    shade: tuple[str, ...] = ()  # columns holding agreements in [0, 1], shaded by value in HTML


@dataclass(frozen=True)
class Figure:
    name: str  # file name in the run folder, e.g. "figure1.png"
    caption: str
    wide: bool = False  # spans the page (multi-panel figures) rather than sharing a row


@dataclass(frozen=True)
class KeyValues:
    caption: str
    items: tuple[tuple[str, str], ...]
    collapsed: bool = False  # long lists (the whole config) start folded in HTML


Block = Paragraph | Cards | TableBlock | Figure | KeyValues


@dataclass(frozen=True)
class Section:
    id: str  # HTML anchor
    title: str
    blocks: tuple[Block, ...] = field(default=())


@dataclass(frozen=True)
class Document:
    title: str
    lead: str
    sections: tuple[Section, ...]

    @property
    def figures(self) -> list[str]:
        return [b.name for s in self.sections for b in s.blocks if isinstance(b, Figure)]


def fmt(value: Any, digits: int = 4) -> str:
    """A cell as tables show it: floats to `digits` decimals, None and NaN as empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(caption: str, rows: Sequence[dict], columns: Sequence[str] | None = None, digits: int = 4,
          shade: Sequence[str] = ()) -> TableBlock:
    cols = tuple(columns or (rows[0].keys() if rows else ()))
    return TableBlock(caption, cols, tuple(rows), digits, tuple(shade))


def reference_cards(large: str, matrices: Mapping[str, Any],
                    corrected: Mapping[str, Sequence[float]] | None = None) -> Cards:
    """Per agreement matrix (an `assemble.Agreement`): the mean (and range) of the large model's
    agreement with the compressed ones, and the mean corrected for chance where known."""
    items = []
    for name, agr in matrices.items():
        if large not in agr.models:
            continue
        row = agr.matrix[agr.models.index(large)]
        vals = [v for m, v in zip(agr.models, row) if m != large and v is not None]
        if vals:
            spread = f"range {min(vals):.3f}–{max(vals):.3f} over {len(vals)} model(s)" if min(vals) < max(vals) else ""
            fixed = (corrected or {}).get(name)
            chance = f"; {sum(fixed) / len(fixed):.3f} corrected for chance" if fixed else ""
            items.append((agr.spec.short, f"{sum(vals) / len(vals):.3f}",
                          f"mean {agr.spec.measure} with {large}{chance}" + (f"; {spread}" if spread else "")))
    return Cards(tuple(items))


def dict_items(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A nested mapping flattened to (dotted key, text) pairs, for the provenance block."""
    if isinstance(obj, dict):
        out: list[tuple[str, str]] = []
        for k, v in obj.items():
            out += dict_items(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(obj, list) and all(not isinstance(v, (dict, list)) for v in obj):
        return [(prefix, ", ".join(str(v) for v in obj))]
    if isinstance(obj, list):
        return [item for n, v in enumerate(obj) for item in dict_items(v, f"{prefix}[{n}]")]
    return [(prefix, "" if obj is None else str(obj))]


def model_records(models: Sequence[Mapping[str, Any]]) -> TableBlock:
    """The study's models with every field they record (label, name, source, revision first)."""
    first = ["label", "name", "source", "revision"]
    keys = [k for k in first if any(k in m for m in models)]
    keys += [k for m in models for k in m if k not in keys]
    keys = list(dict.fromkeys(keys))
    rows = [{k: m.get(k) if not isinstance(m.get(k), (dict, list)) else str(m.get(k)) for k in keys}
            for m in models]
    return TableBlock("Models (in table order; the first is the large one)", tuple(keys), tuple(rows))
