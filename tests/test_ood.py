"""Deep kNN OOD: K-th distances against brute force, the threshold's rounding rule, AUROC/AUPR
against scikit-learn, a shifted Gaussian cluster found, approximate indices' recall, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from miniature.exceptions import ConfigError, DataError
from miniature.ood import (
    IndexSpec,
    auroc,
    average_precision,
    build_index,
    detect,
    dknn_normalize,
    kth_distances,
    recall,
    search,
    threshold_at_tpr,
)

BACKENDS = ["numpy", "bf16", "torch"] + (["faiss"] if __import__("miniature.knn").knn.has_faiss() else [])


def brute(bank: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Every query's sorted Euclidean distances to every bank point, float64, the reference's normalisation."""
    b = bank / (np.linalg.norm(bank, axis=1, keepdims=True) + 1e-10)
    q = queries / (np.linalg.norm(queries, axis=1, keepdims=True) + 1e-10)
    return np.sort(np.sqrt(((q[:, None, :] - b[None, :, :]) ** 2).sum(-1)), axis=1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_kth_distances_equal_brute_force(backend):
    rng = np.random.default_rng(7)
    bank, queries = rng.normal(size=(400, 12)), rng.normal(size=(90, 12)) + 0.5
    want = brute(bank, queries)
    ks = [1, 10, 37, 400]
    got = kth_distances(bank, queries, ks, backend)
    assert got.shape == (90, 4)
    np.testing.assert_allclose(got, want[:, np.array(ks) - 1], atol=1e-5)
    np.testing.assert_allclose(kth_distances(bank, queries[:1], [3], backend)[0, 0], want[0, 2], atol=1e-5)


def test_normalisation_is_the_reference_codes():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(dknn_normalize(x), [[0.6, 0.8], [0.0, 0.0]], atol=1e-7)


@pytest.mark.parametrize("n, tpr, kept", [(200, 0.95, 190), (7, 0.95, 7), (10, 0.5, 5), (3, 0.1, 1), (101, 0.9, 91)])
def test_threshold_keeps_ceil_tpr_n(n, tpr, kept):
    scores = np.random.default_rng(n).permutation(n).astype(float)  # distinct scores
    thr = threshold_at_tpr(scores, tpr)
    assert (scores >= thr).sum() == kept == int(np.ceil(tpr * n - 1e-9))


def test_threshold_with_ties_keeps_at_least_the_share():
    scores = np.array([5.0, 4.0, 3.0, 3.0, 3.0, 1.0])
    thr = threshold_at_tpr(scores, 0.5)  # ceil(3) = the 3rd highest, 3.0, tied with two more
    assert thr == 3.0 and (scores >= thr).sum() == 5


def test_auroc_and_aupr_equal_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for trial in range(5):
        s_in = rng.normal(size=300).round(1)  # rounding makes ties
        s_out = (rng.normal(size=120) + trial * 0.4).round(1)
        y = np.r_[np.zeros(300), np.ones(120)]
        s = np.r_[s_in, s_out]
        assert auroc(s_in, s_out) == pytest.approx(metrics.roc_auc_score(y, s), abs=1e-12)
        assert average_precision(s_in, s_out) == pytest.approx(metrics.average_precision_score(y, s), abs=1e-12)


def test_hand_worked_quality():
    # in-distribution OOD scores 1, 2, 3; OOD 2.5, 4: pairs (out > in) = 2 + 3 = 5 of 6
    assert auroc(np.array([1.0, 2.0, 3.0]), np.array([2.5, 4.0])) == pytest.approx(5 / 6)
    # ranked 4(+) 3(-) 2.5(+) 2 1: AP = 1/2 * 1 + 1/2 * 2/3
    assert average_precision(np.array([1.0, 2.0, 3.0]), np.array([2.5, 4.0])) == pytest.approx(0.5 + 1 / 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_shifted_gaussian_cluster_is_the_ood_set(backend):
    rng = np.random.default_rng(11)
    d = 16
    centre = np.zeros(d)
    centre[0] = 4.0
    bank = rng.normal(size=(2000, d)) + centre
    val = rng.normal(size=(500, d)) + centre
    shifted = rng.normal(size=(100, d)) + np.roll(centre, 1)  # the same spread, another direction
    test = np.concatenate([rng.normal(size=(100, d)) + centre, shifted])
    k = 10
    v, t = kth_distances(bank, val, [k], backend)[:, 0], kth_distances(bank, test, [k], backend)[:, 0]
    det = detect(-v, -t, k, tpr=0.95)
    assert (-v >= det.threshold).sum() == 475
    assert auroc(v, t[100:]) > 0.99  # validation against the shifted cluster alone
    assert det.ood[100:].all()  # every shifted point is flagged
    assert det.ood[:100].mean() < 0.15  # about 5% of in-distribution points are flagged, as the TPR says
    assert det.fpr_at_tpr == pytest.approx(1 - det.ood.mean())


@pytest.mark.skipif("faiss" not in BACKENDS, reason="pip install faiss-cpu")
@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_index_is_close_and_reports_recall(kind):
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(40, 24)) * 3
    bank = centres[rng.integers(40, size=4000)] + rng.normal(size=(4000, 24))
    queries = centres[rng.integers(40, size=300)] + rng.normal(size=(300, 24))
    xb, xq = dknn_normalize(bank), dknn_normalize(queries)
    exact_ids = search(build_index(xb), xq, 10)[1]
    index = build_index(xb, IndexSpec(kind, nlist=64, nprobe=16, ef_search=128))
    approx_ids = search(index, xq, 10)[1]
    r = recall(exact_ids, approx_ids)
    assert 0.9 < r <= 1.0
    assert recall(exact_ids, exact_ids) == 1.0
    approx = kth_distances(bank, queries, [10], index=index)[:, 0]
    exact = kth_distances(bank, queries, [10], "faiss")[:, 0]
    assert (approx >= exact - 1e-5).all()  # an approximate search can only miss closer points
    assert np.median(approx - exact) < 1e-3


@pytest.mark.parametrize("bank, queries, ks, match", [
    (np.ones((10, 4)), np.ones((3, 5)), [1], "queries has 5 dimensions but bank has 4"),
    (np.ones((10, 4)), np.ones((3, 4)), [11], "must lie in \\[1, 10\\]"),
    (np.ones((0, 4)), np.ones((3, 4)), [1], "bank: needs at least 1 point"),
    (np.ones((10, 4)), np.full((3, 4), np.nan), [1], "queries: point 0 has a NaN"),
])
def test_bad_input(bank, queries, ks, match):
    with pytest.raises(DataError, match=match):
        kth_distances(bank, queries, ks)


@pytest.mark.parametrize("tpr", [0.0, 1.0, -0.2, 1.5])
def test_tpr_outside_open_unit_interval(tpr):
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        threshold_at_tpr(np.arange(10.0), tpr)


def test_auto_backend_is_bf16_only_where_the_cpu_multiplies_bfloat16(monkeypatch):
    from miniature import ood

    monkeypatch.setattr(ood, "_torch_cuda", lambda: False)
    monkeypatch.setattr(ood, "has_faiss", lambda: False)
    monkeypatch.setattr(ood, "bf16_available", lambda: True)
    assert ood.resolve_backend("auto") == "bf16"
    monkeypatch.setattr(ood, "bf16_available", lambda: False)
    assert ood.resolve_backend("auto") == "numpy"
    assert ood.resolve_backend("faiss") == "faiss"
