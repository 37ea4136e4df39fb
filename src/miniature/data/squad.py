"""One reader for extractive-QA data: SQuAD v2 JSON files, JSONL, and hub datasets like squad_v2."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from miniature.exceptions import DataError, DependencyError
from miniature.files import json_lines, read_json_file, refuse_broken_link
from miniature.registry import Registry
from miniature.runs import content_key, file_stamp


@dataclass(frozen=True)
class Answer:
    text: str
    start: int


@dataclass(frozen=True)
class QAExample:
    """One question over one context; `answers` is empty for an unanswerable question."""

    id: str
    question: str
    context: str
    answers: tuple[Answer, ...] = ()
    title: str = ""

    @property
    def is_impossible(self) -> bool:
        return not self.answers


@dataclass(frozen=True)
class QADataset:
    """Validated examples, where they came from, and a fingerprint of their content."""

    examples: tuple[QAExample, ...]
    source: str
    fingerprint: str = field(default="")

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def ids(self) -> list[str]:
        return [ex.id for ex in self.examples]

    def head(self, n: int | None) -> QADataset:
        """The first `n` examples (all where n is None), re-fingerprinted."""
        if n is None or n >= len(self.examples):
            return self
        return make_dataset(self.examples[:n], f"{self.source}[:{n}]")


@dataclass(frozen=True)
class HubDataset:
    """A named hub dataset: its id and how its splits are called."""

    hub_id: str
    description: str
    config: str | None = None
    layout: str = "squad"  # column layout: "squad" (id, answers {text, answer_start}) or "mrqa" (see _mrqa_row)


DATASETS: Registry[HubDataset] = Registry("dataset", DataError)
DATASETS.add("squad_v2", HubDataset("rajpurkar/squad_v2", "SQuAD 2.0 (train 130,319 / validation 11,873)"))
DATASETS.add("squad", HubDataset("rajpurkar/squad", "SQuAD 1.1 (all questions answerable)"))
DATASETS.add("newsqa", HubDataset("lucadiliello/newsqa", "NewsQA, MRQA 2019 split (validation 4,212), the paper's "
                                  "OOD test set", layout="mrqa"))


def fingerprint(examples: Iterable[QAExample]) -> str:
    return content_key(
        [[e.id, e.question, e.context, [[a.text, a.start] for a in e.answers]] for e in examples]
    )


def make_dataset(examples: Iterable[QAExample], source: str) -> QADataset:
    """Validate examples (unique ids, answers where they say they are) and fingerprint them."""
    examples = tuple(examples)
    if not examples:
        raise DataError(f"{source}: holds no questions")
    seen: set[str] = set()
    for ex in examples:
        if ex.id in seen:
            raise DataError(f"{source}: question id {ex.id!r} appears twice; ids must be unique")
        seen.add(ex.id)
        for a in ex.answers:
            found = ex.context[a.start : a.start + len(a.text)]
            if a.start < 0 or found != a.text:
                raise DataError(
                    f"{source}: question {ex.id!r}: answer_start {a.start} points at {found!r}, "
                    f"not at its answer text {a.text!r}; fix answer_start"
                )
    return QADataset(examples, source, fingerprint(examples))


def _field(obj: Mapping[str, Any], key: str, where: str, kind: type = str) -> Any:
    if not isinstance(obj, Mapping) or key not in obj or obj[key] is None:
        raise DataError(f"{where}: missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind):
        raise DataError(f"{where}: field {key!r} must be {kind.__name__}, got {type(value).__name__}")
    return value


def _answers(raw: Any, where: str) -> tuple[Answer, ...]:
    """Answers as a list of {text, answer_start} or as the hub's {text: [...], answer_start: [...]}."""
    if raw is None:
        return ()
    if isinstance(raw, Mapping):
        texts, starts = raw.get("text", []), raw.get("answer_start", [])
        if len(texts) != len(starts):
            raise DataError(f"{where}: answers have {len(texts)} texts but {len(starts)} starts")
        raw = [{"text": t, "answer_start": s} for t, s in zip(texts, starts)]
    if not isinstance(raw, list):
        raise DataError(f"{where}: 'answers' must be a list of {{text, answer_start}}")
    out = []
    for a in raw:
        text = _field(a, "text", where)
        start = _field(a, "answer_start", where, int)
        out.append(Answer(text, start))
    return tuple(out)


def _example(qa: Mapping[str, Any], context: str, title: str, where: str) -> QAExample:
    if not isinstance(qa, Mapping):
        raise DataError(f"{where}: a question must be a JSON object")
    qid = qa.get("id")
    if qid is None or qid == "":
        raise DataError(f"{where}: missing field 'id'")
    where = f"{where.split(':')[0]}: question {qid!r}"
    question = _field(qa, "question", where)
    impossible = bool(qa.get("is_impossible", False))
    answers = () if impossible else _answers(qa.get("answers"), where)
    return QAExample(str(qid), question, context, answers, title)


def read_squad_json(path: str | Path) -> QADataset:
    """Read an official-format SQuAD v1/v2 file ({"data": [{"paragraphs": [...]}]})."""
    path = Path(path)
    doc = read_json_file(path)
    if not isinstance(doc, Mapping) or not isinstance(doc.get("data"), list):
        raise DataError(f"{path}: not SQuAD format (expected a top-level object with a 'data' list)")
    examples = []
    for a_i, article in enumerate(doc["data"]):
        title = article.get("title", "") if isinstance(article, Mapping) else ""
        paragraphs = _field(article, "paragraphs", f"{path}: article {a_i}", list)
        for p_i, para in enumerate(paragraphs):
            where = f"{path}: article {a_i}, paragraph {p_i}"
            context = _field(para, "context", where)
            for q_i, qa in enumerate(_field(para, "qas", where, list)):
                examples.append(_example(qa, context, title, f"{where}, question {q_i}"))
    return make_dataset(examples, str(path))


def read_jsonl(path: str | Path) -> QADataset:
    """Read one {id, question, context, answers} object a line."""
    path = Path(path)
    examples = []
    for n, row in json_lines(path):
        where = f"{path}: line {n}"
        if not isinstance(row, Mapping):
            raise DataError(f"{where} is a JSON {type(row).__name__}, not an object; write one "
                            "{id, question, context, answers} object a line")
        context = _field(row, "context", where)
        examples.append(_example(row, context, str(row.get("title", "")), where))
    return make_dataset(examples, str(path))


def _mrqa_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """An MRQA-layout row (key, context, question, answers: [str], labels: [{start: [...], end: [...]}])
    in SQuAD form; an answer whose text is not where its label says is looked up in the context."""
    context, answers = row.get("context") or "", []
    for n, text in enumerate(row.get("answers") or []):
        labels = row.get("labels") or []
        starts = labels[n].get("start", []) if n < len(labels) and isinstance(labels[n], Mapping) else []
        start = starts[0] if starts and context[starts[0]:starts[0] + len(text)] == text else context.find(text)
        if start >= 0:
            answers.append({"text": text, "answer_start": start})
    return {"id": row.get("key") or row.get("qid"), "question": row.get("question"), "answers": answers,
            "title": ""}


def load_hub(hub_id: str, split: str, config: str | None = None, layout: str = "squad") -> QADataset:
    """Load a hub dataset with SQuAD columns (id, title, context, question, answers), or MRQA's."""
    try:
        from datasets import load_dataset
    except ImportError:
        raise DependencyError("loading hub datasets needs `pip install datasets`") from None
    try:
        ds = load_dataset(hub_id, config, split=split)
    except Exception as e:  # noqa: BLE001 - network, auth, unknown id: one line for the user
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(
            f"could not load hub dataset {hub_id!r} split {split!r} ({first}); "
            "check the id and your network, or pass a local .json/.jsonl file"
        ) from None
    examples = []
    for i, row in enumerate(ds):
        context = _field(row, "context", f"{hub_id}[{i}]")
        qa = _mrqa_row(row) if layout == "mrqa" else row
        examples.append(_example(qa, context, qa.get("title", ""), f"{hub_id}[{i}]"))
    return make_dataset(examples, f"{hub_id}:{split}")


def load_qa_dataset(source: str | Path, split: str = "validation", limit: int | None = None) -> QADataset:
    """Load QA data from a `.json` (SQuAD), `.jsonl` file, a registered name or a hub id.

    Args:
        source: a file path, a name from `miniature list datasets` (e.g. `squad_v2`), or a hub id.
        split: the split of a hub dataset (`train`, `validation`).
        limit: keep only the first `limit` questions (in file order).
    """
    text = str(source)
    stamp = file_stamp(text)
    return _read_qa_file(text, limit, stamp) if stamp else _load_qa(text, split, limit)


@functools.lru_cache(maxsize=8)
def _read_qa_file(text: str, limit: int | None, stamp: tuple[int, int]) -> QADataset:
    """Datasets are immutable: a study's characteristics share one read of each file (`stamp` keys edits)."""
    return _load_qa(text, "", limit)


def _load_qa(text: str, split: str, limit: int | None) -> QADataset:
    path = Path(text)
    refuse_broken_link(path, "data file")
    if text.endswith(".json"):
        ds = read_squad_json(path)
    elif text.endswith(".jsonl"):
        ds = read_jsonl(path)
    elif path.is_dir():
        raise DataError(f"{path}: is a folder, not a data file; give the .json or .jsonl file inside it")
    elif path.exists():
        raise DataError(f"{path}: unknown data format; use a SQuAD .json or a .jsonl file")
    elif text in DATASETS:
        spec = DATASETS.get(text)
        ds = load_hub(spec.hub_id, split, spec.config, spec.layout)
    elif "/" in text:
        ds = load_hub(text, split)
    else:
        known = ", ".join(DATASETS)
        raise DataError(
            f"unknown dataset {text!r}: not a .json/.jsonl file, a registered name ({known}) "
            "or a hub id (owner/name)"
        )
    return ds.head(limit)
