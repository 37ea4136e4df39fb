"""CKA and mutual k-NN against direct numpy implementations of the formulas, and by invariances."""

from __future__ import annotations

import numpy as np
import pytest

from miniature.cka import hsic_unbiased, linear_cka, mutual_knn, unbiased_cka
from miniature.exceptions import DataError
from miniature.knn import knn


def _direct_linear_cka(x, y):
    """Kornblith et al.'s definition with n x n Gram matrices: HSIC_0 = tr(K H L H) / (n-1)^2."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    gx, gy = x @ x.T, y @ y.T
    hsic = lambda a, b: np.trace(a @ h @ b @ h) / (n - 1) ** 2  # noqa: E731
    return hsic(gx, gy) / np.sqrt(hsic(gx, gx) * hsic(gy, gy))


def _direct_hsic_unbiased(x, y):
    """Song et al. (2012), eq. 5, with the n x n kernels written out."""
    n = len(x)
    gx, gy = x @ x.T, y @ y.T
    np.fill_diagonal(gx, 0.0)
    np.fill_diagonal(gy, 0.0)
    one = np.ones(n)
    return (np.trace(gx @ gy) + (one @ gx @ one) * (one @ gy @ one) / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * (one @ gx @ gy @ one)) / (n * (n - 3))


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 12))
    y = x @ rng.normal(size=(12, 7)) + 0.5 * rng.normal(size=(60, 7))  # related, not equal
    return x, y


def test_against_the_formulas_written_out(xy):
    x, y = xy
    assert linear_cka(x, y) == pytest.approx(_direct_linear_cka(x, y), rel=1e-10)
    assert hsic_unbiased(x, y) == pytest.approx(_direct_hsic_unbiased(x, y), rel=1e-10)
    direct = _direct_hsic_unbiased(x, y) / np.sqrt(_direct_hsic_unbiased(x, x) * _direct_hsic_unbiased(y, y))
    assert unbiased_cka(x, y) == pytest.approx(direct, rel=1e-10)
    assert 0 < unbiased_cka(x, y) < linear_cka(x, y) < 1  # the bias lifts the plain estimate


def test_invariances(xy):
    x, y = xy
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(12, 12)))  # an orthogonal rotation
    for measure in (linear_cka, unbiased_cka):
        assert measure(x, x) == pytest.approx(1.0)
        assert measure(x, x @ q) == pytest.approx(1.0)
        assert measure(x, 3.7 * x) == pytest.approx(1.0)
        assert measure(x, y) == pytest.approx(measure(y, x))  # symmetric
        assert measure(x, y + 5.0) == pytest.approx(measure(x, y))  # a shift is centred away


def test_unbiased_hsic_is_translation_invariant_and_stays_accurate_far_from_the_origin(xy):
    """Song et al.'s estimator does not change when X or Y is translated (a test against the Gram
    form at the origin); computed after centring, an offset 10^4 times the spread (embeddings share
    a large common component) costs no accuracy."""
    x, y = xy
    exact = _direct_hsic_unbiased(x - x.mean(0), y - y.mean(0))
    assert _direct_hsic_unbiased(x + 3.0, y - 2.0) == pytest.approx(exact, rel=1e-9)  # the formula's invariance
    for shift in (3.0, 1e2, 1e4):
        assert hsic_unbiased(x + shift, y - shift) == pytest.approx(exact, rel=1e-9)
        assert unbiased_cka(x + shift, y) == pytest.approx(unbiased_cka(x, y), rel=1e-9)


def test_independent_representations_score_near_zero_unbiased():
    rng = np.random.default_rng(2)
    values = [unbiased_cka(rng.normal(size=(400, 32)), rng.normal(size=(400, 32))) for _ in range(20)]
    assert abs(np.mean(values)) < 0.01 and max(map(abs, values)) < 0.03
    plain = [linear_cka(rng.normal(size=(400, 32)), rng.normal(size=(400, 32))) for _ in range(5)]
    assert min(plain) > 0.05  # the biased estimate is well above 0 for the same sizes


def test_mutual_knn_counts_shared_neighbours_by_brute_force(xy):
    x, y = xy
    k = 5
    nx, ny = knn(x, k, backend="numpy"), knn(y, k, backend="numpy")
    brute = np.mean([len(set(nx[i, :k]) & set(ny[i, :k])) / k for i in range(len(x))])
    assert mutual_knn(nx, ny, k) == pytest.approx(brute)
    assert mutual_knn(nx, nx, k) == 1.0
    assert 0.0 <= mutual_knn(nx, ny, k) <= 1.0


def test_bad_shapes_are_one_line_errors():
    with pytest.raises(DataError, match="the same points: 5 rows against 6"):
        linear_cka(np.ones((5, 2)), np.ones((6, 2)))
    with pytest.raises(DataError, match="at least 4 points"):
        unbiased_cka(np.eye(3), np.eye(3))
