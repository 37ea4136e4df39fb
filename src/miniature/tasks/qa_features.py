"""Tokenise QA examples into windows (doc stride), with span labels for training, offsets for prediction."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from miniature.data.squad import QAExample

CHUNK = 1000  # examples tokenised per batched call


def truncate_questions(tokenizer: Any, questions: Sequence[str], max_query_length: int) -> list[str]:
    """Cut every question to its first `max_query_length` tokens (legacy run_squad semantics)."""
    questions = [q.lstrip() for q in questions]  # leading spaces make some tokenisers overflow
    enc = tokenizer(list(questions), add_special_tokens=False, return_offsets_mapping=True)
    out = []
    for q, offsets in zip(questions, enc["offset_mapping"]):
        out.append(q[: offsets[max_query_length - 1][1]] if len(offsets) > max_query_length else q)
    return out


def _encode(tokenizer: Any, examples: Sequence[QAExample], max_seq_length: int, doc_stride: int,
            max_query_length: int) -> Any:
    questions = truncate_questions(tokenizer, [e.question for e in examples], max_query_length)
    return tokenizer(
        questions,
        [e.context for e in examples],
        truncation="only_second",
        max_length=max_seq_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )


def _chunks(examples: Sequence[QAExample], progress: Callable[[Iterable], Iterable] | None):
    starts = range(0, len(examples), CHUNK)
    for s in progress(starts) if progress else starts:
        yield s, examples[s : s + CHUNK]


def _null_index(input_ids: list[int], cls_id: int | None) -> int:
    # the null answer points at CLS; models without one (T5) use the first token
    return input_ids.index(cls_id) if cls_id is not None and cls_id in input_ids else 0


def encode_train(tokenizer: Any, examples: Sequence[QAExample], max_seq_length: int, doc_stride: int,
                 max_query_length: int, keys: Iterable[str], progress=None) -> list[dict[str, Any]]:
    """Training windows with start/end token positions (the null index where the answer is absent).

    Args:
        keys: the model inputs to keep (token_type_ids only for models that take them).
    """
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in set(keys)]
    features: list[dict[str, Any]] = []
    for _, chunk in _chunks(examples, progress):
        enc = _encode(tokenizer, chunk, max_seq_length, doc_stride, max_query_length)
        for i, offsets in enumerate(enc["offset_mapping"]):
            ids = enc["input_ids"][i]
            null = _null_index(ids, tokenizer.cls_token_id)
            ex = chunk[enc["overflow_to_sample_mapping"][i]]
            start = end = null
            if ex.answers:
                a = ex.answers[0]
                s_char, e_char = a.start, a.start + len(a.text)
                seq = enc.sequence_ids(i)
                ctx = [t for t, s in enumerate(seq) if s == 1]
                if ctx and offsets[ctx[0]][0] <= s_char and offsets[ctx[-1]][1] >= e_char:
                    # the answer lies inside this window: the tokens that cover its first/last char
                    start = next(t for t in ctx if offsets[t][1] > s_char)
                    end = next(t for t in reversed(ctx) if offsets[t][0] < e_char)
            feat = {k: enc[k][i] for k in keys}
            feat["start_positions"], feat["end_positions"] = start, end
            features.append(feat)
    return features


@dataclass
class EvalFeatures:
    """Prediction windows: model inputs, the example each belongs to, and char offsets of context tokens."""

    inputs: list[dict[str, list[int]]]
    example_index: np.ndarray  # window -> index of its example
    starts: list[np.ndarray]  # per window: start char of each token, -1 outside the context
    ends: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.inputs)


def encode_eval(tokenizer: Any, examples: Sequence[QAExample], max_seq_length: int, doc_stride: int,
                max_query_length: int, keys: Iterable[str], progress=None) -> EvalFeatures:
    """All prediction windows of all examples, tokenised once in large batched calls."""
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in set(keys)]
    inputs, ex_index, starts, ends = [], [], [], []
    for base, chunk in _chunks(examples, progress):
        enc = _encode(tokenizer, chunk, max_seq_length, doc_stride, max_query_length)
        for i, offsets in enumerate(enc["offset_mapping"]):
            inputs.append({k: enc[k][i] for k in keys})
            ex_index.append(base + enc["overflow_to_sample_mapping"][i])
            seq = np.array([s if s is not None else -1 for s in enc.sequence_ids(i)])
            off = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
            ctx = seq == 1
            starts.append(np.where(ctx, off[:, 0], -1))
            ends.append(np.where(ctx, off[:, 1], -1))
    return EvalFeatures(inputs, np.asarray(ex_index, dtype=np.int64), starts, ends)
