"""The compiled kernels against brute force: top-m selection, pair scores, row orders, overlaps."""

from __future__ import annotations

import numpy as np
import pytest

from miniature import agreement, kernels

pytestmark = pytest.mark.skipif(not kernels.has_numba(), reason="numba not installed")


def brute_top(vals: np.ndarray, m: int, excl: int) -> np.ndarray:
    v = vals.astype(np.float64)
    if excl >= 0:
        v[excl] = -np.inf
    return np.sort(v)[::-1][:m]


@pytest.mark.parametrize("compiled", [True, False])
def test_top_m_holds_the_m_largest_values_without_the_excluded_column(compiled):
    rng = np.random.default_rng(0)
    for trial in range(60):
        r, n = int(rng.integers(1, 20)), int(rng.integers(3, 4000))
        # ties everywhere, or distinct values; the sampled threshold path needs m >= 26
        block = (rng.integers(0, 4, size=(r, n)) if trial % 3 == 0 else rng.normal(size=(r, n))).astype(np.float32)
        m = int(rng.integers(1, n - 1))
        excl = rng.integers(-1, n, size=r)
        idx, val = kernels.top_m(block, m, excl, compiled=compiled)
        for row in range(r):
            assert len(set(idx[row].tolist())) == m
            assert excl[row] not in set(idx[row].tolist())
            np.testing.assert_array_equal(block[row, idx[row]], val[row])
            np.testing.assert_array_equal(np.sort(val[row])[::-1], brute_top(block[row], m, int(excl[row])))


def test_top_m_reads_bfloat16_bit_patterns():
    torch = pytest.importorskip("torch")
    vals = torch.randn(9, 3000).bfloat16()
    bits = vals.view(torch.int16).numpy().view(np.uint16)
    as_f32 = vals.float().numpy()
    np.testing.assert_array_equal(kernels.bf16_to_f32(bits), as_f32)
    idx, val = kernels.top_m(bits, 40)
    for row in range(9):
        np.testing.assert_array_equal(as_f32[row, idx[row]], val[row])
        np.testing.assert_array_equal(np.sort(val[row])[::-1], brute_top(as_f32[row], 40, -1))


def test_pair_dots_equal_float64_einsum():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 333)).astype(np.float32)
    y = rng.normal(size=(70, 333)).astype(np.float32)
    rows, cols = rng.integers(0, 50, 400), rng.integers(0, 70, 400)
    ref = np.einsum("ij,ij->i", x[rows].astype(np.float64), y[cols].astype(np.float64))
    np.testing.assert_allclose(kernels.pair_dots(x, y, rows, cols), ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(kernels.pair_dots(x, y, rows, cols, compiled=False), ref, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(kernels.pair_dots(x, y, rows, cols), kernels.pair_dots(x, y, rows, cols))


@pytest.mark.parametrize("nearly_sorted", [False, True])
def test_sort_rows_orders_by_value_then_index(nearly_sorted):
    rng = np.random.default_rng(2)
    val = rng.integers(0, 6, size=(30, 40)).astype(np.float64)  # many ties
    idx = np.stack([rng.permutation(1000)[:40] for _ in range(30)])
    if nearly_sorted:  # sorted but for swapped neighbours
        order = np.lexsort((idx, -val), axis=-1)
        val, idx = np.take_along_axis(val, order, 1), np.take_along_axis(idx, order, 1)
        val[:, [3, 4]], idx[:, [3, 4]] = val[:, [4, 3]], idx[:, [4, 3]]
    ref = np.lexsort((idx, -val), axis=-1)
    want_i, want_v = np.take_along_axis(idx, ref, 1), np.take_along_axis(val, ref, 1)
    kernels.sort_rows(idx, val, nearly_sorted=nearly_sorted)
    np.testing.assert_array_equal(idx, want_i)
    np.testing.assert_array_equal(val, want_v)


def test_knn_overlaps_kernel_equals_python_sets_and_the_numpy_path(monkeypatch):
    rng = np.random.default_rng(3)
    n, kmax = 200, 30
    a = np.stack([rng.permutation(n)[:kmax] for _ in range(n)])
    b = np.stack([rng.permutation(n)[:kmax] for _ in range(n)])
    ks = [10, 1, 30, 5]  # any order
    got = kernels.knn_overlaps(a, b, ks)
    want = np.array([[len(set(a[p, :k]) & set(b[p, :k])) for k in ks] for p in range(n)])
    np.testing.assert_array_equal(got, want)
    monkeypatch.setattr(agreement, "has_numba", lambda: False)
    np.testing.assert_array_equal(agreement.knn_overlaps(a, b, ks), want)


def test_kernels_called_from_several_threads_at_once():
    # numba's workqueue layer aborts on concurrent parallel regions; the kernels queue on a lock
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(4)
    block = rng.normal(size=(64, 3000)).astype(np.float32)
    want = np.sort(kernels.top_m(block, 20)[1], axis=1)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: np.sort(kernels.top_m(block, 20)[1], axis=1), range(16)))
    for g in got:
        np.testing.assert_array_equal(g, want)
