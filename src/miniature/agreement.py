"""Agreement measures shared by every characteristic: set Jaccard, containment, kNN-set Jaccard."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import AbstractSet

import numpy as np


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


def knn_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-point Jaccard of two models' neighbour sets.

    Args:
        a, b: (n, k) neighbour indices, each row k distinct points (as `knn` returns them).

    Returns:
        (n,) float64: |A_p n B_p| / |A_p u B_p| for every point p.
    """
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"neighbour arrays must share one (n, k) shape, got {a.shape} and {b.shape}")
    both = np.sort(np.concatenate([a, b], axis=1), axis=1)
    inter = (both[:, 1:] == both[:, :-1]).sum(1)  # rows hold distinct points: a repeat is shared
    k = a.shape[1]
    return inter / (2 * k - inter)


def mean_var(values: np.ndarray) -> tuple[float, float]:
    """Mean and population variance (ddof=0: the spread of the points themselves) of per-point values."""
    return float(values.mean()), float(values.var(ddof=0))
