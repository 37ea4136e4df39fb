"""Agreement measures shared by every characteristic: set Jaccard, containment, kNN-set Jaccard."""

from __future__ import annotations

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
        }


def set_pair(name_i: str, a: AbstractSet, name_j: str, b: AbstractSet) -> SetPair:
    inter = len(a & b)
    return SetPair(
        name_i, name_j, jaccard(a, b), len(a), len(b), inter, len(a | b),
        containment(a, b), containment(b, a),
    )


def pair_order(names: Sequence[str]) -> list[tuple[str, str]]:
    """Every unordered pair, in the paper's order: (1,2), (1,3), ..., (2,3), ..."""
    return list(itertools.combinations(names, 2))


def pairwise_sets(sets: Mapping[str, AbstractSet]) -> list[SetPair]:
    """Agreement of every pair of sets, in the order the sets were given."""
    return [set_pair(i, sets[i], j, sets[j]) for i, j in pair_order(list(sets))]


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
        return kernels.knn_overlaps(a, b, ks)
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


def mean_var(values: np.ndarray) -> tuple[float, float]:
    """Mean and population variance (ddof=0: the spread of the points themselves) of per-point values."""
    return float(values.mean()), float(values.var(ddof=0))
