"""Paired measures of two models' per-item outputs on the same items: answer flips, the exact
McNemar test, a paired bootstrap of the accuracy difference, KL divergence of the output
distributions (whole, or from each position's top-K log-probabilities and the tail's mass), top-1
agreement, the gold answer's probability change, and where the flips land by the reference's
margin. Pure functions of arrays (numpy, scipy); the reference model `p` comes first, the pair's
direction is kept (KL is asymmetric).

Definitions (n items; "ref" the reference, "cmp" the compressed model):
- C->W: items ref gets right and cmp wrong; W->C the other way. Negative flip rate (Yan et al.
  2021) = n(C->W) / n; negative flip impact = n(C->W) / n(cmp errors); flip rate = (C->W + W->C) / n
  (Dutta et al. 2024's "flips").
- Top-1 agreement = share of items with the same prediction; churn = 1 - agreement (it also counts
  a wrong answer changed into another wrong answer).
- The error-set Jaccard of the paper is |E_ref & E_cmp| / (|E_ref & E_cmp| + flips): the union of the
  two error sets is the items both get wrong plus the items exactly one gets wrong.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from miniature.exceptions import DataError

PROB_TOLERANCE = 1e-3  # a probability row must sum to 1 within this


# ---- flips and paired tests on correctness


def flips(ref_correct: np.ndarray, cmp_correct: np.ndarray) -> dict[str, Any]:
    """Flip counts and rates between two models' per-item correctness (same items, same order)."""
    a, b = np.asarray(ref_correct, dtype=bool), np.asarray(cmp_correct, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise DataError(f"flips need one correctness value per item for both models, got {a.shape} and {b.shape}")
    n = int(a.size)
    cw, wc = int(np.sum(a & ~b)), int(np.sum(~a & b))
    both_wrong, cmp_errors = int(np.sum(~a & ~b)), int(np.sum(~b))
    return {"n": n, "correct_to_wrong": cw, "wrong_to_correct": wc, "both_correct": n - cw - wc - both_wrong,
            "both_wrong": both_wrong, "accuracy_ref": float(a.mean()) if n else math.nan,
            "accuracy_cmp": float(b.mean()) if n else math.nan,
            "accuracy_change": float(b.mean() - a.mean()) if n else math.nan,
            "flip_rate": (cw + wc) / n if n else math.nan,
            "negative_flip_rate": cw / n if n else math.nan,
            "positive_flip_rate": wc / n if n else math.nan,
            "negative_flip_impact": cw / cmp_errors if cmp_errors else math.nan,
            "error_jaccard": both_wrong / (both_wrong + cw + wc) if both_wrong + cw + wc else math.nan}


def mcnemar_exact(correct_to_wrong: int, wrong_to_correct: int) -> float:
    """Two-sided exact McNemar p-value: the discordant pairs as a binomial with p = 1/2 (1.0 when
    there are none). The same as scipy.stats.binomtest(b, b + c, 0.5).pvalue."""
    from scipy.stats import binom

    b, c = int(correct_to_wrong), int(wrong_to_correct)
    if b + c == 0:
        return 1.0
    return float(min(1.0, 2.0 * binom.cdf(min(b, c), b + c, 0.5)))


def paired_bootstrap(ref_correct: np.ndarray, cmp_correct: np.ndarray, n_boot: int = 2000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of accuracy(cmp) - accuracy(ref) under resampling the items with their
    pairs kept. The per-item difference is -1, 0 or +1, so a resample is fully described by how
    many of each it draws: one multinomial draw per replicate (exact in distribution, O(n_boot)
    instead of O(n_boot * n))."""
    a, b = np.asarray(ref_correct, dtype=bool), np.asarray(cmp_correct, dtype=bool)
    n = a.size
    if n == 0:
        return math.nan, math.nan
    d = b.astype(np.int8) - a.astype(np.int8)
    counts = np.array([np.sum(d == -1), np.sum(d == 0), np.sum(d == 1)], dtype=np.float64)
    draws = np.random.default_rng(seed).multinomial(n, counts / n, size=n_boot)
    diffs = (draws[:, 2] - draws[:, 0]) / n
    tail = (1 - level) / 2
    return float(np.quantile(diffs, tail)), float(np.quantile(diffs, 1 - tail))


# ---- distributions


def check_distributions(p: np.ndarray, what: str, tol: float = PROB_TOLERANCE) -> np.ndarray:
    """Rows of probabilities: finite, in [0, 1], each summing to 1 within `tol` (a DataError names the row)."""
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 1:
        raise DataError(f"{what}: expected one probability row per item, got shape {p.shape}")
    bad = ~np.isfinite(p).all(1)
    if bad.any():
        raise DataError(f"{what}: row {int(np.argmax(bad))} holds NaN or infinity; every probability must be a number")
    if (p < 0).any() or (p > 1 + tol).any():
        row = int(np.argmax(((p < 0) | (p > 1 + tol)).any(1)))
        raise DataError(f"{what}: row {row} holds a value outside [0, 1]; write probabilities, not logits")
    sums = p.sum(1)
    off = np.abs(sums - 1) > tol
    if off.any():
        row = int(np.argmax(off))
        raise DataError(f"{what}: row {row} sums to {sums[row]:.6g}, not 1 (within {tol}); write normalised "
                        "probabilities")
    return p


def kl_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """KL(p || q) of each row, in nats: sum p log(p / q), 0 log 0 = 0, inf where q = 0 < p."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise DataError(f"KL needs distributions over one shared set of outcomes; got {p.shape[1:]} and "
                        f"{q.shape[1:]} (the models' label sets or vocabularies differ)")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return terms.sum(1)


def kl_logprob_rows(lp: np.ndarray, lq: np.ndarray) -> np.ndarray:
    """KL(p || q) per row from log-probabilities (no underflow for tiny probabilities)."""
    lp, lq = np.asarray(lp, dtype=np.float64), np.asarray(lq, dtype=np.float64)
    if lp.shape != lq.shape:
        raise DataError(f"KL needs distributions over one shared vocabulary; got {lp.shape[-1]} and {lq.shape[-1]} "
                        "outcomes")
    p = np.exp(lp)
    with np.errstate(invalid="ignore"):
        return np.where(p > 0, p * (lp - lq), 0.0).sum(-1)


def margins(p: np.ndarray) -> np.ndarray:
    """Each row's top-1 minus top-2 probability (1.0 where there is a single outcome)."""
    p = np.asarray(p, dtype=np.float64)
    if p.shape[1] < 2:
        return np.ones(p.shape[0])
    top = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
    return top[:, 1] - top[:, 0]


def summary(values: np.ndarray, prefix: str) -> dict[str, float]:
    """Mean +- standard error, median, p90, p99, p99.9 and max of per-item values (as llama.cpp's
    KL-divergence statistics; percentiles by linear interpolation)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return {f"{prefix}_{k}": math.nan for k in ("mean", "se", "median", "p90", "p99", "p999", "max")}
    # an infinite value (a zero probability where the reference has mass) would turn interpolated
    # percentiles into inf - inf; interpolate among finite stand-ins, then give back inf above them
    big = np.finfo(np.float64).max / 4
    q = np.quantile(np.minimum(v, big), [0.5, 0.9, 0.99, 0.999])
    q = np.where(q >= big / 2, np.inf, q)
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan
    return {f"{prefix}_mean": float(v.mean()), f"{prefix}_se": se, f"{prefix}_median": float(q[0]),
            f"{prefix}_p90": float(q[1]), f"{prefix}_p99": float(q[2]), f"{prefix}_p999": float(q[3]),
            f"{prefix}_max": float(v.max())}


def agreement(ref_pred: Sequence[Any], cmp_pred: Sequence[Any]) -> tuple[float, float]:
    """Top-1 agreement (share of items with the same prediction) and its binomial standard error."""
    same = np.array([x == y for x, y in zip(ref_pred, cmp_pred, strict=True)], dtype=bool)
    n = same.size
    if n == 0:
        return math.nan, math.nan
    a = float(same.mean())
    return a, math.sqrt(a * (1 - a) / n)


def wilson_interval(share: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score 95% interval of a binomial share (stays inside [0, 1], sound at 0 and 1)."""
    if n == 0 or math.isnan(share):
        return math.nan, math.nan
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def gold_change(p: np.ndarray, q: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    """The change of the gold outcome's probability, q[gold] - p[gold]: mean, RMS, p1, p5, p95, p99."""
    rows = np.arange(len(gold))
    return probability_change(np.asarray(p, dtype=np.float64)[rows, gold], np.asarray(q, dtype=np.float64)[rows, gold])


def probability_change(p_gold: np.ndarray, q_gold: np.ndarray) -> dict[str, float]:
    """The change q - p of the gold outcome's probability per item (llama.cpp's delta-p of the actual
    next token): mean, RMS, p1, p5, p95, p99."""
    d = np.asarray(q_gold, dtype=np.float64) - np.asarray(p_gold, dtype=np.float64)
    if d.size == 0:
        return {k: math.nan for k in ("gold_change_mean", "gold_change_rms", "gold_change_p1", "gold_change_p5",
                                      "gold_change_p95", "gold_change_p99")}
    qs = np.quantile(d, [0.01, 0.05, 0.95, 0.99])
    return {"gold_change_mean": float(d.mean()), "gold_change_rms": float(np.sqrt(np.mean(d * d))),
            "gold_change_p1": float(qs[0]), "gold_change_p5": float(qs[1]), "gold_change_p95": float(qs[2]),
            "gold_change_p99": float(qs[3])}


def ln_ppl_ratio(logprob_ref: np.ndarray, logprob: np.ndarray) -> dict[str, float]:
    """llama.cpp's `Mean ln(PPL(Q)/PPL(base))` with its uncertainty (the two means' standard errors
    and their covariance), `Cor(ln(PPL(Q)), ln(PPL(base)))` and both perplexities."""
    a, b = -np.asarray(logprob_ref, np.float64).ravel(), -np.asarray(logprob, np.float64).ravel()
    n = a.size
    se_a, se_b = a.std(ddof=0) / np.sqrt(n - 1), b.std(ddof=0) / np.sqrt(n - 1)
    cov = (np.mean(a * b) - a.mean() * b.mean()) / (n - 1)
    return {"ppl_i": float(np.exp(a.mean())), "ppl_j": float(np.exp(b.mean())),
            "ln_ppl_ratio": float(b.mean() - a.mean()),
            "ln_ppl_ratio_se": float(np.sqrt(max(se_a**2 + se_b**2 - 2 * cov, 0.0))),
            "ln_ppl_correlation": float(cov / (se_a * se_b)) if se_a > 0 and se_b > 0 else float("nan")}


MARGIN_EDGES = (0.0, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)


def flips_by_margin(margin: np.ndarray, changed: np.ndarray,
                    edges: Sequence[float] = MARGIN_EDGES) -> list[dict[str, Any]]:
    """The share of items whose answer changed, by bins of the reference's margin [lo, hi) (the
    last bin closed): low-margin items flip (Dutta et al. 2024)."""
    m, c = np.asarray(margin, dtype=np.float64), np.asarray(changed, dtype=bool)
    rows = []
    for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        inside = (m >= lo) & ((m < hi) if k < len(edges) - 2 else (m <= hi))
        n = int(inside.sum())
        rows.append({"margin_low": lo, "margin_high": hi, "n": n, "changed": int(c[inside].sum()),
                     "change_rate": float(c[inside].mean()) if n else math.nan})
    return rows


# ---- large vocabularies: each position's top-K log-probabilities and the tail's mass


@dataclass(frozen=True)
class TopK:
    """A distribution over a large vocabulary kept as its K most probable outcomes (ids, log-
    probabilities, most probable first) and the log of the mass of all the others."""

    ids: np.ndarray  # (n, K) int
    logprobs: np.ndarray  # (n, K) float
    tail: np.ndarray  # (n,) log of 1 - the top-K's mass (-inf where the top-K hold it all)
    vocab: int  # the vocabulary's size


def top_k(logprobs: np.ndarray, k: int) -> TopK:
    """The top-K of each row of full log-probabilities, and the log of the rest's mass (summed
    exactly from the rest, not as 1 minus the top: no cancellation for tiny tails)."""
    lp = np.asarray(logprobs, dtype=np.float64)
    v = lp.shape[1]
    k = min(k, v)
    part = np.argpartition(-lp, k - 1, axis=1)[:, :k] if k < v else np.tile(np.arange(v), (lp.shape[0], 1))
    vals = np.take_along_axis(lp, part, 1)
    order = np.lexsort((part, -vals), axis=1)  # most probable first; ties by token id, as argmax breaks them
    ids, vals = np.take_along_axis(part, order, 1), np.take_along_axis(vals, order, 1)
    rest = lp.copy()
    np.put_along_axis(rest, ids, -np.inf, 1)
    from scipy.special import logsumexp

    with np.errstate(divide="ignore"):
        tail = logsumexp(rest, axis=1) if k < v else np.full(lp.shape[0], -np.inf)
    return TopK(ids.astype(np.int64), vals, np.asarray(tail, dtype=np.float64), v)


def kl_top_k(p: TopK, q: TopK) -> np.ndarray:
    """A lower bound of KL(p || q) per row from the two top-K's: the KL of both distributions
    coarse-grained to the outcomes in both top-K's, one by one, and one bucket for all others.
    By the log-sum inequality merging outcomes never raises KL, so 0 <= exact - this; the gap is
    the KL that lives among the merged outcomes (measured in the docs and tests: small where the
    two models share their likely outcomes)."""
    if p.vocab != q.vocab:
        raise DataError(f"KL needs one shared vocabulary; the models have {p.vocab} and {q.vocab} tokens")
    n = p.ids.shape[0]
    out = np.empty(n)
    for r in range(n):
        _, ip, iq = np.intersect1d(p.ids[r], q.ids[r], assume_unique=True, return_indices=True)
        lp, lq = p.logprobs[r, ip], q.logprobs[r, iq]
        kl = float(np.sum(np.exp(lp) * (lp - lq)))
        # the merged bucket's mass: the tail plus the top-K outcomes the other model's top-K lacks
        # (summed, not 1 minus the shared mass: no cancellation where it is tiny)
        rest_p = math.exp(p.tail[r]) + float(np.exp(np.delete(p.logprobs[r], ip)).sum())
        rest_q = math.exp(q.tail[r]) + float(np.exp(np.delete(q.logprobs[r], iq)).sum())
        if rest_p > 0:
            kl += rest_p * (math.log(rest_p) - math.log(rest_q)) if rest_q > 0 else math.inf
        out[r] = kl
    return out
