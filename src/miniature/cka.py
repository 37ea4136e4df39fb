"""Centered kernel alignment and mutual k-NN between two representations of the same points:
linear CKA (Kornblith et al., 2019), CKA from the unbiased HSIC estimator (Song et al., 2012, as
Nguyen et al., 2021 use it) and the mutual k-NN share (Huh et al., 2024). Pure functions of
(points x dims) arrays; the linear kernels are never formed, so memory is O(n d), not O(n^2)."""

from __future__ import annotations

import numpy as np

from miniature.agreement import knn_overlaps
from miniature.exceptions import DataError


def _pair(x: np.ndarray, y: np.ndarray, min_points: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2:
        raise DataError(f"CKA needs two (points x dims) arrays, got shapes {x.shape} and {y.shape}")
    if len(x) != len(y):
        raise DataError(f"CKA compares the same points: {len(x)} rows against {len(y)}")
    if len(x) < min_points:
        raise DataError(f"CKA needs at least {min_points} points, got {len(x)}")
    return x, y


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F) with column-centred X_c, Y_c: 1 for
    representations equal up to rotation and isotropic scaling, biased upwards for few points."""
    x, y = _pair(x, y, 2)
    x, y = x - x.mean(0), y - y.mean(0)
    cross = np.linalg.norm(y.T @ x) ** 2
    denom = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(cross / denom) if denom > 0 else float("nan")


def hsic_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Song et al.'s unbiased HSIC of the linear kernels K = X X^T and L = Y Y^T:
    [tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3)), K~ and L~ with zeroed
    diagonals; computed from X and Y directly (no n x n matrix). The estimator is invariant to
    translating X or Y, so their columns are centred first: the same value in exact arithmetic,
    without the cancellation a large common component (as embeddings have) causes in the sums."""
    x, y = _pair(x, y, 4)
    x, y = x - x.mean(0), y - y.mean(0)
    n = len(x)
    kx, ky = np.einsum("ij,ij->i", x, x), np.einsum("ij,ij->i", y, y)  # the kernels' diagonals
    trace = np.linalg.norm(x.T @ y) ** 2 - kx @ ky  # tr(K~ L~): all of K*L less its diagonal
    a, b = x @ x.sum(0) - kx, y @ y.sum(0) - ky  # K~ 1 and L~ 1
    value = trace + a.sum() * b.sum() / ((n - 1) * (n - 2)) - 2.0 * (a @ b) / (n - 2)
    return float(value / (n * (n - 3)))


def unbiased_cka(x: np.ndarray, y: np.ndarray) -> float:
    """HSIC_1(K, L) / sqrt(HSIC_1(K, K) HSIC_1(L, L)): CKA without the small-sample bias, near 0
    for independent representations (it can be slightly negative)."""
    hxy, hxx, hyy = hsic_unbiased(x, y), hsic_unbiased(x, x), hsic_unbiased(y, y)
    return float(hxy / np.sqrt(hxx * hyy)) if hxx > 0 and hyy > 0 else float("nan")


def mutual_knn(neighbours_x: np.ndarray, neighbours_y: np.ndarray, k: int) -> float:
    """The mean over points of |N_x(p) n N_y(p)| / k, from (points x K_max) neighbour indices of each
    representation (`miniature.knn.knn`'s output, a point not its own neighbour), as the platonic
    representation code scores alignment: 1 when both spaces rank the same k neighbours first."""
    if neighbours_x.shape != neighbours_y.shape:
        raise DataError(f"neighbour lists differ in shape: {neighbours_x.shape} and {neighbours_y.shape}")
    return float(knn_overlaps(neighbours_x, neighbours_y, [k])[:, 0].mean() / k)
