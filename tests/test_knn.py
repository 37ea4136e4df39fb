"""Cosine kNN: both backends equal a float64 brute force, ties by index, self excluded, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from miniature.exceptions import DataError, DependencyError
from miniature.knn import knn

BACKENDS = ["faiss", "numpy"]


def brute_force(emb: np.ndarray, k: int) -> list[set[int]]:
    """The K-NN sets from a plain float64 cosine matrix, diagonal excluded."""
    x = np.asarray(emb, dtype=np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    return [set(np.argsort(-row, kind="stable")[:k].tolist()) for row in sims]


@pytest.fixture(params=BACKENDS)
def backend(request):
    if request.param == "faiss":
        pytest.importorskip("faiss", reason="pip install faiss-cpu")
    return request.param


@pytest.mark.parametrize("k", [1, 7, 30])
def test_random_data_equals_brute_force(backend, k):
    x = np.random.default_rng(k).normal(size=(500, 24)).astype(np.float32)
    got = knn(x, k, backend)
    assert got.shape == (500, k)
    assert [set(r.tolist()) for r in got] == brute_force(x, k)
    assert not (got == np.arange(500)[:, None]).any()  # never the point itself


def test_real_minilm_embeddings_equal_brute_force(backend, minilm_dev300):
    emb = minilm_dev300[2]
    for k in (1, 10, 50):
        assert [set(r.tolist()) for r in knn(emb, k, backend)] == brute_force(emb, k)


def test_rows_are_ordered_by_similarity_so_prefixes_are_smaller_k(backend):
    x = np.random.default_rng(1).normal(size=(300, 16))
    big, small = knn(x, 40, backend), knn(x, 9, backend)
    assert (big[:, :9] == small).all()
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = np.take_along_axis(xn @ xn.T, big, 1)
    assert (np.diff(sims, axis=1) <= 1e-12).all()


def test_ties_are_broken_by_index(backend):
    # points 2, 5 and 8 are the same vector; 0's neighbours tie among them
    rng = np.random.default_rng(2)
    x = rng.normal(size=(12, 6))
    x[5] = x[8] = x[2]
    x[0] = x[2] + 1e-3 * rng.normal(size=6)
    assert knn(x, 2, backend)[0].tolist() == [2, 5]
    assert knn(x, 2, backend)[8].tolist() == [2, 5]
    assert knn(x, 1, backend)[2].tolist() == [5]


def test_backends_agree_with_heavy_ties_and_no_margin():
    # many exact duplicates: the narrow candidate pool must widen until its rows are certain
    pytest.importorskip("faiss")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 8))[rng.integers(0, 40, size=600)]
    a, b = knn(x, 25, "faiss", margin=0), knn(x, 25, "numpy", margin=0)
    assert (a == b).all()
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    for i, row in enumerate(a):
        s = xn[i] @ xn[row].T
        kth = s.min()
        better = {j for j in range(600) if j != i and xn[i] @ xn[j] > kth + 1e-9}
        assert better <= set(row.tolist())  # every strictly closer point is in, ties by index


def test_without_numba_the_same_rows(monkeypatch, minilm_dev300):
    # the compiled selection, pair scores and orders against their numpy fallbacks
    from miniature import kernels

    rng = np.random.default_rng(5)
    tied = rng.normal(size=(30, 8))[rng.integers(0, 30, size=400)]
    cases = [(minilm_dev300[2], 50), (tied, 25)]
    compiled = [knn(x, k, "numpy") for x, k in cases]
    monkeypatch.setattr(kernels, "numba", None)
    for (x, k), want in zip(cases, compiled):
        assert (knn(x, k, "numpy") == want).all()


def test_numpy_used_when_faiss_is_missing(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_faiss(name, *args, **kw):
        if name == "faiss":
            raise ImportError("no faiss")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_faiss)
    x = np.random.default_rng(4).normal(size=(100, 8))
    assert [set(r.tolist()) for r in knn(x, 5, "auto")] == brute_force(x, 5)
    with pytest.raises(DependencyError, match="pip install faiss-cpu"):
        knn(x, 5, "faiss")


@pytest.mark.parametrize("bad, k, match", [
    (np.zeros(10), 1, "2-D"),
    (np.ones((10, 3)), 10, "needs more than 10 points"),
    (np.ones((10, 3)), 0, "at least 1"),
    (np.array([[1.0, 2.0], [np.nan, 1.0], [0.0, 1.0]]), 1, "point 1 has a NaN or infinite"),
    (np.array([[1.0, 2.0], [np.inf, 1.0], [0.0, 1.0]]), 1, "point 1 has a NaN or infinite"),
    (np.ones((1, 3)), 1, "at least 2 points"),
])
def test_bad_input_is_one_line(bad, k, match):
    with pytest.raises(DataError, match=match):
        knn(bad, k)
