"""The CKA characteristic: its table against the formulas written out with n x n Gram matrices and a
brute-force neighbour search, its invariances, and a study that adds it beside representation
(on the same cached embeddings) and reports it."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from miniature.characteristics.cka import compare_cka
from tests.conftest import DEV, TRAIN, need_shared
from tests.test_cka import _direct_hsic_unbiased
from tests.test_cka import _direct_linear_cka as direct_linear_cka


def direct_unbiased_cka(x, y):
    """Song et al. (2012), eq. 5, with the Gram matrices written out, normalised as CKA."""
    return _direct_hsic_unbiased(x, y) / np.sqrt(_direct_hsic_unbiased(x, x) * _direct_hsic_unbiased(y, y))


def brute_mutual_knn(x, y, k):
    """The platonic representation code's rule: cosine neighbours (self excluded), shared share of k.
    Cosines of the rows normalised in float32 (as miniature.knn stores them), taken exactly in
    float64: near-ties of a tiny model's embeddings then order as the search orders them."""
    def neighbours(a):
        a = np.asarray(a, dtype=np.float64)
        a = (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32).astype(np.float64)
        sim = a @ a.T
        np.fill_diagonal(sim, -np.inf)
        return [set(np.argsort(-sim[p], kind="stable")[:k]) for p in range(len(a))]

    nx, ny = neighbours(x), neighbours(y)
    return np.mean([len(a & b) / k for a, b in zip(nx, ny)])


@pytest.fixture(scope="module")
def phases():
    rng = np.random.default_rng(3)
    base = rng.normal(size=(70, 16))
    out = {}
    for p, noise in (("before", 0.4), ("after", 0.9)):
        out[p] = {"large": base, "mid": base @ rng.normal(size=(16, 12)) + noise * rng.normal(size=(70, 12)),
                  "small": base[:, :8] + 2 * noise * rng.normal(size=(70, 8))}
    return out


def test_every_pair_equals_the_formulas_written_out(phases):
    result = compare_cka(phases, k=5)
    assert result.names == ("large", "mid", "small") and result.phases == ("before", "after")
    rows = {(r["model_i"], r["model_j"]): r for r in result.pairs}
    assert list(rows) == list(itertools.combinations(result.names, 2))
    for (i, j), row in rows.items():
        for p, emb in phases.items():
            x, y = emb[i], emb[j]
            assert row[f"{p}_linear"] == pytest.approx(direct_linear_cka(x, y), rel=1e-9)
            assert row[f"{p}_unbiased"] == pytest.approx(direct_unbiased_cka(x, y), rel=1e-9)
            assert row[f"{p}_mutual_knn"] == pytest.approx(brute_mutual_knn(x, y, 5), abs=1e-12)
        assert row["n_points"] == 70


def test_invariances_self_rotation_scaling_and_independence():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 20))
    q, _ = np.linalg.qr(rng.normal(size=(20, 20)))
    result = compare_cka({"after": {"x": x, "same": x.copy(), "turned": 3.5 * x @ q,
                                    "unrelated": rng.normal(size=(300, 20))}}, k=10)
    rows = {(r["model_i"], r["model_j"]): r for r in result.pairs}
    for pair in (("x", "same"), ("x", "turned"), ("same", "turned")):
        for m in ("linear", "unbiased", "mutual_knn"):
            assert rows[pair][f"after_{m}"] == pytest.approx(1.0, abs=1e-9), (pair, m)
    # two independent representations: the unbiased estimator near 0, linear CKA biased above it
    assert abs(rows[("x", "unrelated")]["after_unbiased"]) < 0.02
    assert rows[("x", "unrelated")]["after_linear"] > 0.03


def test_symmetry_on_unrelated_models():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(80, 6)), rng.normal(size=(80, 9))
    ab = compare_cka({"after": {"a": a, "b": b}}, k=7).pairs[0]
    ba = compare_cka({"after": {"b": b, "a": a}}, k=7).pairs[0]
    for m in ("after_linear", "after_unbiased", "after_mutual_knn"):
        assert ab[m] == pytest.approx(ba[m], rel=1e-12)


@pytest.mark.slow
def test_a_study_reports_cka_from_the_representations_cached_embeddings(tiny_model, tmp_path):
    """representation then cka: cka embeds nothing (every embedding is taken from the cache), its
    table equals the formulas on those embeddings, and the report and results.json show it."""
    need_shared(TRAIN, DEV)
    from miniature import run
    from miniature.characteristics.representation import model_embeddings
    from miniature.config import parse_config

    cfg = parse_config({
        "run_dir": str(tmp_path / "run"), "characteristics": ["representation", "cka"],
        "models": [{"name": str(tiny_model("bert", 0)), "label": "big"},
                   {"name": str(tiny_model("bert", 1)), "label": "small"}],
        "data": {"train": str(TRAIN), "train_limit": 24, "dev": str(DEV), "dev_limit": 40},
        "qa": {"max_steps": 2, "batch_size": 8, "max_seq_length": 96, "doc_stride": 32},
        "representation": {"ks": [1, 5], "table_k": 5}, "cka": {"k": 5}})
    result = run(cfg)
    embedded = [a for a in result.activity if a.kind == "embeddings"]
    # 2 models x 2 phases embedded once (representation); cka's gather took the same four from the cache
    assert [a.computed for a in embedded] == [True] * 4 + [False] * 4
    assert len({a.path for a in embedded}) == 4
    phases, _ = model_embeddings(cfg)
    row = json.loads((result.run_dir / "cka" / "cka.json").read_text())["rows"][0]
    for p in ("before", "after"):
        x, y = (np.asarray(phases[p][m], dtype=np.float64) for m in ("big", "small"))
        assert row[f"{p}_linear"] == pytest.approx(direct_linear_cka(x, y), rel=1e-6)
        # the estimator is translation invariant (tests/test_cka.py); centred, the Gram form keeps its digits
        assert row[f"{p}_unbiased"] == pytest.approx(direct_unbiased_cka(x - x.mean(0), y - y.mean(0)), rel=1e-6)
        assert row[f"{p}_mutual_knn"] == pytest.approx(brute_mutual_knn(x, y, 5), abs=1e-9)
    results = json.loads((result.run_dir / "results.json").read_text())
    assert results["characteristics"] == ["representation", "cka"]
    assert results["agreement"]["cka_linear_after"]["matrix"][0][1] == pytest.approx(row["after_linear"])
    page = (result.run_dir / "report.html").read_text(encoding="utf-8")
    assert 'id="cka"' in page and "Representation similarity (CKA)" in page
    assert (result.run_dir / "heatmap_cka_unbiased_before.png").is_file()
    assert "cka" in result.tables
    assert run(cfg).computed == []
