"""Turn start/end logits of windows into answers: the post-processing of transformers' QA example."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from miniature.data.squad import QAExample


@dataclass(frozen=True)
class Span:
    score: float
    start_logit: float
    end_logit: float
    text: str


def best_spans(start: np.ndarray, end: np.ndarray, starts: np.ndarray, ends: np.ndarray, context: str,
               n_best: int, max_answer_length: int) -> list[Span]:
    """The valid spans among the top-n start x top-n end tokens of one window.

    Spans outside the context, reversed, or longer than `max_answer_length` tokens are dropped.
    """
    si = np.argsort(start)[-1 : -n_best - 1 : -1]
    ei = np.argsort(end)[-1 : -n_best - 1 : -1]
    S, E = np.meshgrid(si, ei, indexing="ij")
    valid = (starts[S] >= 0) & (ends[E] >= 0) & (E >= S) & (E - S + 1 <= max_answer_length)
    out = []
    for s, e in zip(S[valid].tolist(), E[valid].tolist()):
        sl, el = float(start[s]), float(end[e])
        out.append(Span(sl + el, sl, el, context[starts[s] : ends[e]]))
    return out


def postprocess(
    examples: Sequence[QAExample],
    example_index: np.ndarray,
    start_logits: Sequence[np.ndarray],
    end_logits: Sequence[np.ndarray],
    starts: Sequence[np.ndarray],
    ends: Sequence[np.ndarray],
    n_best: int = 20,
    max_answer_length: int = 30,
    null_score_diff_threshold: float = 0.0,
) -> tuple[dict[str, str], dict[str, float]]:
    """Answers and no-answer probabilities for SQuAD v2.

    Per example: the null score is the lowest over its windows of start[0] + end[0]; the best
    non-null span is the highest-scoring valid span over all windows. The answer is `""` when
    `null - best > null_score_diff_threshold`. The no-answer probability is
    `sigmoid(null - best)` (1.0 where no valid span exists), so it crosses 0.5 at threshold 0.

    Returns:
        (predictions `{id: text}`, na_probs `{id: probability of no answer}`)
    """
    by_example: list[list[int]] = [[] for _ in examples]
    for f, e in enumerate(example_index.tolist()):
        by_example[e].append(f)
    preds, na_probs = {}, {}
    for ex, feats in zip(examples, by_example):
        null_score = math.inf
        spans: list[Span] = []
        for f in feats:
            s, e = start_logits[f], end_logits[f]
            null_score = min(null_score, float(s[0] + e[0]))
            spans.extend(best_spans(s, e, starts[f], ends[f], ex.context, n_best, max_answer_length))
        spans.sort(key=lambda sp: sp.score, reverse=True)
        best = next((sp for sp in spans[:n_best] if sp.text), None)
        if best is None:
            preds[ex.id], na_probs[ex.id] = "", 1.0
            continue
        diff = null_score - best.score
        preds[ex.id] = "" if diff > null_score_diff_threshold else best.text
        na_probs[ex.id] = 1.0 / (1.0 + math.exp(-diff)) if diff > -700 else 0.0
    return preds, na_probs
