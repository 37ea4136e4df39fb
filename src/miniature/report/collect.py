"""Read a run folder's characteristic results (their JSON files only) into one typed bundle."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from miniature.exceptions import DataError
from miniature.files import check_input_dir, read_json_file
from miniature.reportspec import MODEL_COLUMNS, SPEC_FILE, ReportSpec, Rows, read_spec


@dataclass(frozen=True)
class Table:
    """One result file: its meta block, its extra top-level fields and its rows."""

    path: Path
    meta: dict
    extra: dict
    rows: tuple[dict, ...]


@dataclass(frozen=True)
class RunResults:
    """Every characteristic's report spec and result tables found in a run folder, and the study's
    own record if written."""

    root: Path
    tables: dict[str, dict[str, Table]]  # characteristic -> file stem -> table (present ones only)
    specs: dict[str, ReportSpec]  # characteristic -> what the report shows of it, in report order
    study: dict | None = None  # study.json, if the run wrote one
    missing: tuple[str, ...] = field(default=())  # characteristics the study ran that have no results

    @property
    def present(self) -> tuple[str, ...]:
        return tuple(c for c in self.specs if self.tables.get(c))

    def table(self, characteristic: str, stem: str) -> Table | None:
        return self.tables.get(characteristic, {}).get(stem)

    def rows(self, characteristic: str, where: Rows) -> tuple[dict, ...]:
        """The rows a spec's `Rows` names: a file's rows (or the list under one of its fields),
        filtered by `where`."""
        t = self.table(characteristic, where.file)
        if t is None:
            return ()
        rows = t.rows if where.under is None else tuple(r for r in t.extra.get(where.under) or []
                                                         if isinstance(r, dict))
        return tuple(r for r in rows if all(r.get(c) == v for c, v in where.where.items()))

    def title(self, characteristic: str) -> str:
        """Its title: from its spec, else as the study recorded it, else its name."""
        if characteristic in self.specs:
            return self.specs[characteristic].title
        titles = (self.study or {}).get("titles")
        title = titles.get(characteristic) if isinstance(titles, dict) else None
        return title if isinstance(title, str) else characteristic


def _is_number(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def parse_table(path: Path, doc: Any, keys: Sequence[str], numbers: Sequence[str]) -> Table:
    """Check one parsed result file's shape; anything else is a one-line DataError naming the file."""
    hint = "rerun the characteristic that wrote it, or delete the file"
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        raise DataError(f"{path}: not a miniature result table (needs an object with a 'rows' list); {hint}")
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        raise DataError(f"{path}: 'meta' must be an object; {hint}")
    for n, row in enumerate(doc["rows"]):
        if not isinstance(row, dict):
            raise DataError(f"{path}: row {n} is not an object; {hint}")
        for c in keys:
            if not isinstance(row.get(c), str):
                raise DataError(f"{path}: row {n} lacks the text column {c!r}; {hint}")
        for c in numbers:
            if c not in row or not _is_number(row[c]):
                raise DataError(f"{path}: row {n} column {c!r} must be a number; {hint}")
    extra = {k: v for k, v in doc.items() if k not in ("meta", "rows")}
    return Table(path, meta, extra, tuple(doc["rows"]))


def read_study(root: Path) -> dict | None:
    """study.json, if present: {"meta": {...}, "characteristics": [...]}."""
    path = root / "study.json"
    if not path.is_file():
        return None
    doc = read_json_file(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("meta", {}), dict):
        raise DataError(f"{path}: not a study record (needs an object with a 'meta' object); rerun `miniature run`")
    return doc


def collect(run_dir: str | Path) -> RunResults:
    """Every characteristic's results under `run_dir`: the folders holding a report spec
    (report.json) and the result files it names; absent files are skipped.

    Raises:
        DataError: `run_dir` is not a folder, holds no characteristic results, or a file is malformed.
    """
    root = check_input_dir(run_dir, "run folder")
    study = read_study(root)
    # a study's record names what it ran: results an earlier study left in the folder stay out
    chosen = (study or {}).get("characteristics")
    if isinstance(chosen, list):
        names = [c for c in chosen if isinstance(c, str)]
    else:
        names = sorted(p.parent.name for p in root.glob(f"*/{SPEC_FILE}"))
    specs: dict[str, ReportSpec] = {}
    for name in names:
        path = root / name / SPEC_FILE
        if path.is_file():
            spec = read_spec(read_json_file(path), path)
            if spec.name != name:
                raise DataError(f"{path}: the report spec of {spec.name!r} lies in the folder {name}/; move it back "
                                "or rerun the characteristic")
            specs[name] = spec
    if not isinstance(chosen, list):
        specs = dict(sorted(specs.items(), key=lambda item: (item[1].rank, item[0])))
    tables: dict[str, dict[str, Table]] = {}
    for char, spec in specs.items():
        found = {}
        for f in spec.files:
            path = root / char / f"{f.stem}.json"
            if path.is_file():
                found[f.stem] = parse_table(path, read_json_file(path), f.keys, f.numbers)
        if found:
            tables[char] = found
    if not specs and isinstance(chosen, list) and any((root / c).is_dir() for c in names):
        raise DataError(f"{root}: its characteristics' folders have no report.json (written by an older miniature); "
                        "run `miniature run CONFIG` again: only the comparisons are recomputed")
    if not tables:
        raise DataError(f"{root} holds no characteristic results; run `miniature run CONFIG` first")
    missing = tuple(c for c in names if c not in tables)
    res = RunResults(root, tables, {c: s for c, s in specs.items() if c in tables}, study, missing)
    check_results(res)
    return res


def check_results(res: RunResults) -> None:
    """Across the specs, nothing two characteristics would both write (an agreement, an exported
    table, a bar figure, a column of Table 2 or of the per-model table); in the rows the study
    tables read, model names as text and values as numbers. One-line DataErrors."""
    seen: dict[str, str] = {}
    for c in res.present:
        spec = res.specs[c]
        claims = [f"agreement {a.name!r}" for a in spec.agreements] + [f"table {e.stem!r}" for e in spec.exports]
        claims += [f"figure {b.name!r}" for b in spec.bars]
        claims += [f"Table 2 column {p.column!r}" for p in spec.table2]
        claims += [f"corrected Table 2 column {p.column!r}" for p in spec.table2_corrected]
        claims += [f"per-model column {col!r}" for m in spec.per_model for col in m.columns]
        for claim in claims:
            if claim in seen and seen[claim] != c:
                raise DataError(f"{res.root}: both {seen[claim]} and {c} report the {claim}; rename one in its "
                                "characteristic")
            seen[claim] = c
        pairs = [(a.rows, a.column) for a in spec.agreements]
        pairs += [(p.rows, p.value) for p in (*spec.table2, *spec.table2_corrected)]
        for rows, column in pairs:
            for n, r in enumerate(res.rows(c, rows)):
                where = f"{res.root / c / rows.file}.json"
                if not (isinstance(r.get("model_i"), str) and isinstance(r.get("model_j"), str)):
                    raise DataError(f"{where}: row {n} lacks the text columns 'model_i' and 'model_j' its report "
                                    "spec pairs models by; rerun the characteristic")
                if not _is_number(r.get(column)):
                    raise DataError(f"{where}: row {n} column {column!r} must be a number; rerun the characteristic")
        for m in spec.per_model:
            for n, r in enumerate(res.rows(c, m.rows)):
                bad = [col for col in m.columns.values() if not _is_number(r.get(col))]
                if bad:
                    raise DataError(f"{res.root / c / m.rows.file}.json: row {n} column {bad[0]!r} must be a "
                                    "number; rerun the characteristic")


def characteristic_models(res: RunResults, characteristic: str) -> list[str]:
    """The models a characteristic compared, in its tables' order (pairs in combinations order)."""
    names: dict[str, None] = {}
    for where in res.specs[characteristic].models:
        for r in res.rows(characteristic, where):
            for c in MODEL_COLUMNS:
                if isinstance(r.get(c), str):
                    names.setdefault(r[c], None)
    return list(names)


def study_models(res: RunResults) -> list[Mapping[str, Any]]:
    """The study's model records (label, name, source, revision, ...), if study.json lists them."""
    models = ((res.study or {}).get("meta") or {}).get("models") or []
    return [m for m in models if isinstance(m, Mapping)] if isinstance(models, list) else []


def model_order(res: RunResults) -> list[str]:
    """Every model named anywhere, in the study's order (large first); unknown names follow as first seen."""
    seen: dict[str, None] = {}
    for c in res.present:
        for n in characteristic_models(res, c):
            seen.setdefault(n, None)
    declared = [str(m.get("label") or m.get("name")) for m in study_models(res)]
    return [n for n in declared if n in seen] + [n for n in seen if n not in declared]


def clean(value: Any) -> Any:
    """NaN and infinities as None, so result files are strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value
