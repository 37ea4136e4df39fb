"""What the study report shows of a characteristic: a declarative spec that the characteristic
writes as `report.json` beside its tables, and that the report reads (the report imports no
plug-in, so a new characteristic needs no report code).

A spec names the characteristic's result files (and the columns each must hold), the blocks of
its report section (text, tables, figures), the agreement matrices it contributes (heat maps,
overview cards, results.json), and what it adds to the study-wide tables: columns of Table 2 and
of Table 2 corrected for chance, per-model columns and bar figures, Figure 1's K-sweep panels, and
tables exported at the top of the run folder (Table 3). Every part is optional.
"""

from __future__ import annotations

import re
import string
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from miniature.exceptions import DataError

SPEC_FILE = "report.json"
FORMAT = 1  # bump when a change of these classes makes older report.json files unreadable
# bump when the specs characteristics write say more (a field added, still readable): a study's
# comparisons are redone, from the cached artifacts, so that their specs say it too
REVISION = 2  # 2: agreements' intervals and chance levels (the scorecard)


@dataclass(frozen=True)
class ResultFile:
    """A result table `<stem>.json` of the characteristic's folder: the text and number columns every row must hold."""

    stem: str
    keys: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rows:
    """Rows of a result file: its `rows`, or the list under the key `under` at its top level; only those
    whose columns equal `where`'s values."""

    file: str
    under: str | None = None
    where: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    """A table of the section: the listed columns that some row holds, in this order."""

    title: str
    rows: Rows
    columns: tuple[str, ...]
    shade: tuple[str, ...] = ()  # agreements in [0, 1], shaded by value in HTML
    digits: int = 4


@dataclass(frozen=True)
class Figure:
    """A figure of the characteristic's folder (`name`, e.g. `sweep.png`), copied into the report."""

    name: str
    caption: str


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Agreement:
    """A pairwise measure shown as an n x n matrix (a heat map and an overview card): `column` of
    the rows of `rows` (one per pair, columns model_i and model_j)."""

    name: str  # unique in the study: heatmap_<name>.png, results.json's agreement.<name>
    title: str  # the heat map's title
    short: str  # the overview card's label
    rows: Rows
    column: str
    corrected: str | None = None  # the column of its chance-corrected value, if any
    measure: str = "Jaccard"  # what the values are, for the card and the colour bar
    lower: float = 0.0  # the colour scale: values in [lower, 1]
    # the value's 95% interval, for the scorecard: its ends (`low`, `high`) or its half width;
    # with `chance` (the chance level's column), the interval of the corrected value is
    # (x - chance) / (1 - chance) of its ends
    low: str | None = None
    high: str | None = None
    half_width: str | None = None
    chance: str | None = None


@dataclass(frozen=True)
class PairColumn:
    """A column of a study-wide pair table (Table 2, or Table 2 corrected): `value` of `rows`."""

    column: str
    rows: Rows
    value: str
    shade: bool = True  # an agreement in [0, 1], shaded by value in HTML (not a variance)


@dataclass(frozen=True)
class ModelColumns:
    """Per-model columns: `columns` maps the study table's column to the column of `rows`, whose
    `key` column names the model."""

    rows: Rows
    key: str
    columns: dict[str, str]


@dataclass(frozen=True)
class Bars:
    """A per-model bar figure drawn from the per-model table: `series` maps its columns to legends."""

    name: str  # file name, e.g. models_scores.png
    series: dict[str, str]
    title: str
    ylabel: str
    caption: str
    ylim: tuple[float, float] | None = (0.0, 1.05)  # None: matplotlib's
    digits: int = 3
    reference: tuple[float, str] | None = None  # a dashed line at value, with its label


@dataclass(frozen=True)
class Panel:
    """A panel of Figure 1 (agreement with the first model against K): rows with model_i, model_j,
    k, mean (and chance where known)."""

    title: str
    rows: Rows
    ylabel: str


@dataclass(frozen=True)
class Card:
    """An overview card of one value per model: the first model's, beside the mean of the others."""

    label: str
    rows: Rows
    key: str
    value: str
    unit: str = ""
    note: str = ""  # `{reference}` is the first model's name
    others: str = ""  # added where other models have values; `{mean}` is their mean (formatted as the value)


@dataclass(frozen=True)
class Export:
    """A table written at the top of the run folder (`<stem>.md/.csv/.json`) and into results.json."""

    stem: str
    rows: Rows
    columns: tuple[str, ...]


Block = Text | Table | Figure
BLOCKS: dict[str, type] = {"text": Text, "table": Table, "figure": Figure}


@dataclass(frozen=True)
class ReportSpec:
    """Everything the report shows of one characteristic (see the module docstring)."""

    name: str
    title: str
    description: str
    files: tuple[ResultFile, ...]
    rank: int = 100  # its place among the characteristics where the run folder has no study.json
    models: tuple[Rows, ...] = ()  # where its model names are (columns named model, model_i, model_j, target_model)
    blocks: tuple[Block, ...] = ()  # its section, after the description; its heat maps follow
    agreements: tuple[Agreement, ...] = ()
    table2: tuple[PairColumn, ...] = ()
    table2_corrected: tuple[PairColumn, ...] = ()
    per_model: tuple[ModelColumns, ...] = ()
    bars: tuple[Bars, ...] = ()  # shown at the end of its section
    panels: tuple[Panel, ...] = ()
    cards: tuple[Card, ...] = ()
    exports: tuple[Export, ...] = ()

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["blocks"] = [{"kind": kind, **asdict(b)} for b in self.blocks
                         for kind, cls in BLOCKS.items() if isinstance(b, cls)]
        return {"format": FORMAT, **doc}

    def write(self, out_dir: str | Path) -> Path:
        from miniature.runs import atomic_write_json

        return atomic_write_json(Path(out_dir) / SPEC_FILE, self.to_json())


MODEL_COLUMNS = ("model", "model_i", "model_j", "target_model", "name")


def _build(cls: type, value: Any, where: str) -> Any:
    """A spec dataclass from its JSON form, every field's type checked; DataError names `where`."""
    if not isinstance(value, dict):
        raise DataError(f"{where} must be an object")
    known = {f.name: f for f in fields(cls)}
    unknown = set(value) - set(known)
    if unknown:
        raise DataError(f"{where} has unknown field {sorted(unknown)[0]!r}")
    out: dict[str, Any] = {}
    for name, f in known.items():
        if name in value:
            out[name] = _value(f.type, value[name], f"{where}.{name}")
        elif f.default is MISSING and f.default_factory is MISSING:
            raise DataError(f"{where} lacks {name!r}")
    return cls(**out)


def _value(kind: Any, v: Any, where: str) -> Any:
    kind = str(kind)
    if kind == "Rows":
        return _build(Rows, v, where)
    if kind in ("str", "str | None"):
        if v is None and kind.endswith("None"):
            return None
        if not isinstance(v, str):
            raise DataError(f"{where} must be text")
        return v
    if kind == "bool":
        if not isinstance(v, bool):
            raise DataError(f"{where} must be true or false")
        return v
    if kind == "int":
        if not isinstance(v, int) or isinstance(v, bool):
            raise DataError(f"{where} must be a whole number")
        return v
    if kind == "float":
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise DataError(f"{where} must be a number")
        return float(v)
    if kind.startswith("tuple[str"):
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise DataError(f"{where} must be a list of texts")
        return tuple(v)
    if kind.startswith("tuple[float, float]"):
        if v is None and kind.endswith("None"):
            return None
        if not isinstance(v, list) or len(v) != 2 or not all(isinstance(x, (int, float)) for x in v):
            raise DataError(f"{where} must be two numbers")
        return (float(v[0]), float(v[1]))
    if kind.startswith("tuple[float, str]"):
        if v is None:
            return None
        if not isinstance(v, list) or len(v) != 2 or not isinstance(v[0], (int, float)) or not isinstance(v[1], str):
            raise DataError(f"{where} must be a number and a text")
        return (float(v[0]), v[1])
    if kind.startswith("dict[str, str]"):
        if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
            raise DataError(f"{where} must map texts to texts")
        return dict(v)
    if kind.startswith("dict[str, Any]"):
        if not isinstance(v, dict):
            raise DataError(f"{where} must be an object")
        return dict(v)
    raise AssertionError(f"no reader for {kind}")  # pragma: no cover - a field type this module lacks


FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# the report's own files and results.json's own keys: no characteristic may export under them
RESERVED_STEMS = frozenset({"table1", "table2", "table2_corrected", "per_model", "results", "report", "figure1",
                            "meta", "characteristics", "models", "agreement"})


def check_spec(spec: ReportSpec) -> None:
    """What the types alone do not say: file names stay inside their folder, numbers are in range,
    card texts name only their own fields. DataError (without the file: the caller adds it)."""
    names = [(f"files: {f.stem!r}", f.stem) for f in spec.files]
    names += [(f"rows of {r.file!r}", r.file) for r in _all_rows(spec)]
    names += [(f"exports: {e.stem!r}", e.stem) for e in spec.exports]
    names += [(f"bars: {b.name!r}", b.name) for b in spec.bars]
    names += [(f"figure {b.name!r}", b.name) for b in spec.blocks if isinstance(b, Figure)]
    names += [(f"agreement {a.name!r}", a.name) for a in spec.agreements]
    for what, name in names:
        if not FILE_NAME.match(name) or ".." in name:
            raise DataError(f"{what} is not a plain file name (letters, digits, '_', '.', '-')")
    for e in spec.exports:
        if e.stem in RESERVED_STEMS:
            raise DataError(f"exports: {e.stem!r} is one of the report's own files")
    for b in (*spec.blocks, *spec.bars):
        if isinstance(b, (Table, Bars)) and not 0 <= b.digits <= 12:
            raise DataError(f"digits {b.digits} must lie in 0..12")
    for a in spec.agreements:
        if not a.lower < 1:
            raise DataError(f"agreement {a.name!r}: lower {a.lower} must be below 1")
    for c in spec.cards:
        for text, allowed in ((c.note, {"reference"}), (c.others, {"mean"})):
            try:
                fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
            except ValueError as e:
                raise DataError(f"card {c.label!r}: {e}") from None
            if fields - allowed:
                raise DataError(f"card {c.label!r}: {{{sorted(fields - allowed)[0]}}} is not one of "
                                f"{', '.join('{' + a + '}' for a in sorted(allowed))}")


def _all_rows(spec: ReportSpec) -> list[Rows]:
    rows = list(spec.models)
    rows += [b.rows for b in spec.blocks if isinstance(b, Table)]
    for part in (spec.agreements, spec.table2, spec.table2_corrected, spec.per_model, spec.panels, spec.cards,
                 spec.exports):
        rows += [x.rows for x in part]
    return rows


LISTS: dict[str, type] = {"files": ResultFile, "models": Rows, "agreements": Agreement, "table2": PairColumn,
                          "table2_corrected": PairColumn, "per_model": ModelColumns, "bars": Bars, "panels": Panel,
                          "cards": Card, "exports": Export}


def read_spec(doc: Any, path: Path) -> ReportSpec:
    """A ReportSpec from a parsed report.json; anything malformed is one DataError naming the file."""
    hint = "rerun the characteristic that wrote it, or delete its folder"
    try:
        if not isinstance(doc, dict):
            raise DataError("not an object")
        if doc.get("format") != FORMAT:
            raise DataError(f"written in format {doc.get('format')!r}, this miniature reads format {FORMAT}")
        body = {k: v for k, v in doc.items() if k != "format"}
        for key in ("name", "title", "description"):
            if not isinstance(body.get(key), str):
                raise DataError(f"{key!r} must be text")
        args: dict[str, Any] = {k: body.pop(k) for k in ("name", "title", "description")}
        rank = body.pop("rank", 100)
        if not isinstance(rank, int) or isinstance(rank, bool):
            raise DataError("'rank' must be a whole number")
        args["rank"] = rank
        for key, cls in LISTS.items():
            items = body.pop(key, [])
            if not isinstance(items, list):
                raise DataError(f"{key!r} must be a list")
            args[key] = tuple(_build(cls, item, f"{key}[{n}]") for n, item in enumerate(items))
        blocks = body.pop("blocks", [])
        if not isinstance(blocks, list):
            raise DataError("'blocks' must be a list")
        built = []
        for n, b in enumerate(blocks):
            kind = b.get("kind") if isinstance(b, dict) else None
            if kind not in BLOCKS:
                raise DataError(f"blocks[{n}] has kind {kind!r}; one of {', '.join(BLOCKS)}")
            built.append(_build(BLOCKS[kind], {k: v for k, v in b.items() if k != "kind"}, f"blocks[{n}]"))
        args["blocks"] = tuple(built)
        if body:
            raise DataError(f"unknown field {sorted(body)[0]!r}")
        spec = ReportSpec(**args)
        check_spec(spec)
        return spec
    except DataError as e:
        raise DataError(f"{path}: not a miniature report spec ({e}); {hint}") from None


__all__ = ["SPEC_FILE", "Agreement", "Bars", "Card", "Export", "Figure", "ModelColumns", "PairColumn", "Panel",
           "ReportSpec", "ResultFile", "Rows", "Table", "Text", "read_spec"]
