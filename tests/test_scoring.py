"""SQuAD v2 scoring: hand-worked cases, the official rules, and the real dev file."""

from __future__ import annotations

import pytest

from miniature.data.squad import Answer, QAExample, make_dataset
from miniature.exceptions import DataError, MismatchError
from miniature.scoring import (
    compute_exact,
    compute_f1,
    error_ids,
    normalize_answer,
    squad_v2_scores,
)
from tests.conftest import DEV, need_shared


@pytest.mark.parametrize(
    "gold, pred, exact",
    [
        ("The Eiffel Tower", "eiffel tower", 1),  # case and article
        ("Paris, France", "paris france", 1),  # punctuation
        ("an apple", "apple", 1),
        ("a  big   dog", "big dog", 1),  # whitespace collapses
        ("the theory", "theory", 1),
        ("theory", "the", 0),  # 'the' alone normalises to ''
        ("1,000", "1000", 1),  # comma is punctuation
        ("there", "here", 0),  # 'the' inside a word is not an article
        ("", "", 1),
        ("", "something", 0),
    ],
)
def test_exact_match_follows_official_normalisation(gold, pred, exact):
    assert compute_exact(gold, pred) == exact


def test_normalize_answer_by_hand():
    assert normalize_answer("  The Quick, Brown-Fox! ") == "quick brownfox"
    assert normalize_answer("A an THE") == ""


def test_f1_hand_worked():
    # gold tokens [cat, sat], pred [cat, sat, on]: P = 2/3, R = 1, F1 = 0.8
    assert compute_f1("the cat sat", "cat sat on") == pytest.approx(0.8)
    # repeated tokens count by multiplicity: gold [a1 b b] vs pred [b b b] -> common 2, P=2/3, R=2/3
    assert compute_f1("x y y", "y y y") == pytest.approx(2 / 3)
    assert compute_f1("", "") == 1.0
    assert compute_f1("", "x") == 0.0
    assert compute_f1("cat", "dog") == 0.0


def _toy():
    ctx = "The Norman conquest of England began in 1066."
    return make_dataset(
        [
            QAExample("q1", "When?", ctx, (Answer("1066", ctx.index("1066")), Answer("in 1066", ctx.index("in 1066")))),
            QAExample("q2", "Who?", ctx, (Answer("Norman", ctx.index("Norman")),)),
            QAExample("q3", "Why?", ctx),  # unanswerable
            QAExample("q4", "Where?", ctx, (Answer("England", ctx.index("England")),)),
        ],
        "toy",
    )


def test_scores_hand_worked():
    ds = _toy()
    preds = {"q1": "in 1066", "q2": "the Normans", "q3": "", "q4": "conquest of England"}
    s = squad_v2_scores(ds, preds)
    # exact: q1 1, q2 0, q3 1, q4 0 -> 50%
    assert s["exact"] == pytest.approx(50.0)
    # f1: q1 1, q2 0 ('normans' vs 'norman'), q3 1, q4 2*(1/3*1)/(1/3+1) = 0.5
    assert s["f1"] == pytest.approx(100 * (1 + 0 + 1 + 0.5) / 4)
    assert s["total"] == 4 and s["HasAns_total"] == 3 and s["NoAns_total"] == 1
    assert s["HasAns_exact"] == pytest.approx(100 / 3)
    assert s["NoAns_exact"] == 100.0
    assert error_ids(ds, preds) == {"q2", "q4"}


def test_best_threshold_hand_worked():
    ds = _toy()
    preds = {"q1": "1066", "q2": "wrong", "q3": "wrong", "q4": "England"}
    na = {"q1": 0.1, "q2": 0.9, "q3": 0.8, "q4": 0.2}
    s = squad_v2_scores(ds, preds, na)
    # thresholding at 0.2 blanks q2 (wrong anyway) and q3 (right to blank): 3 of 4 exact
    assert s["exact"] == 50.0
    assert s["best_exact"] == pytest.approx(75.0)
    assert s["best_exact_thresh"] == pytest.approx(0.2)
    assert squad_v2_scores(ds, preds, na, na_prob_thresh=0.5)["exact"] == pytest.approx(75.0)


def test_predictions_must_match_gold():
    ds = _toy()
    with pytest.raises(MismatchError, match="not in the gold"):
        squad_v2_scores(ds, {"q1": "", "q2": "", "q3": "", "q4": "", "zzz": ""})
    with pytest.raises(MismatchError, match="no prediction for 1 of 4"):
        squad_v2_scores(ds, {"q1": "", "q2": "", "q3": ""})
    with pytest.raises(DataError, match="no predictions"):
        squad_v2_scores(ds, {})


def test_real_dev_all_empty_and_gold():
    need_shared(DEV)
    from miniature.data import load_qa_dataset

    ds = load_qa_dataset(DEV)
    empty = squad_v2_scores(ds, {q: "" for q in ds.ids})
    assert round(empty["exact"], 2) == 52.12
    assert empty["NoAns_exact"] == 100.0 and empty["HasAns_exact"] == 0.0
    gold = {e.id: (e.answers[0].text if e.answers else "") for e in ds.examples}
    full = squad_v2_scores(ds, gold)
    assert full["exact"] == 100.0 and full["f1"] == 100.0
    # every gold answer scores 1, not only the first, except golds the official rule drops:
    # one question lists "." among its answers, which normalises to "" and is no gold at all
    last = {e.id: (e.answers[-1].text if e.answers else "") for e in ds.examples}
    wrong = error_ids(ds, last)
    assert len(wrong) == 1
    (qid,) = wrong
    assert last[qid] == "." and normalize_answer(last[qid]) == ""
