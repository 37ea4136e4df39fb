"""Multiple-choice items (a context and two or more options, one of them gold) with
lm-evaluation-harness's prompts, from the benchmarks' own files or the hub: ARC (its JSONL),
HellaSwag (llama.cpp's text format), PIQA (`valid.jsonl` and `valid-labels.lst`), BoolQ
(SuperGLUE's `val.jsonl`), MMLU (the release's folder or a subject's CSV, with 0-5 dev shots),
and a plain JSONL of `{id, context, options, gold}`. docs/data.md has the table of prompts."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from miniature.exceptions import DataError
from miniature.files import json_lines, read_text

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

MMLU_LETTERS = ("A", "B", "C", "D")


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


# ---- one item of each set, lm-eval's prompt


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


def hellaswag_text(text: str) -> str:
    """lm-eval's HellaSwag `preprocess`: WikiHow's bracketed tags out, double spaces single."""
    text = text.strip().replace(" [title]", ". ")
    return re.sub("\\[.*?\\]", "", text).replace("  ", " ")


def hellaswag_item(index: int, activity: str, ctx_a: str, ctx_b: str, endings: list[str], gold: int) -> MCItem:
    """lm-eval's hellaswag: `{activity}: {ctx_a} {Ctx_b}` (ctx_b capitalized), the endings."""
    ctx = ctx_a + " " + ctx_b.capitalize()
    return MCItem(f"hellaswag-{index}", hellaswag_text(activity + ": " + ctx),
                  tuple(hellaswag_text(e) for e in endings), gold)


def piqa_item(row: dict, label: Any, where: str, index: int) -> MCItem:
    try:
        goal, options, gold = str(row["goal"]), (str(row["sol1"]), str(row["sol2"])), int(label)
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{where}: a PIQA item needs goal, sol1, sol2 and a label 0 or 1") from None
    return MCItem(str(row.get("id", f"piqa-{index}")), f"Question: {goal}\nAnswer:", options, gold)


def boolq_item(row: dict, where: str, index: int) -> MCItem:
    label = row.get("label", row.get("answer"))
    truth = {"true": 1, "false": 0, "1": 1, "0": 0}.get(str(label).strip().lower())
    if "passage" not in row or "question" not in row or truth is None:
        raise DataError(f"{where}: a BoolQ item needs passage, question and label (true/false)")
    return MCItem(f"boolq-{row.get('idx', index)}", f"{row['passage']}\nQuestion: {row['question']}?\nAnswer:",
                  ("no", "yes"), truth)


def mmlu_question(question: str, options: list[str]) -> str:
    """lm-eval's mmlu `doc_to_text`."""
    lines = [question.strip()] + [f"{letter}. {o}" for letter, o in zip(MMLU_LETTERS, options)]
    return "\n".join(lines) + "\nAnswer:"


def mmlu_items(subject: str, rows: list[tuple[str, list[str], int]], shots: list[tuple[str, list[str], int]],
               limit: int | None) -> list[MCItem]:
    """lm-eval's mmlu context: the subject's description, then `shots` dev questions each followed by
    " " and its letter and a blank line (its first_n sampler), then the question; the options are
    the letters."""
    head = f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"
    head += "".join(f"{mmlu_question(q, o)} {MMLU_LETTERS[g]}\n\n" for q, o, g in shots)
    return [MCItem(f"{subject}-{k}", head + mmlu_question(q, o), MMLU_LETTERS, g)
            for k, (q, o, g) in enumerate(rows[:limit] if limit is not None else rows)]


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


# ---- local files


def _hellaswag_file(path: Path) -> Iterator[MCItem]:
    """llama.cpp's `--hellaswag` text: per task a context line, the gold index, four endings. The
    context is `{activity}: {ctx_a} {ctx_b}` as llama.cpp scores it (ctx_b's first letter as the
    file has it: lm-eval capitalizes it, and the file does not say where ctx_b starts)."""
    lines = read_text(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) % 6:
        raise DataError(f"{path}: {len(lines)} lines; llama.cpp's HellaSwag format has 6 a task (context, gold "
                        "index, 4 endings)")
    for t in range(len(lines) // 6):
        ctx, gold, *endings = lines[6 * t : 6 * t + 6]
        if not gold.strip().isdigit():
            raise DataError(f"{path}: line {6 * t + 2}: {gold!r} is not a gold index (0 to 3)")
        yield MCItem(f"hellaswag-{t}", hellaswag_text(ctx), tuple(hellaswag_text(e) for e in endings), int(gold))


def _piqa_labels(path: Path) -> list[str] | None:
    labels = path.with_name(path.stem + "-labels.lst")
    if not labels.exists():
        return None
    return [x.strip() for x in read_text(labels).split("\n") if x.strip()]


def _jsonl(path: Path) -> Iterator[MCItem]:
    """ARC's JSONL, PIQA's (labels from `<name>-labels.lst` beside it), BoolQ's or the plain
    format, told apart by each line's fields."""
    labels: list[str] | None = None
    for k, (n, row) in enumerate(json_lines(path)):
        where = f"{path}: line {n}"
        if not isinstance(row, dict):
            raise DataError(f"{where}: not a JSON object")
        if "question" in row and "answerKey" in row:
            yield arc_item(row, where)
        elif "goal" in row and "sol1" in row:
            if labels is None:
                labels = _piqa_labels(path) if "label" not in row else []
                if labels is None:
                    raise DataError(f"{where}: a PIQA item without its label, and no "
                                    f"{path.stem}-labels.lst beside {path.name}")
            if "label" in row:
                yield piqa_item(row, row["label"], where, k)
            elif k < len(labels):
                yield piqa_item(row, labels[k], where, k)
            else:
                raise DataError(f"{path.stem}-labels.lst: {len(labels)} labels for more items; one a line, aligned")
        elif "passage" in row and "question" in row:
            yield boolq_item(row, where, k)
        else:
            yield plain_item(row, where)


def _mmlu_rows(path: Path) -> list[tuple[str, list[str], int]]:
    """An MMLU CSV (no header: question, A, B, C, D, answer letter)."""
    rows = []
    for n, row in enumerate(csv.reader(io.StringIO(read_text(path), newline="")), 1):
        if not row:
            continue
        if len(row) != 6 or row[5].strip() not in MMLU_LETTERS:
            raise DataError(f"{path}: row {n}: an MMLU row is question,A,B,C,D,answer (a letter A-D); it has "
                            f"{len(row)} fields")
        rows.append((row[0], row[1:5], MMLU_LETTERS.index(row[5].strip())))
    return rows


def _mmlu_local(path: Path, split: str, shots: int, limit: int | None) -> list[MCItem]:
    """MMLU from the release's folder (`<split>/<subject>_<split>.csv`; shots from `dev/`), or one
    `<subject>_<split>.csv` (shots from `../dev/` beside it)."""
    if path.is_dir():
        folder = path / split
        files = sorted(folder.glob(f"*_{split}.csv"))
        if not files:
            raise DataError(f"{path}: no {split}/<subject>_{split}.csv files; give MMLU's release folder "
                            "(test/, dev/) or one subject's CSV")
    else:
        files = [path]
    items: list[MCItem] = []
    for file in files:
        subject = re.sub(r"_(test|dev|val)$", "", file.stem)
        shot_rows: list[tuple[str, list[str], int]] = []
        if shots:
            dev = file.parent.parent / "dev" / f"{subject}_dev.csv"
            if not dev.exists():
                raise DataError(f"{file}: {shots}-shot needs {dev} (MMLU's dev split, the shots)")
            shot_rows = _mmlu_rows(dev)
            if len(shot_rows) < shots:
                raise DataError(f"{dev}: {len(shot_rows)} questions, fewer than shots {shots}")
        items += mmlu_items(subject, _mmlu_rows(file), shot_rows[:shots], limit)
    return items


# ---- registered names: the hub's copies


def _hub_rows(hub: str, config: str | None, split: str) -> Any:
    try:
        from datasets import load_dataset

        return load_dataset(hub, config, split=split)
    except Exception as e:  # noqa: BLE001 - offline, unknown split, ...: one line
        raise DataError(f"could not load {hub} ({config or 'default'}, split {split}): {str(e).splitlines()[0]}") \
            from None


def _arc_hub(config: str) -> Callable[[str, int, int | None], list[MCItem]]:
    def read(split: str, shots: int, limit: int | None) -> list[MCItem]:
        out = []
        for n, row in enumerate(_hub_rows("allenai/ai2_arc", config, split)):
            if limit is not None and n >= limit:
                break
            q = {"id": row["id"], "question": {"stem": row["question"], "choices": [
                {"text": t, "label": lab} for t, lab in zip(row["choices"]["text"], row["choices"]["label"])]},
                "answerKey": row["answerKey"]}
            out.append(arc_item(q, f"allenai/ai2_arc row {n}"))
        return out
    return read


def _hellaswag_hub(split: str, shots: int, limit: int | None) -> list[MCItem]:
    rows = _hub_rows("Rowan/hellaswag", None, split)
    return [hellaswag_item(n, r["activity_label"], r["ctx_a"], r["ctx_b"], list(r["endings"]), int(r["label"]))
            for n, r in enumerate(rows) if limit is None or n < limit]


def _piqa_hub(split: str, shots: int, limit: int | None) -> list[MCItem]:
    rows = _hub_rows("baber/piqa", None, split)
    return [piqa_item(r, r["label"], f"baber/piqa row {n}", n) for n, r in enumerate(rows)
            if limit is None or n < limit]


def _boolq_hub(split: str, shots: int, limit: int | None) -> list[MCItem]:
    rows = _hub_rows("aps/super_glue", "boolq", split)
    return [boolq_item(r, f"aps/super_glue row {n}", n) for n, r in enumerate(rows) if limit is None or n < limit]


def _mmlu_hub(split: str, shots: int, limit: int | None) -> list[MCItem]:
    by_subject: dict[str, list[tuple[str, list[str], int]]] = {}
    for r in _hub_rows("cais/mmlu", "all", split):
        by_subject.setdefault(r["subject"], []).append((r["question"], list(r["choices"]), int(r["answer"])))
    dev: dict[str, list[tuple[str, list[str], int]]] = {}
    if shots:
        for r in _hub_rows("cais/mmlu", "all", "dev"):
            dev.setdefault(r["subject"], []).append((r["question"], list(r["choices"]), int(r["answer"])))
    return [item for subject in sorted(by_subject)
            for item in mmlu_items(subject, by_subject[subject], dev.get(subject, [])[:shots], limit)]


# name -> (default split, reader(split, shots, limit)); MMLU's limit is per subject, as lm-eval's
MC_DATASETS: dict[str, tuple[str, Callable[[str, int, int | None], list[MCItem]]]] = {
    "arc_easy": ("test", _arc_hub("ARC-Easy")), "arc_challenge": ("test", _arc_hub("ARC-Challenge")),
    "hellaswag": ("validation", _hellaswag_hub), "piqa": ("validation", _piqa_hub),
    "boolq": ("validation", _boolq_hub), "mmlu": ("test", _mmlu_hub)}
FEW_SHOT = ("mmlu",)  # the sets with a few-shot split


def _is_mmlu(path: Path) -> bool:
    return (path.is_dir() and (path / "test").is_dir()) or path.suffix == ".csv"


def load_mc_dataset(source: str, split: str | None = None, limit: int | None = None, shots: int = 0) -> MCDataset:
    """Items from a local file or folder (the table above; the format told from the file), or a
    registered name (`MC_DATASETS`: the hub's copy, its default split where `split` is None); the
    first `limit` (MMLU: of each subject); `shots` answered dev questions before each (MMLU only)."""
    path = Path(source)
    local = path.exists() or path.suffix in (".jsonl", ".txt", ".csv")
    mmlu = _is_mmlu(path) if local else source == "mmlu"
    if shots and not mmlu:
        raise DataError(f"{source}: shots {shots} needs a set with a few-shot split (MMLU's dev); set shots to 0")
    if local:
        if mmlu:
            raw = _mmlu_local(path, split or "test", shots, limit)
        else:
            reader = _hellaswag_file(path) if path.suffix == ".txt" else _jsonl(path)
            raw = []
            for item in reader:
                raw.append(item)
                if limit is not None and len(raw) >= limit:
                    break
        where, name = str(path), str(path) + (f"[:{limit}]" if limit else "")
    else:
        if source not in MC_DATASETS:
            raise DataError(f"unknown multiple-choice dataset {source!r}: give a local file (.jsonl, HellaSwag's "
                            f".txt, MMLU's folder or .csv) or one of {', '.join(MC_DATASETS)}")
        default, read = MC_DATASETS[source]
        raw = read(split or default, shots, limit)
        where = name = f"{source}:{split or default}" + (f"[:{limit}]" if limit else "")
    items = [check_item(item, where) for item in raw]
    if not items:
        raise DataError(f"{where}: no items in it")
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        raise DataError(f"{where}: id {next(i for i in ids if ids.count(i) > 1)!r} appears twice")
    return make_mc_dataset(items, name + (f"[{shots}-shot]" if shots else ""))


def set_name(source: str) -> str:
    """A set's short name in a pooled study: a registered name as it is, a file's stem, a folder's name."""
    return source if source in MC_DATASETS else Path(source).stem if Path(source).suffix else Path(source).name


def load_mc_sets(sources: list[str], split: str | None = None, limit: int | None = None,
                 shots: int = 0) -> MCDataset:
    """Several sets pooled into one item list (each its first `limit`), every id prefixed with its
    set's short name and a slash (`set_of` reads it back); one set is read as it is."""
    if len(sources) == 1:
        return load_mc_dataset(sources[0], split, limit, shots)
    names = [set_name(s) for s in sources]
    if len(set(names)) != len(names):
        raise DataError(f"multiple-choice sets {sources} share a short name; give each set a distinct file name")
    items: list[MCItem] = []
    parts = []
    for source, name in zip(sources, names):
        data = load_mc_dataset(source, split, limit, shots)
        items += [MCItem(f"{name}/{e.id}", e.context, e.options, e.gold, e.delimiter) for e in data.examples]
        parts.append(data.source)
    return make_mc_dataset(items, " + ".join(parts))


def set_of(item_id: str) -> str:
    """The set a pooled item came from ("" for an item of a single set)."""
    return item_id.split("/", 1)[0] if "/" in item_id else ""
