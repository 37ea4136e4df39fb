"""Agreement measures shared by every characteristic: set Jaccard, containment, kNN-set Jaccard,
and what chance alone gives them (sets of the same sizes drawn at random from the same items)."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import AbstractSet

import numpy as np

from miniature import kernels
from miniature.kernels import has_numba


def jaccard(a: AbstractSet, b: AbstractSet) -> float:
    """|A n B| / |A u B|; two empty sets agree fully, so their Jaccard is 1.0."""
    union = len(a | b)
    return 1.0 if union == 0 else len(a & b) / union


def containment(a: AbstractSet, b: AbstractSet) -> float:
    """|A n B| / |A|: the share of A that lies inside B; 1.0 for an empty A (vacuously inside)."""
    return 1.0 if not a else len(a & b) / len(a)


@functools.lru_cache(maxsize=16)
def _log_factorials(n: int) -> np.ndarray:
    """log(0!), ..., log(n!), built once per n (the pooled law and the K sweep ask for the same n
    again and again); read-only, as it is shared."""
    table = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1, dtype=np.float64)))])
    table.flags.writeable = False
    return table


TABLE_LIMIT = 1_000_000  # above this many items, the law comes from ratios (memory of the sets' size, not n's)


def overlap_distribution(a: int, b: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every possible |A n B| of two sets of sizes `a` and `b` drawn independently and uniformly from
    `n` items, and its log-probability (the hypergeometric law, from log-factorials; for n above
    TABLE_LIMIT from the ratios of successive probabilities, so time and memory follow the set
    sizes and not n)."""
    if not (0 <= a <= n and 0 <= b <= n):
        raise ValueError(f"set sizes {a} and {b} must lie in [0, {n}]")
    if n > TABLE_LIMIT and a + b < n:
        return _overlap_by_ratios(a, b, n)
    logfact = _log_factorials(n)

    def log_choose(x: int | np.ndarray, y: int | np.ndarray) -> np.ndarray:
        return logfact[x] - logfact[y] - logfact[x - y]

    k = np.arange(max(0, a + b - n), min(a, b) + 1)
    return k, log_choose(a, k) + log_choose(n - a, b - k) - log_choose(n, b)


def _overlap_by_ratios(a: int, b: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The hypergeometric law of `overlap_distribution` where a + b < n (so k starts at 0):
    log P(0) = sum_i log(1 - b / (n - i)) over i < a (or a and b swapped), and P(k + 1) / P(k) =
    (a - k)(b - k) / ((k + 1)(n - a - b + k + 1)); every term is a ratio of nearby numbers, so n
    may be as large as an int64 without a loss of precision."""
    small, large = min(a, b), max(a, b)  # the law is symmetric in a and b: sum over the smaller
    log_p0 = float(np.log1p(-large / (n - np.arange(small, dtype=np.float64))).sum())
    k = np.arange(small + 1)
    head = k[:-1].astype(np.float64)
    steps = np.log(a - head) + np.log(b - head) - np.log(head + 1) - np.log(float(n - a - b) + head + 1)
    return k, log_p0 + np.concatenate([[0.0], np.cumsum(steps)])


Pools = tuple[int, int, int]  # each set's pool size and the pools' overlap: (|P_i|, |P_j|, |P_i n P_j|)


def pooled_overlap(a: int, b: int, pools: Pools) -> tuple[np.ndarray, np.ndarray]:
    """|A n B| and its probability when A is drawn from a pool P_i and B from a pool P_j (an attack
    can only succeed on the texts a model classified correctly): X = |A n P_j| is hypergeometric
    over P_i, then |A n B| is hypergeometric over P_j given X. With both pools all n items this
    is `overlap_distribution`."""
    pi, pj, shared = pools
    if not (0 <= shared <= min(pi, pj) and a <= pi and b <= pj):
        raise ValueError(f"set sizes {a}, {b} do not fit pools {pi}, {pj} sharing {shared}")
    xs, log_px = overlap_distribution(a, shared, pi)
    k = np.arange(min(a, b) + 1)
    prob = np.zeros(k.size)
    for x, lpx in zip(xs, log_px):
        kk, log_pk = overlap_distribution(int(x), b, pj)
        prob[kk] += np.exp(lpx + log_pk)
    return k, prob


def _overlap(a: int, b: int, n: int, pools: Pools | None) -> tuple[np.ndarray, np.ndarray]:
    """The law of |A n B| as (values, probabilities)."""
    if pools is None:
        k, log_p = overlap_distribution(a, b, n)
        return k, np.exp(log_p)
    return pooled_overlap(a, b, pools)


def chance_jaccard(a: int, b: int, n: int, pools: Pools | None = None) -> float:
    """The expected Jaccard of two sets of sizes `a` and `b` drawn independently and uniformly from
    `n` items (or each from its own pool, `pools`): the agreement set sizes alone give (two models
    wrong on half the questions each agree about 1/3 by chance). Exact: E[k / (a + b - k)] over
    the hypergeometric k."""
    k, p = _overlap(a, b, n, pools)
    if a == 0 and b == 0:
        return 1.0
    return float((p * k / (a + b - k)).sum())


def corrected_jaccard(observed: float, chance: float) -> float:
    """(J - E[J]) / (1 - E[J]): 0 at chance agreement, 1 at identity, negative below chance (as
    Cohen's kappa corrects raw agreement); NaN where chance already gives 1 (nothing to correct)."""
    return float("nan") if chance >= 1.0 else (observed - chance) / (1.0 - chance)


def overlap_p_value(intersection: int, a: int, b: int, n: int, pools: Pools | None = None) -> float:
    """P(|A n B| >= intersection) for random sets of sizes a and b of n items (or of their pools):
    the one-sided hypergeometric (Fisher exact) test that two sets overlap more than chance."""
    if pools is not None:
        k, p = pooled_overlap(a, b, pools)
        return float(min(1.0, p[k >= intersection].sum()))
    k, log_p = overlap_distribution(a, b, n)
    tail = log_p[k >= intersection]
    if tail.size == 0:
        return 0.0
    top = tail.max()
    return float(min(1.0, np.exp(top) * np.exp(tail - top).sum()))


BOOTSTRAP_DRAWS = 4000


def jaccard_interval(both: int, only_i: int, only_j: int, n: int, level: float = 0.95,
                     draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> tuple[float, float]:
    """A percentile-bootstrap interval of the Jaccard over the n items (resampling questions, or
    points, with replacement). An item falls in one of four cells (in both sets, in one, in
    neither), so a resample is a multinomial draw of the four counts: exact and instant.
    Seeded: the same sets give the same interval."""
    if n == 0:
        return 1.0, 1.0
    rng = np.random.default_rng(seed)
    counts = np.array([both, only_i, only_j, n - both - only_i - only_j], dtype=np.float64)
    cells = rng.multinomial(n, counts / n, size=draws)
    union = cells[:, :3].sum(1)
    values = np.where(union > 0, cells[:, 0] / np.maximum(union, 1), 1.0)  # an empty union agrees fully
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class SetPair:
    """The agreement of two named sets."""

    model_i: str
    model_j: str
    jaccard: float
    size_i: int
    size_j: int
    intersection: int
    union: int
    i_in_j: float  # |Ei n Ej| / |Ei|
    j_in_i: float  # |Ei n Ej| / |Ej|
    n: int | None = None  # the items both sets are drawn from (questions scored), where known
    chance: float | None = None  # chance_jaccard(size_i, size_j, n)
    corrected: float | None = None  # corrected_jaccard(jaccard, chance)
    p_overlap: float | None = None  # overlap_p_value(intersection, size_i, size_j, n)
    ci: tuple[float, float] | None = None  # jaccard_interval: 95% bootstrap interval over the n items

    @property
    def relation(self) -> str:
        """'equal', 'i<=j', 'j<=i' when one set lies wholly inside the other, else 'overlap'."""
        if self.i_in_j == 1.0 and self.j_in_i == 1.0:
            return "equal"
        if self.i_in_j == 1.0:
            return f"{self.model_i} ⊆ {self.model_j}"
        if self.j_in_i == 1.0:
            return f"{self.model_j} ⊆ {self.model_i}"
        return "overlap"

    def row(self) -> dict:
        return {
            "model_i": self.model_i,
            "model_j": self.model_j,
            "jaccard": self.jaccard,
            "size_i": self.size_i,
            "size_j": self.size_j,
            "intersection": self.intersection,
            "union": self.union,
            "i_in_j": self.i_in_j,
            "j_in_i": self.j_in_i,
            "relation": self.relation,
            "n": self.n,
            "chance_jaccard": self.chance,
            "corrected_jaccard": self.corrected,
            "p_overlap": self.p_overlap,
            "jaccard_ci_low": self.ci[0] if self.ci else None,
            "jaccard_ci_high": self.ci[1] if self.ci else None,
        }


def set_pair(name_i: str, a: AbstractSet, name_j: str, b: AbstractSet, n: int | None = None,
             pools: tuple[AbstractSet, AbstractSet] | None = None) -> SetPair:
    """The agreement of two sets; with `n`, the items they are drawn from, also its chance level,
    the chance-corrected Jaccard, the p-value of the overlap and a 95% interval of the Jaccard.
    With `pools`, each set's chance draw comes from its own pool (a subset of the n items that
    holds the set)."""
    inter, union = len(a & b), len(a | b)
    stats: tuple = ()
    if n is not None:
        if union > n:
            raise ValueError(f"{name_i!r} and {name_j!r} hold {union} items between them, more than the {n} drawn from")
        sizes = None
        if pools is not None:
            if not (a <= pools[0] and b <= pools[1]):
                raise ValueError(f"{name_i!r} or {name_j!r} holds items outside its pool")
            sizes = (len(pools[0]), len(pools[1]), len(pools[0] & pools[1]))
        chance = chance_jaccard(len(a), len(b), n, sizes)
        corrected = corrected_jaccard(jaccard(a, b), chance)
        stats = (n, chance, None if np.isnan(corrected) else corrected,
                 overlap_p_value(inter, len(a), len(b), n, sizes),
                 jaccard_interval(inter, len(a) - inter, len(b) - inter, n))
    return SetPair(name_i, name_j, jaccard(a, b), len(a), len(b), inter, union,
                   containment(a, b), containment(b, a), *stats)


def pair_order(names: Sequence[str]) -> list[tuple[str, str]]:
    """Every unordered pair, in the paper's order: (1,2), (1,3), ..., (2,3), ..."""
    return list(itertools.combinations(names, 2))


def pairwise_sets(sets: Mapping[str, AbstractSet], n: int | None = None,
                  pools: Mapping[str, AbstractSet] | None = None) -> list[SetPair]:
    """Agreement of every pair of sets, in the order the sets were given (with chance levels where
    `n`, the items they are drawn from, is known; from each set's own pool where given)."""
    return [set_pair(i, sets[i], j, sets[j], n, (pools[i], pools[j]) if pools else None)
            for i, j in pair_order(list(sets))]


def knn_overlaps(a: np.ndarray, b: np.ndarray, ks: Sequence[int]) -> np.ndarray:
    """|A_K(p) n B_K(p)| for every point p and every K in `ks`, from one pass over the lists.

    Args:
        a, b: (n, K_max) neighbour indices, each row distinct points ordered by rank (as `knn`
            returns them), so a row's first K entries are the K-NN set.

    Returns:
        (n, len(ks)) int64. A point j is in both K-sets when max(rank_a(j), rank_b(j)) < K.
    """
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"neighbour arrays must share one (n, k) shape, got {a.shape} and {b.shape}")
    n, kmax = a.shape
    if any(not 1 <= k <= kmax for k in ks):
        raise ValueError(f"every K must lie in [1, {kmax}], got {list(ks)}")
    if has_numba():
        return kernels.knn_overlaps(a, b, np.asarray(ks, dtype=np.int64))
    span = int(max(a.max(), b.max())) + 1
    dense = n * span * (1 if kmax < 255 else 4) <= DENSE_LIMIT
    rank_a = _ranks_dense(a, b, span) if dense else _ranks_sorted(a, b, span)
    both = np.maximum(rank_a, np.arange(kmax)[None, :])  # rank in b is the column
    return np.stack([(both < k).sum(1) for k in ks], axis=1)


DENSE_LIMIT = 1 << 27  # points x indices for a dense rank table (bytes, uint8); else sorted search


def _ranks_dense(a: np.ndarray, b: np.ndarray, span: int) -> np.ndarray:
    """rank of b[p, c] in a[p] (K_max where absent) through an (n, span) table."""
    n, kmax = a.shape
    table = np.full((n, span), kmax, dtype=np.uint8 if kmax < 255 else np.int32)
    rows = np.arange(n)[:, None]
    table[rows, a] = np.arange(kmax)
    return table[rows, b].astype(np.int64)


def _ranks_sorted(a: np.ndarray, b: np.ndarray, span: int) -> np.ndarray:
    """The same ranks by binary search in row-keyed sorted lists (memory linear in n)."""
    n, kmax = a.shape
    order = np.argsort(a, axis=1, kind="stable")
    base = np.arange(n, dtype=np.int64)[:, None] * span
    keys = (base + np.take_along_axis(a, order, 1)).ravel()  # sorted: row-major, then index
    query = (base + b).ravel()
    pos = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    return np.where(keys[pos] == query, order.ravel()[pos], kmax).reshape(n, kmax)


def knn_jaccard(a: np.ndarray, b: np.ndarray, k: int | None = None) -> np.ndarray:
    """Per-point Jaccard of two models' K-neighbour sets (the first `k` columns; default all).

    Returns:
        (n,) float64: |A_p n B_p| / |A_p u B_p| for every point p.
    """
    k = k or a.shape[1]
    inter = knn_overlaps(a, b, [k])[:, 0]
    return inter / (2 * k - inter)


def chance_knn_jaccard(k: int, n: int) -> float:
    """The expected Jaccard of two K-neighbour sets of a point drawn at random from the other n - 1
    points: what two unrelated embeddings agree by chance (about K / (2n) for K << n)."""
    return chance_jaccard(k, k, n - 1)


def mean_half_width(variance: float, n: int, z: float = 1.959964) -> float:
    """Half-width of the normal 95% interval of a mean over n points, from their population
    variance: z * sqrt(variance / (n - 1)) (the sample variance over n)."""
    return z * float(np.sqrt(variance / (n - 1))) if n > 1 else float("nan")


def mean_var(values: np.ndarray) -> tuple[float, float]:
    """Mean and population variance (ddof=0: the spread of the points themselves) of per-point values."""
    return float(values.mean()), float(values.var(ddof=0))
