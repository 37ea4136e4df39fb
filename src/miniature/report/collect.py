"""Read a run folder's characteristic results (their JSON files only) into one typed bundle."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from miniature.exceptions import DataError
from miniature.files import check_input_dir, read_json_file

CHARACTERISTIC_ORDER = ("errors", "representation", "distribution", "adversarial")

# folder -> file stem -> (key columns that must be strings, number columns that must be numbers or null)
SCHEMA: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "errors": {
        "errors": (("model_i", "model_j"), ("jaccard",)),
        "scores": (("model",), ("exact", "f1")),
    },
    "representation": {
        "representation": (("model_i", "model_j"), ()),
        "representation_sweep": (("phase", "model_i", "model_j"), ("k", "mean")),
    },
    "distribution": {
        "distribution": (("model_i", "model_j"), ("jaccard",)),
        "distribution_detectors": (("model",), ("k", "auroc", "share_flagged")),
        "distribution_sweep": (("model_i", "model_j"), ("k", "mean")),
    },
    "adversarial": {
        "adversarial": (("attack_model", "target_model"), ("original_accuracy", "after_attack_accuracy")),
        "adversarial_metrics": (("target_model",), ()),
        "adversarial_agreement": (("model_i", "model_j"), ("jaccard",)),
    },
}


@dataclass(frozen=True)
class Table:
    """One result file: its meta block, its extra top-level fields and its rows."""

    path: Path
    meta: dict
    extra: dict
    rows: tuple[dict, ...]


@dataclass(frozen=True)
class RunResults:
    """Every characteristic table found in a run folder, and the study's own record if written."""

    root: Path
    tables: dict[str, dict[str, Table]]  # characteristic -> file stem -> table (present ones only)
    study: dict | None = None  # study.json, if the run wrote one
    missing: tuple[str, ...] = field(default=())  # characteristics with no results

    @property
    def present(self) -> tuple[str, ...]:
        return tuple(c for c in CHARACTERISTIC_ORDER if self.tables.get(c))

    def table(self, characteristic: str, stem: str) -> Table | None:
        return self.tables.get(characteristic, {}).get(stem)

    def rows(self, characteristic: str, stem: str) -> tuple[dict, ...]:
        t = self.table(characteristic, stem)
        return t.rows if t else ()


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
    """Every characteristic result file under `run_dir`; absent files are skipped.

    Raises:
        DataError: `run_dir` is not a folder, holds no characteristic results, or a file is malformed.
    """
    root = check_input_dir(run_dir, "run folder")
    study = read_study(root)
    # a study's record names what it ran: results an earlier study left in the folder stay out
    chosen = (study or {}).get("characteristics")
    wanted = set(chosen) if isinstance(chosen, list) else set(SCHEMA)
    tables: dict[str, dict[str, Table]] = {}
    for char, files in SCHEMA.items():
        if char not in wanted:
            continue
        found = {}
        for stem, (keys, numbers) in files.items():
            path = root / char / f"{stem}.json"
            if path.is_file():
                found[stem] = parse_table(path, read_json_file(path), keys, numbers)
        if found:
            tables[char] = found
    if not tables:
        raise DataError(f"{root} holds no characteristic results; run `miniature run CONFIG` first")
    missing = tuple(c for c in CHARACTERISTIC_ORDER if c not in tables)
    return RunResults(root, tables, study, missing)


def _names_in(rows: Iterable[dict], columns: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for r in rows:
        for c in columns:
            if isinstance(r.get(c), str):
                seen.setdefault(r[c], None)
    return list(seen)


def characteristic_models(res: RunResults, characteristic: str) -> list[str]:
    """The models a characteristic compared, in its tables' order (pairs in combinations order)."""
    cols = {"errors": ("errors", ("model_i", "model_j")), "representation": ("representation", ("model_i", "model_j")),
            "distribution": ("distribution", ("model_i", "model_j")),
            "adversarial": ("adversarial", ("target_model",))}
    stem, columns = cols[characteristic]
    names = _names_in(res.rows(characteristic, stem), columns)
    if characteristic == "errors":
        sets = res.table("errors", "errors")
        named = [s.get("name") for s in (sets.extra.get("sets") or [])] if sets else []
        names = [n for n in named if isinstance(n, str)] + names
        names += _names_in(res.rows("errors", "scores"), ("model",))
    elif characteristic == "representation":
        names += _names_in(res.rows("representation", "representation_sweep"), ("model_i", "model_j"))
    elif characteristic == "distribution":
        names += _names_in(res.rows("distribution", "distribution_detectors"), ("model",))
        names += _names_in(res.rows("distribution", "distribution_sweep"), ("model_i", "model_j"))
    elif characteristic == "adversarial":
        names += _names_in(res.rows("adversarial", "adversarial_agreement"), ("model_i", "model_j"))
    return list(dict.fromkeys(names))


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
