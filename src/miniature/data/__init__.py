"""Readers of QA data: SQuAD v2 JSON (NewsQA in the same format), JSONL, hub datasets."""

from __future__ import annotations

from miniature.data.squad import (
    DATASETS,
    Answer,
    QADataset,
    QAExample,
    load_qa_dataset,
    read_jsonl,
    read_squad_json,
)

__all__ = [
    "DATASETS",
    "Answer",
    "QADataset",
    "QAExample",
    "load_qa_dataset",
    "read_jsonl",
    "read_squad_json",
]
