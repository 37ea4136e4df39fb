"""Labelled text for classification (IMDB and the like): JSONL or CSV files with text and label, or hub ids."""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from miniature.exceptions import DataError, DependencyError
from miniature.files import json_lines, read_text, refuse_broken_link
from miniature.registry import Registry
from miniature.runs import content_key, file_stamp


@dataclass(frozen=True)
class TextExample:
    id: str
    text: str
    label: int


@dataclass(frozen=True)
class TextDataset:
    """Validated labelled texts, where they came from, and a fingerprint of their content."""

    examples: tuple[TextExample, ...]
    source: str
    fingerprint: str

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.examples]

    @property
    def n_labels(self) -> int:
        """Classes the labels imply: the largest label plus one, at least two."""
        return max(2, 1 + max((e.label for e in self.examples), default=0))

    def sample(self, n: int | None, seed: int, exclude: Collection[str] = ()) -> TextDataset:
        """A seeded random sample of `n` examples (all where None), in file order, none of whose
        ids is in `exclude` (the training data, so evaluation never sees a training text)."""
        keep = [i for i, e in enumerate(self.examples) if e.id not in exclude] if exclude else None
        pool = np.arange(len(self.examples)) if keep is None else np.array(keep, dtype=np.int64)
        if n is not None and n < len(pool):
            pool = np.sort(np.random.default_rng(seed).choice(pool, size=n, replace=False))
        elif keep is None:
            return self
        tag = f"[sample {n} seed {seed}{', disjoint' if exclude else ''}]"
        return make_text_dataset([self.examples[i] for i in pool], self.source + tag)


@dataclass(frozen=True)
class HubTextDataset:
    hub_id: str
    description: str


TEXT_DATASETS: Registry[HubTextDataset] = Registry("text dataset", DataError)
TEXT_DATASETS.add("imdb", HubTextDataset("stanfordnlp/imdb",
                                         "IMDB reviews, 0 negative / 1 positive (train 25,000 / test 25,000)"))


def _label(value: Any, where: str) -> int:
    if isinstance(value, bool):  # JSON true/false: refused like 1.0, a class index is a whole number
        raise DataError(f"{where}: label {value!r} is a boolean, not a class index; write 0 or 1")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():  # not '²', which isdigit
        return int(value)
    if value is None or value == "":
        raise DataError(f"{where}: the label is missing; give every example a class index (0, 1, ...)")
    raise DataError(f"{where}: label {value!r} is not a class index (0, 1, ...)")


def _example(row: Mapping[str, Any], default_id: str, where: str) -> TextExample:
    if not isinstance(row, Mapping):
        raise DataError(f"{where}: expected an object with 'text' and 'label'")
    for key in ("text", "label"):
        if key not in row:
            raise DataError(f"{where}: missing field {key!r}; every example needs 'text' and 'label'")
    text = row["text"]
    if not isinstance(text, str):
        raise DataError(f"{where}: text is a {type(text).__name__} ({text!r:.40}), not a string; quote it")
    if not text.split():
        raise DataError(f"{where}: empty text; remove the example or give it words")
    return TextExample(str(row.get("id", default_id)), text, _label(row["label"], where))


def make_text_dataset(examples: Iterable[TextExample], source: str) -> TextDataset:
    """Check ids are unique and there is something to read; fingerprint the content."""
    examples = tuple(examples)
    if not examples:
        raise DataError(f"{source}: holds no examples")
    seen: set[str] = set()
    for e in examples:
        if e.id in seen:
            raise DataError(f"{source}: example id {e.id!r} appears twice; ids must be unique")
        seen.add(e.id)
    fp = content_key([[e.id, e.text, e.label] for e in examples])
    return TextDataset(examples, source, fp)


def read_text_jsonl(path: Path) -> TextDataset:
    examples = [_example(row, str(n), f"{path}: line {n}") for n, row in json_lines(path)]
    return make_text_dataset(examples, str(path))


def read_text_csv(path: Path) -> TextDataset:
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))  # a BOM, as spreadsheets write, is dropped
    try:
        missing = {"text", "label"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}: CSV header lacks {sorted(missing)}; it needs 'text' and 'label' columns")
        examples = [_example(row, str(n), f"{path}: row {n}") for n, row in enumerate(reader, 1)]
    except csv.Error as e:
        raise DataError(f"{path}: not readable as CSV (line {reader.line_num}: {e})") from None
    return make_text_dataset(examples, str(path))


def read_text_tsv(path: Path) -> TextDataset:
    """GLUE's TSV (SST-2: header `sentence\tlabel`, no quoting), or `text\tlabel`."""
    lines = read_text(path).split("\n")
    header = lines[0].rstrip("\r").split("\t")
    column = "sentence" if "sentence" in header else "text"
    if column not in header or "label" not in header:
        raise DataError(f"{path}: TSV header {header} lacks 'sentence' (or 'text') and 'label'")
    at, lab = header.index(column), header.index("label")
    examples = []
    for n, line in enumerate(lines[1:], 1):
        if not line.strip():
            continue
        cells = line.rstrip("\r").split("\t")
        if len(cells) != len(header):
            raise DataError(f"{path}: row {n} has {len(cells)} fields, the header {len(header)}")
        examples.append(_example({"text": cells[at], "label": cells[lab]}, str(n), f"{path}: row {n}"))
    return make_text_dataset(examples, str(path))


def load_text_hub(hub_id: str, split: str) -> TextDataset:
    try:
        from datasets import load_dataset
    except ImportError:
        raise DependencyError("loading hub datasets needs `pip install datasets`") from None
    try:
        ds = load_dataset(hub_id, split=split)
    except Exception as e:  # noqa: BLE001 - network, auth, unknown id: one line for the user
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"could not load hub dataset {hub_id!r} split {split!r} ({first}); "
                        "check the id and your network, or pass a local .jsonl/.csv file") from None
    examples = [_example(row, f"{split}_{i}", f"{hub_id}[{i}]") for i, row in enumerate(ds)]
    return make_text_dataset(examples, f"{hub_id}:{split}")


def load_text_dataset(source: str | Path, split: str = "test") -> TextDataset:
    """Labelled texts from a `.jsonl` or `.csv` file (fields `text`, `label`, optional `id`),
    a registered name (`imdb`) or a hub id with `text` and `label` columns."""
    text = str(source)
    stamp = file_stamp(text)
    return _read_text_file(text, stamp) if stamp else _load_text(text, split)


@functools.lru_cache(maxsize=8)
def _read_text_file(text: str, stamp: tuple[int, int]) -> TextDataset:
    """Datasets are immutable: a study's characteristics share one read of each file (`stamp` keys edits)."""
    return _load_text(text, "")


def _load_text(text: str, split: str) -> TextDataset:
    path = Path(text)
    refuse_broken_link(path, "data file")
    if text.endswith(".jsonl"):
        return read_text_jsonl(path)
    if text.endswith(".csv"):
        return read_text_csv(path)
    if text.endswith(".tsv"):
        return read_text_tsv(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a data file; give the .jsonl or .csv file inside it")
    if path.exists():
        raise DataError(f"{path}: unknown data format; use a .jsonl or .csv file with text and label")
    if text in TEXT_DATASETS:
        return load_text_hub(TEXT_DATASETS.get(text).hub_id, split)
    if "/" in text:
        return load_text_hub(text, split)
    raise DataError(f"unknown text dataset {text!r}: not a .jsonl/.csv file, a registered name "
                    f"({', '.join(TEXT_DATASETS)}) or a hub id (owner/name)")
