"""Exact K-th bank distances from bounded-error products: against float64 brute force, bf16 == float32,
the widening of narrow pools, blocks of queries, the error bound itself, ties and near-ties."""

from __future__ import annotations

import numpy as np
import pytest

from miniature import kth
from miniature.kth import error_bound, kth_sq_distances

PRECISIONS = ["float32", "bfloat16"]


def brute_sq(bank: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Every query's squared distances to every bank point, ascending, float64 from the float32 values."""
    b, q = bank.astype(np.float64), queries.astype(np.float64)
    return np.sort(((q[:, None, :] - b[None, :, :]) ** 2).sum(-1), axis=1)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("kmax", [1, 10, 50])
def test_random_unit_rows_equal_brute_force(precision, kmax):
    rng = np.random.default_rng(kmax)
    bank, queries = unit(rng.normal(size=(3000, 48))), unit(rng.normal(size=(120, 48)))
    got = kth_sq_distances(bank, queries, kmax, precision)
    np.testing.assert_allclose(got, brute_sq(bank, queries)[:, :kmax], rtol=0, atol=1e-12)


def test_real_minilm_features_equal_brute_force_and_bf16_equals_float32(minilm_dev300):
    emb = minilm_dev300[2]
    x = (emb / (np.linalg.norm(emb, axis=1, keepdims=True) + 1e-10)).astype(np.float32)
    bank, queries = x[:200], x[200:]
    want = brute_sq(bank, queries)[:, :20]
    f32, b16 = kth_sq_distances(bank, queries, 20, "float32"), kth_sq_distances(bank, queries, 20, "bfloat16")
    np.testing.assert_allclose(f32, want, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(b16, f32)  # both rescore the same candidates exactly


@pytest.mark.parametrize("precision", PRECISIONS)
def test_narrow_pools_widen_and_query_blocks_merge(precision, monkeypatch):
    rng = np.random.default_rng(3)
    bank, queries = unit(rng.normal(size=(700, 16))), unit(rng.normal(size=(90, 16)))
    want = brute_sq(bank, queries)[:, :25]
    monkeypatch.setattr(kth, "BLOCK_BYTES", 700 * 4 * 7)  # blocks of 7 (float32) or 14 (bf16) queries
    got = kth_sq_distances(bank, queries, 25, precision, margin=0)  # a pool of exactly K: must widen
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_duplicates_and_near_ties_below_bfloat16_resolution(precision):
    # bank points differing from each other by ~1e-6, far below bfloat16's resolution (~4e-3 near 1):
    # the ranking product cannot tell them apart, the exact rescoring must
    rng = np.random.default_rng(4)
    queries = unit(rng.normal(size=(20, 32)))
    base = unit(queries + 0.3 * rng.normal(size=queries.shape))
    near = np.concatenate([base + 1e-6 * rng.normal(size=base.shape) for _ in range(15)])
    bank = np.concatenate([near, base, base, unit(rng.normal(size=(500, 32)))]).astype(np.float32)
    got = kth_sq_distances(bank, queries, 12, precision)
    np.testing.assert_allclose(got, brute_sq(bank, queries)[:, :12], rtol=0, atol=1e-12)


def test_bfloat16_products_stay_within_the_bound():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    for d in (8, 384, 1024):
        a, b = unit(rng.normal(size=(300, d))), unit(rng.normal(size=(2000, d)) + 0.4)  # not centred
        exact = a.astype(np.float64) @ b.astype(np.float64).T
        got = (torch.from_numpy(a).bfloat16() @ torch.from_numpy(b).bfloat16().T).float().numpy()
        eps, rel = error_bound("bfloat16", d, 1.0 + 1e-6)
        assert (np.abs(got - exact) <= eps + rel * np.abs(got)).all()
        f32 = a @ b.T
        eps32, _ = error_bound("float32", d, 1.0 + 1e-6)
        assert (np.abs(f32 - exact) <= eps32).all()


def _count_ranked(monkeypatch) -> dict[str, int]:
    """Queries ranked per precision, counted as the search multiplies them."""
    ranked = {"bfloat16": 0, "float32": 0}
    real_call = kth._Products.__call__

    def counting(self, q):
        ranked[self.precision] += len(q)
        return real_call(self, q)

    monkeypatch.setattr(kth._Products, "__call__", counting)
    return ranked


def crowded(rng: np.random.Generator, n: int, direction: np.ndarray) -> np.ndarray:
    """Fine-tuned CLS vectors crowd: one shared direction, neighbours within 0.01 in cosine."""
    return unit(direction + 0.08 * rng.normal(size=(n, len(direction))))


def test_ranking_space_centres_crowded_rows_and_keeps_the_order():
    rng = np.random.default_rng(8)
    direction = rng.normal(size=64)
    for bank, queries, centred in ((crowded(rng, 500, direction), crowded(rng, 50, direction), True),
                                   (unit(rng.normal(size=(500, 64))), unit(rng.normal(size=(50, 64))), False)):
        bn = np.einsum("ij,ij->i", bank, bank, dtype=np.float64)
        qn = np.einsum("ij,ij->i", queries, queries, dtype=np.float64)
        rb, rq, q_norms, b_norm, slack = kth.ranking_space(bank, queries, bn, qn)
        assert (rb.shape[1] > bank.shape[1]) == centred and rb.shape[1] % 16 == 0
        keys = rq.astype(np.float64) @ rb.astype(np.float64).T
        # the keys order the bank as the distances do: key = const(q) - ||q - b||^2 / 2
        d2 = ((queries[:, None, :].astype(np.float64) - bank[None, :, :]) ** 2).sum(-1)
        shift = keys + d2 / 2
        assert np.ptp(shift, axis=1).max() <= slack.max() + 1e-12
        assert (np.linalg.norm(rq, axis=1) <= q_norms).all() and np.linalg.norm(rb, axis=1).max() <= b_norm
        if centred:  # a fraction of the unit norms: the bound as many times tighter
            assert q_norms.max() * b_norm < 0.1


def test_centred_bfloat16_keys_stay_within_the_bound():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    direction = rng.normal(size=384)
    bank, queries = crowded(rng, 3000, direction), crowded(rng, 200, direction)
    bn = np.einsum("ij,ij->i", bank, bank, dtype=np.float64)
    qn = np.einsum("ij,ij->i", queries, queries, dtype=np.float64)
    rb, rq, q_norms, b_norm, slack = kth.ranking_space(bank, queries, bn, qn)
    mu = bank.mean(axis=0, dtype=np.float64).astype(np.float32).astype(np.float64)
    b, q = bank.astype(np.float64) - mu, queries.astype(np.float64) - mu
    exact = q @ b.T - (b * b).sum(1) / 2  # the key of the float32 rows, in exact arithmetic (to 1e-16)
    got = (torch.from_numpy(rq).bfloat16() @ torch.from_numpy(rb).bfloat16().T).float().numpy().astype(np.float64)
    coef, rel = error_bound("bfloat16", rb.shape[1], 1.0)
    err = np.abs(got - exact)
    assert (err <= coef * q_norms[:, None] * b_norm + rel * np.abs(got) + slack[:, None] / 2).all()
    assert err.max() > 1e-6  # bfloat16's error is there (float32's would be ~1e-8), and the bound holds it


def test_crowded_features_are_ranked_in_bfloat16_once_centred(monkeypatch):
    # unit vectors 0.01 apart in cosine are within bfloat16's bound of unit-norm products; centred
    # on the bank mean they are some 20x shorter, and bfloat16 can vouch for their pools
    rng = np.random.default_rng(6)
    direction = rng.normal(size=64)
    bank, queries = crowded(rng, 2000, direction), crowded(rng, 600, direction)
    ranked = _count_ranked(monkeypatch)
    got = kth_sq_distances(bank, queries, 10, "bfloat16")
    np.testing.assert_allclose(got, brute_sq(bank, queries)[:, :10], rtol=0, atol=1e-12)
    assert ranked["bfloat16"] == 600
    assert ranked["float32"] < 60  # at most a few rows the bound could not settle


def test_crowding_without_a_shared_direction_falls_back_to_float32_after_a_probe(monkeypatch):
    # tight clusters of 800 around four directions: the mean is short, centring cannot shorten
    # the vectors, and more than the probe's pool of 512 lie within the bfloat16 bound; the
    # search must notice on its probe and rank the rest in float32
    rng = np.random.default_rng(7)
    centres = unit(rng.normal(size=(4, 64)))
    bank = unit(np.repeat(centres, 800, axis=0) + 0.005 * rng.normal(size=(3200, 64)))
    queries = unit(np.repeat(centres, 150, axis=0) + 0.005 * rng.normal(size=(600, 64)))
    ranked = _count_ranked(monkeypatch)
    got = kth_sq_distances(bank, queries, 10, "bfloat16")
    np.testing.assert_allclose(got, brute_sq(bank, queries)[:, :10], rtol=0, atol=1e-12)
    assert ranked["bfloat16"] == kth.PROBE  # the probe only
    assert ranked["float32"] >= 600 - kth.PROBE
