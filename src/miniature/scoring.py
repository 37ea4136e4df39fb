"""SQuAD v2 scoring with the official script's semantics (EM, F1, HasAns/NoAns, best thresholds)."""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Mapping

from miniature.data.squad import QADataset
from miniature.exceptions import DataError, MismatchError

_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (the official rule)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def get_tokens(s: str) -> list[str]:
    return normalize_answer(s).split() if s else []


def compute_exact(gold: str, pred: str) -> int:
    return int(normalize_answer(gold) == normalize_answer(pred))


def compute_f1(gold: str, pred: str) -> float:
    gold_toks, pred_toks = get_tokens(gold), get_tokens(pred)
    if not gold_toks or not pred_toks:
        # no-answer: F1 is 1 if both are empty, else 0
        return float(gold_toks == pred_toks)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_toks), same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def gold_answers(answers: tuple) -> list[str]:
    """Gold texts that survive normalisation; `[""]` for an unanswerable question."""
    texts = [a.text for a in answers if normalize_answer(a.text)]
    return texts or [""]


def check_predictions(dataset: QADataset, preds: Mapping[str, str], name: str = "predictions") -> None:
    """Refuse predictions that do not cover exactly the gold questions."""
    if not preds:
        raise DataError(f"{name}: holds no predictions")
    gold_ids = set(dataset.ids)
    extra = [q for q in preds if q not in gold_ids]
    if extra:
        raise MismatchError(
            f"{name}: {len(extra)} prediction id(s) are not in the gold file {dataset.source} "
            f"(first: {extra[0]!r}); predictions and gold must be over the same questions"
        )
    missing = [q for q in dataset.ids if q not in preds]
    if missing:
        raise MismatchError(
            f"{name}: no prediction for {len(missing)} of {len(gold_ids)} gold questions "
            f"(first: {missing[0]!r}); predict every question of the gold file"
        )
    bad = [q for q, v in preds.items() if not isinstance(v, str)]
    if bad:
        raise DataError(f"{name}: prediction for {bad[0]!r} is not a string")


def raw_scores(dataset: QADataset, preds: Mapping[str, str]) -> tuple[dict[str, int], dict[str, float]]:
    """Per-question exact match and F1, each the maximum over gold answers."""
    exact, f1 = {}, {}
    for ex in dataset.examples:
        golds = gold_answers(ex.answers)
        pred = preds[ex.id]
        exact[ex.id] = max(compute_exact(g, pred) for g in golds)
        f1[ex.id] = max(compute_f1(g, pred) for g in golds)
    return exact, f1


def _apply_threshold(scores: dict, na_probs: Mapping[str, float], has_ans: dict[str, bool], thresh: float) -> dict:
    # a question whose no-answer probability exceeds the threshold counts as answered ""
    return {
        q: (float(not has_ans[q]) if na_probs[q] > thresh else s) for q, s in scores.items()
    }


def _best_thresh(preds, scores, na_probs, has_ans) -> tuple[float, float]:
    """The official find_best_thresh: sweep the threshold over the sorted no-answer probabilities."""
    num_no_ans = sum(1 for v in has_ans.values() if not v)
    cur = best = num_no_ans
    best_thresh = 0.0
    for q in sorted(na_probs, key=lambda k: na_probs[k]):
        if q not in scores:
            continue
        if has_ans[q]:
            diff = scores[q]
        elif preds[q]:
            diff = -1
        else:
            diff = 0
        cur += diff
        if cur > best:
            best, best_thresh = cur, na_probs[q]
    return 100.0 * best / len(scores), best_thresh


def squad_v2_scores(
    dataset: QADataset,
    preds: Mapping[str, str],
    na_probs: Mapping[str, float] | None = None,
    na_prob_thresh: float = 1.0,
) -> dict[str, float]:
    """The official SQuAD v2 evaluation, keys named as the official script names them.

    Args:
        dataset: the gold questions.
        preds: `{id: answer text}`, `""` for no answer; must cover exactly the gold ids.
        na_probs: optional `{id: probability of no answer}`; adds best_exact/best_f1 and thresholds.
        na_prob_thresh: predictions whose no-answer probability exceeds this count as `""`.
    """
    check_predictions(dataset, preds)
    has_ans = {ex.id: not ex.is_impossible for ex in dataset.examples}
    exact, f1 = raw_scores(dataset, preds)
    probs = dict(na_probs) if na_probs is not None else {q: 0.0 for q in preds}
    if na_probs is not None:
        missing = [q for q in dataset.ids if q not in probs]
        if missing:
            raise MismatchError(f"na_probs: no probability for {len(missing)} questions (first: {missing[0]!r})")
    exact_t = _apply_threshold(exact, probs, has_ans, na_prob_thresh)
    f1_t = _apply_threshold(f1, probs, has_ans, na_prob_thresh)

    def block(ids: list[str], prefix: str = "") -> dict[str, float]:
        n = len(ids)
        return {
            f"{prefix}exact": 100.0 * sum(exact_t[q] for q in ids) / n,
            f"{prefix}f1": 100.0 * sum(f1_t[q] for q in ids) / n,
            f"{prefix}total": n,
        }

    out = block(dataset.ids)
    has = [q for q in dataset.ids if has_ans[q]]
    no = [q for q in dataset.ids if not has_ans[q]]
    if has:
        out.update(block(has, "HasAns_"))
    if no:
        out.update(block(no, "NoAns_"))
    if na_probs is not None:
        out["best_exact"], out["best_exact_thresh"] = _best_thresh(preds, exact, probs, has_ans)
        out["best_f1"], out["best_f1_thresh"] = _best_thresh(preds, f1, probs, has_ans)
    return out


def error_ids(dataset: QADataset, preds: Mapping[str, str]) -> frozenset[str]:
    """Ids whose exact match is 0: the model's error set."""
    check_predictions(dataset, preds)
    exact, _ = raw_scores(dataset, preds)
    return frozenset(q for q, s in exact.items() if s == 0)
