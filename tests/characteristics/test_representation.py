"""Representation agreement: a hand-worked example, properties, sets, and real MiniLM variants."""

from __future__ import annotations

import numpy as np
import pytest

from miniature.agreement import knn_jaccard, knn_overlaps, mean_var
from miniature.characteristics.representation import compare_representations
from miniature.exceptions import DataError, MismatchError
from miniature.knn import knn


def circle(degrees: list[float]) -> np.ndarray:
    r = np.radians(degrees)
    return np.stack([np.cos(r), np.sin(r)], axis=1)


# Five points on a circle, placed differently by two models (cosine = angular closeness).
# K=2 sets, worked by hand:  A: {1,2} {0,2} {0,1} {2,4} {2,3}    B: {1,2} {2,3} {0,1} {1,4} {1,3}
# per-point Jaccard 1, 1/3, 1, 1/3, 1/3 -> mean 3/5, population variance 8/75.
# K=1: A: 1 0 1 4 3   B: 2 2 0 4 3  -> Jaccard 0 0 0 1 1 -> mean 2/5, variance 6/25.
# Chance at K=2: two random 2-sets of the 4 other points share 0, 1 or 2 with probabilities 1/6,
# 4/6, 1/6 -> E[J] = 4/6 * 1/3 + 1/6 * 1 = 7/18; corrected (3/5 - 7/18) / (11/18) = 19/55.
# At K=1: they share one with probability 1/4 -> 1/4; corrected (2/5 - 1/4) / (3/4) = 1/5.
A = circle([0, 10, 30, 70, 100])
B = circle([0, 50, 20, 90, 120])


def test_hand_worked_five_points():
    assert [sorted(r) for r in knn(A, 2)] == [[1, 2], [0, 2], [0, 1], [2, 4], [2, 3]]
    assert [sorted(r) for r in knn(B, 2)] == [[1, 2], [2, 3], [0, 1], [1, 4], [1, 3]]
    per_point = knn_jaccard(knn(A, 2), knn(B, 2))
    assert per_point == pytest.approx([1, 1 / 3, 1, 1 / 3, 1 / 3])
    res = compare_representations({"before": {"A": A, "B": B}}, ks=[1, 2], table_k=2)
    assert res.value("before", "A", "B", 2) == pytest.approx((3 / 5, 8 / 75))
    assert res.value("before", "A", "B", 1) == pytest.approx((2 / 5, 6 / 25))
    assert res.rows() == [{"model_i": "A", "model_j": "B", "before_mean": pytest.approx(0.6),
                           "before_variance": pytest.approx(8 / 75),
                           # sample variance 8/75 * 5/4 = 2/15; 95% half-width 1.96 * sqrt(2/15 / 5)
                           "before_ci95": pytest.approx(1.959964 * (2 / 75) ** 0.5), "chance": pytest.approx(7 / 18),
                           "before_corrected": pytest.approx(19 / 55)}]
    at_1 = res.row("before", "B", "A", 1)
    assert (at_1["chance"], at_1["corrected"]) == (pytest.approx(1 / 4), pytest.approx(1 / 5))


def test_overlaps_at_every_k_equal_python_sets():
    rng = np.random.default_rng(3)
    a = np.stack([rng.choice(300, 40, replace=False) for _ in range(200)])
    b = np.stack([np.concatenate([a[i, 5:15], rng.choice(np.setdiff1d(np.arange(300), a[i, 5:15]), 30,
                                                         replace=False)]) for i in range(200)])
    ks = [1, 5, 10, 20, 40]
    want = [[len(set(a[i, :k]) & set(b[i, :k])) for k in ks] for i in range(200)]
    assert knn_overlaps(a, b, ks).tolist() == want
    assert knn_jaccard(a, b, 10) == pytest.approx([w[2] / (20 - w[2]) for w in want])


def test_per_point_jaccard_equals_python_sets():
    rng = np.random.default_rng(0)
    a = np.stack([rng.choice(200, 15, replace=False) for _ in range(100)])
    b = np.stack([rng.choice(200, 15, replace=False) for _ in range(100)])
    want = [len(set(x) & set(y)) / len(set(x) | set(y)) for x, y in zip(a, b)]
    assert knn_jaccard(a, b) == pytest.approx(want)
    assert mean_var(knn_jaccard(a, b)) == pytest.approx((np.mean(want), np.var(want)))


def test_properties_self_symmetry_bounds():
    rng = np.random.default_rng(1)
    models = {"L": rng.normal(size=(300, 20)), "S": rng.normal(size=(300, 12)),
              "T": rng.normal(size=(300, 20)) * 0.2 + rng.normal(size=(300, 20))}
    models["L2"] = models["L"] * 3.0  # cosine ignores scale: the same model
    res = compare_representations({"before": models}, ks=[1, 5, 10, 20, 50, 100], table_k=10)
    for k in res.ks:
        assert res.value("before", "L", "L2", k) == (1.0, 0.0)
    for r in res.sweep:
        assert 0.0 <= r["mean"] <= 1.0 and r["variance"] >= 0.0
        other = knn_jaccard(knn(models[r["model_j"]], r["k"]), knn(models[r["model_i"]], r["k"]))
        assert mean_var(other) == pytest.approx((r["mean"], r["variance"]))  # symmetric
    assert len(res.rows()) == 6 and [r["model_i"] for r in res.rows()][:3] == ["L", "L", "L"]


def test_input_mismatches():
    x = np.random.default_rng(2).normal(size=(50, 4))
    with pytest.raises(MismatchError, match="different numbers of points"):
        compare_representations({"before": {"a": x, "b": x[:40]}})
    with pytest.raises(DataError, match="needs more than 100 points"):
        compare_representations({"before": {"a": x, "b": x}})  # default sweep reaches K=100
    with pytest.raises(MismatchError, match="same models"):
        compare_representations({"before": {"a": x, "b": x}, "after": {"a": x, "c": x}}, ks=[5], table_k=5)
    with pytest.raises(DataError, match="at least two models"):
        compare_representations({"before": {"a": x}}, ks=[5], table_k=5)


@pytest.mark.slow
def test_minilm_int8_agrees_more_than_random_init(minilm_dev300, minilm_tokenizer):
    """Same weights quantized to int8 keep the neighbourhoods; a random model of the same shape does not."""
    import torch
    from transformers import AutoModel

    from miniature.tasks.embed import embed

    model, encoded, original = minilm_dev300
    int8 = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    torch.manual_seed(0)
    random_init = AutoModel.from_config(model.config)
    emb = {"minilm": original, "int8": embed(int8, minilm_tokenizer, encoded),
           "random": embed(random_init, minilm_tokenizer, encoded)}
    res = compare_representations({"before": emb}, ks=[5, 10, 20], table_k=10)
    for k in res.ks:
        quant, rand = res.value("before", "minilm", "int8", k)[0], res.value("before", "minilm", "random", k)[0]
        assert quant > rand + 0.1, (k, quant, rand)
        assert quant < 1.0  # int8 does move some neighbours


def test_numpy_and_faiss_give_the_same_sweep(minilm_dev300):
    pytest.importorskip("faiss")
    emb = minilm_dev300[2]
    noisy = emb + np.random.default_rng(5).normal(scale=0.05, size=emb.shape).astype(np.float32)
    models = {"minilm": emb, "noisy": noisy, "mean": emb - emb.mean(0)}
    a = compare_representations({"before": models}, backend="faiss")
    b = compare_representations({"before": models}, backend="numpy")
    assert a.sweep == b.sweep


@pytest.mark.parametrize("kmax", [40, 300])
def test_dense_and_sorted_rank_lookups_agree(kmax):
    from miniature.agreement import _ranks_dense, _ranks_sorted

    rng = np.random.default_rng(kmax)
    a = np.stack([rng.choice(3000, kmax, replace=False) for _ in range(50)])
    b = np.stack([rng.permutation(np.concatenate([a[i, :10], rng.choice(np.setdiff1d(np.arange(3000), a[i]),
                                                                         kmax - 10, replace=False)]))
                  for i in range(50)])
    dense, ranked = _ranks_dense(a, b, 3000), _ranks_sorted(a, b, 3000)
    assert (dense == ranked).all()
    want = [[list(a[i]).index(j) if j in a[i] else kmax for j in b[i]] for i in range(50)]
    assert dense.tolist() == want
