"""Per-item outputs from files other tools wrote: lm-evaluation-harness `--log_samples` files
(`samples_<task>_<date>.jsonl`) and plain per-item JSONL (`{"id", "correct", "prediction",
"probs", "label"}`), read into one record per item for the output agreement.

lm-eval's samples (format of lm-eval 0.4): one JSON object per document with `doc_id`, `doc_hash`,
`target`, `arguments` (each request's context and continuation), `resps` / `filtered_resps` (per
request: for `multiple_choice` and `loglikelihood` tasks `[log-likelihood, is_greedy]`, written as
strings or numbers; for `generate_until` the generated text) and each metric by name (`acc`,
`acc_norm`, `exact_match`, ...).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from miniature.exceptions import DataError
from miniature.files import json_lines

SAMPLES = re.compile(r"^samples_(?P<task>.+)_(?P<date>\d{4}-\d{2}-\d{2}T[\d.-]+)\.jsonl$")
CORRECTNESS = ("acc", "exact_match", "acc_norm")  # the metric read as correctness, the first present


@dataclass(frozen=True)
class ItemRecord:
    """One item's output: its id (lm-eval: the doc_id), a hash of the document where known, the
    prediction, whether it is correct, the option scores (log-likelihoods) or probabilities, the
    gold option."""

    id: str
    doc_hash: str | None
    prediction: str
    correct: bool
    logliks: np.ndarray | None = None  # per option, lm-eval's multiple choice
    probs: np.ndarray | None = None  # a distribution given as such (plain JSONL)
    label: int | None = None


def _number(value: Any, where: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {value!r:.40} is not a number") from None
    if math.isnan(out):
        raise DataError(f"{where}: NaN; write a number")
    return out


def samples_files(path: str | Path) -> dict[str, Path]:
    """task -> its samples file: `path` is one such file or a folder searched recursively (lm-eval
    writes them under a folder named after the model); of several runs of one task, the latest."""
    p = Path(path)
    if p.is_file():
        m = SAMPLES.match(p.name)
        if not m:
            raise DataError(f"{p}: not an lm-eval samples file (samples_<task>_<date>.jsonl); run lm_eval with "
                            "--log_samples and give its output folder")
        return {m["task"]: p}
    if not p.is_dir():
        raise DataError(f"{p}: no such file or folder")
    found: dict[str, tuple[str, Path]] = {}
    for f in sorted(p.rglob("samples_*.jsonl")):
        m = SAMPLES.match(f.name)
        if m and (m["task"] not in found or m["date"] > found[m["task"]][0]):
            found[m["task"]] = (m["date"], f)
    if not found:
        raise DataError(f"{p}: no lm-eval samples files (samples_<task>_<date>.jsonl) in it; run lm_eval with "
                        "--log_samples --output_path there")
    return {task: f for task, (_, f) in sorted(found.items())}


def _lines(path: Path) -> list[tuple[int, dict]]:
    out = []
    for n, row in json_lines(path):  # the house's JSON: a key given twice refused, one line per error
        if not isinstance(row, dict):
            raise DataError(f"{path}: line {n}: not a JSON object")
        out.append((n, row))
    if not out:
        raise DataError(f"{path}: no items in it")
    return out


def read_lm_eval_samples(path: Path, metric: str | None = None) -> list[ItemRecord]:
    """The items of one samples file. Correctness: `metric` (else acc, exact_match or acc_norm,
    the first the file has); prediction: the option with the highest log-likelihood (for acc_norm
    divided by the option's length in characters, its leading delimiter aside, as lm-eval 0.4's
    code normalises), else the filtered response's text."""
    records = []
    for n, row in _lines(path):
        where = f"{path}: line {n}"
        if "doc_id" not in row:
            raise DataError(f"{where}: no doc_id; is this an lm-eval samples file?")
        name = metric or next((m for m in CORRECTNESS if m in row), None)
        if name is None or name not in row:
            raise DataError(f"{where}: no {metric or ' / '.join(CORRECTNESS)} metric to read correctness from; "
                            "name one with --metric")
        correct = _number(row[name], f"{where}: {name}") > 0
        resps = row.get("filtered_resps", row.get("resps"))
        logliks = None
        prediction: str
        if isinstance(resps, list) and resps and all(isinstance(r, list) and r for r in resps):
            first = [r[0] if isinstance(r[0], (str, int, float)) else None for r in resps]
            try:
                logliks = np.array([float(x) for x in first], dtype=np.float64)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                logliks = None
        if logliks is not None and "acc_mutual_info" in (row.get("metrics") or []) and len(logliks) % 2 == 0:
            logliks = logliks[: len(logliks) // 2]  # the second half: the options without their context
        if logliks is not None and len(logliks) > 1:
            if not np.isfinite(logliks).all():
                raise DataError(f"{where}: a log-likelihood is NaN or infinite; every option needs a number")
            scores = logliks
            if name == "acc_norm":
                args = row.get("arguments") or {}
                conts = [str(a.get("arg_1", "")) for a in args.values()] if isinstance(args, dict) else []
                if len(conts) == len(logliks):  # lm-eval: the choice's length in characters, delimiter aside
                    scores = logliks / np.maximum([len(c.removeprefix(" ")) for c in conts], 1)
            prediction = str(int(np.argmax(scores)))
        else:
            logliks = None
            text = resps[0] if isinstance(resps, list) and resps else resps
            prediction = text if isinstance(text, str) else json.dumps(text)
        target = row.get("target")
        label = int(target) if isinstance(target, (int, str)) and str(target).isdigit() else None
        if label is not None and (logliks is None or label >= len(logliks)):
            label = None  # a number that is not an option's index (a generated answer's "18") is no class
        records.append(ItemRecord(str(row["doc_id"]), row.get("doc_hash"), prediction, correct, logliks,
                                  label=label))
    return records


def read_lm_eval_task(path: Path, task: str, metric: str | None = None) -> dict[str, list[ItemRecord]]:
    """A samples file's items per filter: lm-eval writes a row per (filter, doc_id) where a task
    has several filters (gsm8k's strict-match and flexible-extract); each becomes its own task,
    `<task>/<filter>` (just `<task>` where there is one). A doc_id twice in one filter is refused."""
    rows = _lines(path)
    filters = list(dict.fromkeys(str(r.get("filter", "none")) for _, r in rows))
    out: dict[str, list[ItemRecord]] = {}
    seen: dict[str, set[str]] = {}
    for (n, row), record in zip(rows, read_lm_eval_samples(path, metric)):
        name = task if len(filters) == 1 else f"{task}/{row.get('filter', 'none')}"
        if record.id in seen.setdefault(name, set()):
            raise DataError(f"{path}: line {n}: doc_id {record.id} appears twice for filter "
                            f"{row.get('filter', 'none')!r}; give each document once")
        seen[name].add(record.id)
        out.setdefault(name, []).append(record)
    return out


def read_item_file(path: str | Path) -> list[ItemRecord]:
    """Plain per-item JSONL: `id`, `correct` (a boolean or 0/1), and optionally `prediction`,
    `probs` (a probability per class) and `label` (the gold class)."""
    path = Path(path)
    records = []
    for n, row in _lines(path):
        where = f"{path}: line {n}"
        if "id" not in row or "correct" not in row:
            raise DataError(f"{where}: needs `id` and `correct` (and optionally prediction, probs, label)")
        correct = row["correct"]
        if not isinstance(correct, (bool, int)) or correct not in (0, 1, True, False):
            raise DataError(f"{where}: correct is {correct!r:.40}; write true/false or 1/0")
        probs = None
        if row.get("probs") is not None:
            if not isinstance(row["probs"], list) or not row["probs"]:
                raise DataError(f"{where}: probs must be a list of probabilities")
            probs = np.array([_number(v, f"{where}: probs") for v in row["probs"]], dtype=np.float64)
        label = row.get("label")
        if label is not None and (isinstance(label, bool) or not isinstance(label, int)):
            raise DataError(f"{where}: label {label!r:.40} is not a class index")
        prediction = row.get("prediction")
        if prediction is None:
            prediction = str(int(np.argmax(probs))) if probs is not None else ""
        records.append(ItemRecord(str(row["id"]), None, str(prediction), bool(correct), probs=probs, label=label))
    ids = [r.id for r in records]
    if len(set(ids)) != len(ids):
        twice = next(i for i in ids if ids.count(i) > 1)
        raise DataError(f"{path}: id {twice!r} appears twice; give each item once")
    return records
