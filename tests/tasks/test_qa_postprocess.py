"""QA post-processing against hand-worked logits and a brute-force search over every span."""

from __future__ import annotations

import math

import numpy as np
import pytest

from miniature.data.squad import QAExample
from miniature.tasks.qa_postprocess import postprocess

# window: [CLS] q [SEP] w0 w1 w2 w3 [SEP] ; context "aa bb cc dd"
CTX = "aa bb cc dd"
STARTS = np.array([-1, -1, -1, 0, 3, 6, 9, -1])
ENDS = np.array([-1, -1, -1, 2, 5, 8, 11, -1])


def _run(s, e, threshold=0.0, max_len=30, n_best=20):
    ex = [QAExample("q", "?", CTX)]
    return postprocess(ex, np.array([0]), [np.array(s, float)], [np.array(e, float)], [STARTS], [ENDS],
                       n_best, max_len, threshold)


def test_best_span_by_hand():
    s = [0, 0, 0, 1, 5, 0, 0, 0]
    e = [0, 0, 0, 0, 0, 4, 1, 0]
    preds, na = _run(s, e)
    assert preds["q"] == "bb cc"  # start w1 (5) + end w2 (4) = 9 beats null 0
    assert na["q"] == pytest.approx(1 / (1 + math.exp(9)))


def test_null_wins_above_threshold_and_threshold_moves_it():
    s = [6, 0, 0, 2, 0, 0, 0, 0]
    e = [6, 0, 0, 3, 0, 0, 0, 0]  # null 12, best span w0..w0 = 5, diff 7
    assert _run(s, e)[0]["q"] == ""
    assert _run(s, e, threshold=7.5)[0]["q"] == "aa"


def test_spans_outside_context_reversed_or_too_long_dropped():
    s = [0, 9, 0, -5, -5, -5, 3, 0]  # best start is on the question token: dropped
    e = [0, 0, 0, 0, 9, 0, 2, 0]
    preds, _ = _run(s, e)
    assert preds["q"] == "dd"  # w3..w3; w3..w1 is reversed
    s2 = [0, 0, 0, 5, 0, 0, 0, 0]
    e2 = [0, 0, 0, 0, -1, -1, 5, 1]
    assert _run(s2, e2, max_len=2)[0]["q"] == "aa"  # w0..w3 is 4 tokens > 2


def _brute(s, e, starts, ends, ctx, max_len):
    best, null = None, s[0] + e[0]
    for i in range(len(s)):
        for j in range(i, min(len(s), i + max_len)):
            if starts[i] >= 0 and ends[j] >= 0 and (best is None or s[i] + e[j] > best[0]):
                best = (s[i] + e[j], ctx[starts[i]:ends[j]])
    return ("" if best is None or null - best[0] > 0 else best[1]), null


def test_random_logits_match_brute_force():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(12)]
    ctx = " ".join(words)
    pos = np.cumsum([0] + [len(w) + 1 for w in words[:-1]])
    starts = np.concatenate([[-1, -1, -1], pos, [-1]])
    ends = np.concatenate([[-1, -1, -1], pos + [len(w) for w in words], [-1]])
    for trial in range(200):
        s, e = rng.normal(size=16), rng.normal(size=16)
        ex = [QAExample("q", "?", ctx)]
        preds, _ = postprocess(ex, np.array([0]), [s], [e], [starts], [ends], 20, 5, 0.0)
        assert preds["q"] == _brute(s, e, starts, ends, ctx, 5)[0], trial


def test_windows_pool_spans_and_take_lowest_null():
    ex = [QAExample("q", "?", CTX)]
    s1, e1 = np.array([3, 0, 0, 1, 0, 0, 0, 0.]), np.array([3, 0, 0, 1, 0, 0, 0, 0.])  # null 6, aa 2
    s2, e2 = np.array([1, 0, 0, 0, 0, 0, 2, 0.]), np.array([1, 0, 0, 0, 0, 0, 2, 0.])  # null 2, dd 4
    preds, na = postprocess(ex, np.array([0, 0]), [s1, s2], [e1, e2], [STARTS] * 2, [ENDS] * 2)
    assert preds["q"] == "dd"  # null = min(6, 2) = 2 < 4
    assert na["q"] == pytest.approx(1 / (1 + math.exp(2)))
