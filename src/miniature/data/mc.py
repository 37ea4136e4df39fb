"""Multiple-choice items (a context and two or more options, one of them gold), read from ARC's
JSONL (`{"id", "question": {"stem", "choices": [{"text", "label"}]}, "answerKey"}`) or from a plain
JSONL (`{"id", "context", "options", "gold"}`), with lm-evaluation-harness's prompt for ARC
("Question: {stem}\\nAnswer:", each option a continuation after a space)."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from miniature.exceptions import DataError
from miniature.files import json_lines

# registered names: (hub id, config) of the hub's copy; the local files under ../shared/data
MC_DATASETS = {"arc_easy": ("allenai/ai2_arc", "ARC-Easy"), "arc_challenge": ("allenai/ai2_arc", "ARC-Challenge")}


# lm-evaluation-harness's task config that scores an ARC JSONL file (`{data}`) as this module reads
# it: arc_easy's prompt and choices over the file's nested fields (the reference in tests and benchmarks)
LM_EVAL_ARC_TASK = """task: arc_local
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question.stem}}}}\\nAnswer:"
doc_to_choice: "{{{{question.choices | map(attribute='text') | list}}}}"
doc_to_target: "{{{{(question.choices | map(attribute='label') | list).index(answerKey)}}}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
"""


@dataclass(frozen=True)
class MCItem:
    id: str
    context: str  # the prompt the options continue
    options: tuple[str, ...]  # each scored as a continuation of the context after `delimiter`
    gold: int
    delimiter: str = " "


@dataclass(frozen=True)
class MCDataset:
    """Validated multiple-choice items, where they came from, and a fingerprint of their content."""

    examples: tuple[MCItem, ...]
    source: str
    fingerprint: str

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.examples]

    def __len__(self) -> int:
        return len(self.examples)

    def sample(self, n: int | None, seed: int) -> MCDataset:
        """A seeded random sample of `n` items in file order (all of them where n is None or larger)."""
        if n is None or n >= len(self.examples):
            return self
        keep = sorted(random.Random(seed).sample(range(len(self.examples)), n))
        return make_mc_dataset([self.examples[i] for i in keep], f"{self.source}[sample {n}, seed {seed}]")


def make_mc_dataset(items: list[MCItem], source: str) -> MCDataset:
    digest = hashlib.sha256(json.dumps([[e.id, e.context, list(e.options), e.gold, e.delimiter] for e in items],
                                       ensure_ascii=False).encode()).hexdigest()[:16]
    return MCDataset(tuple(items), source, digest)


def arc_item(row: dict, where: str) -> MCItem:
    """One ARC question with lm-eval's arc_easy/arc_challenge prompt."""
    try:
        stem, choices, key = row["question"]["stem"], row["question"]["choices"], row["answerKey"]
        texts, labels = [str(c["text"]) for c in choices], [str(c["label"]) for c in choices]
    except (KeyError, TypeError):
        raise DataError(f"{where}: not an ARC question (id, question.stem, question.choices, answerKey)") from None
    if str(key) not in labels:
        raise DataError(f"{where}: answerKey {key!r} is not one of the labels {labels}")
    return MCItem(str(row["id"]), f"Question: {stem}\nAnswer:", tuple(texts), labels.index(str(key)))


def plain_item(row: dict, where: str) -> MCItem:
    try:
        return MCItem(str(row["id"]), str(row["context"]), tuple(str(o) for o in row["options"]), int(row["gold"]),
                      str(row.get("delimiter", " ")))
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{where}: a multiple-choice item needs id, context, options (a list) and gold (an index)")


def check_item(item: MCItem, where: str) -> MCItem:
    if len(item.options) < 2:
        raise DataError(f"{where}: item {item.id!r} has {len(item.options)} option(s); a multiple-choice item needs "
                        "two at least")
    if not 0 <= item.gold < len(item.options):
        raise DataError(f"{where}: item {item.id!r}: gold {item.gold} is not an option's index "
                        f"(0 to {len(item.options) - 1})")
    if any(not o.strip() for o in item.options):
        raise DataError(f"{where}: item {item.id!r} has an empty option; every option needs text")
    return item


def load_mc_dataset(source: str, split: str = "test", limit: int | None = None) -> MCDataset:
    """Items from a local .jsonl (ARC's format or the plain one, told apart per line) or a
    registered name (`arc_easy`, `arc_challenge`: the hub's allenai/ai2_arc); the first `limit`."""
    path = Path(source)
    if path.suffix == ".jsonl" or path.is_file():
        items = []
        for n, row in json_lines(path):
            where = f"{path}: line {n}"
            if not isinstance(row, dict):
                raise DataError(f"{where}: not a JSON object")
            items.append(check_item(arc_item(row, where) if "question" in row and "answerKey" in row
                                    else plain_item(row, where), where))
            if limit is not None and len(items) >= limit:
                break
        if not items:
            raise DataError(f"{path}: no items in it")
        ids = [i.id for i in items]
        if len(set(ids)) != len(ids):
            raise DataError(f"{path}: id {next(i for i in ids if ids.count(i) > 1)!r} appears twice")
        return make_mc_dataset(items, str(path) + (f"[:{limit}]" if limit else ""))
    if source not in MC_DATASETS:
        raise DataError(f"unknown multiple-choice dataset {source!r}: give a .jsonl file or one of "
                        f"{', '.join(MC_DATASETS)}")
    hub, config = MC_DATASETS[source]
    try:
        from datasets import load_dataset

        rows = load_dataset(hub, config, split=split)
    except Exception as e:  # noqa: BLE001 - offline, unknown split, ...: one line
        raise DataError(f"could not load {hub} ({config}, split {split}): {str(e).splitlines()[0]}") from None
    items = []
    for n, row in enumerate(rows):
        if limit is not None and n >= limit:
            break
        q = {"id": row["id"], "question": {"stem": row["question"], "choices": [
            {"text": t, "label": lab} for t, lab in zip(row["choices"]["text"], row["choices"]["label"])]},
            "answerKey": row["answerKey"]}
        items.append(check_item(arc_item(q, f"{hub} row {n}"), f"{hub} row {n}"))
    return make_mc_dataset(items, f"{hub}:{config}:{split}" + (f"[:{limit}]" if limit else ""))
