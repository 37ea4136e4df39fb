"""Data distribution: OOD sets and their Jaccard against an independent brute-force computation,
outputs, alpha, the CLI's one-line errors, a config run sharing the representation cache, and
Deep kNN on real text (MiniLM; SQuAD in distribution, NewsQA out)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import miniature
from miniature.agreement import chance_jaccard, overlap_p_value
from miniature.characteristics.distribution import Features, compare_distributions, subsample
from miniature.cli import main
from miniature.config import parse_config
from miniature.exceptions import ConfigError
from tests.conftest import DEV, NEWSQA, TRAIN, need_shared


def _features(seed: int = 0, n_models: int = 3, d: int = 12) -> dict[str, Features]:
    rng = np.random.default_rng(seed)
    out = {}
    for m in range(n_models):
        centre = np.zeros(d)
        centre[0] = 3.0
        shifted = np.roll(centre, 1 + m % 2)  # models see the shifted half differently
        test = np.concatenate([rng.normal(size=(60, d)) + centre, rng.normal(size=(40, d)) + 0.7 * shifted])
        out[f"m{m}"] = Features(rng.normal(size=(800, d)) + centre, rng.normal(size=(150, d)) + centre, test)
    return out


def _brute_ood(f: Features, k: int, tpr: float) -> set[int]:
    """The OOD set by hand: float64 distances, sorted, the ceil(tpr n)-th best validation score."""
    def kth(q: np.ndarray) -> np.ndarray:
        b = f.bank / (np.linalg.norm(f.bank, axis=1, keepdims=True) + 1e-10)
        x = q / (np.linalg.norm(q, axis=1, keepdims=True) + 1e-10)
        return np.sort(np.sqrt(((x[:, None] - b[None]) ** 2).sum(-1)), axis=1)[:, k - 1]

    val = sorted(-kth(f.val), reverse=True)
    threshold = val[math.ceil(tpr * len(val)) - 1]
    return {i for i, s in enumerate(-kth(f.test)) if s < threshold}


@pytest.mark.parametrize("backend", ["numpy", "faiss"])
def test_ood_sets_and_jaccard_equal_brute_force(backend):
    if backend == "faiss":
        pytest.importorskip("faiss")
    feats = _features()
    res = compare_distributions(feats, ks=[1, 5, 10, 50], table_k=10, tpr=0.9, backend=backend)
    assert res.ks == (1, 5, 10, 50)
    for k in res.ks:
        want = {name: _brute_ood(f, k, 0.9) for name, f in feats.items()}
        for m in res.models:
            assert set(map(int, res.ood_ids(m.name, k))) == want[m.name], (m.name, k)
            assert (m.at(k).ood.sum(), m.at(k).share) == (len(want[m.name]), len(want[m.name]) / 100)
        for r in (r for r in res.sweep() if r["k"] == k):
            a, b = want[r["model_i"]], want[r["model_j"]]
            assert r["mean"] == pytest.approx(len(a & b) / len(a | b))
            # chance: sets of these sizes drawn from the 100 test points (checked by enumeration elsewhere)
            assert r["chance"] == pytest.approx(chance_jaccard(len(a), len(b), 100))
            assert r["corrected"] == pytest.approx((r["mean"] - r["chance"]) / (1 - r["chance"]))
    rows = res.rows()
    assert [(r["model_i"], r["model_j"]) for r in rows] == [("m0", "m1"), ("m0", "m2"), ("m1", "m2")]
    assert rows[1]["jaccard"] > rows[0]["jaccard"]  # m0 and m2 see the same shifted direction
    assert rows[1]["p_overlap"] == pytest.approx(overlap_p_value(rows[1]["intersection"], rows[1]["flagged_i"],
                                                                 rows[1]["flagged_j"], 100))


def test_every_threshold_keeps_the_requested_share_of_validation():
    feats = _features(1)
    res = compare_distributions(feats, ks=[1, 10, 20], table_k=10, tpr=0.95, backend="numpy")
    from miniature.ood import kth_distances

    for m in res.models:
        for c, k in enumerate(res.ks):
            val_scores = -kth_distances(feats[m.name].bank, feats[m.name].val, res.ks, "numpy")[:, c]
            assert (val_scores >= m.at(k).threshold).sum() == math.ceil(0.95 * 150)


def test_writes_tables_figure_and_sets(tmp_path):
    res = compare_distributions(_features(), ks=[5, 10], table_k=10, backend="numpy",
                                test_ids=[f"q{i}" for i in range(100)])
    paths = res.write(tmp_path, {"package": "miniature"})
    for name in ("distribution.md", "distribution.csv", "distribution.json", "distribution_detectors.csv",
                 "distribution_sweep.json", "distribution_k_sweep.png", "ood_sets.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert paths["figure"].read_bytes()[:4] == b"\x89PNG"
    doc = json.loads((tmp_path / "distribution.json").read_text())
    assert doc["positive_class"] == "OOD" and doc["tpr"] == 0.95 and len(doc["rows"]) == 3
    sets = json.loads((tmp_path / "ood_sets.json").read_text())["sets"]
    assert sets["m1"]["10"] == res.ood_ids("m1") and all(i.startswith("q") for i in sets["m1"]["10"])
    det = json.loads((tmp_path / "distribution_detectors.json").read_text())["rows"]
    assert {(r["model"], r["k"]) for r in det} == {(m, k) for m in ("m0", "m1", "m2") for k in (5, 10)}
    for r in det:
        assert 0 <= r["auroc"] <= 1 and 0 <= r["aupr"] <= 1 and r["fpr_at_tpr"] == pytest.approx(1 - r["share_flagged"])
    assert "OOD is the positive class" in res.markdown()


def test_alpha_keeps_a_seeded_random_share():
    a = subsample(1000, 0.1, seed=3)
    assert len(a) == 100 and len(set(a)) == 100 and (np.diff(a) > 0).all()
    assert (a == subsample(1000, 0.1, seed=3)).all() and not (a == subsample(1000, 0.1, seed=4)).all()
    assert (subsample(7, 1.0, 0) == np.arange(7)).all() and len(subsample(7, 0.01, 0)) == 1


def _save(tmp_path, feats: dict[str, Features]) -> list[str]:
    args = []
    for part in ("bank", "val", "test"):
        args.append(f"--{part}")
        for name, f in feats.items():
            path = tmp_path / f"{name}_{part}.npy"
            np.save(path, getattr(f, part).astype(np.float32))
            args.append(str(path))
    return args


def test_cli_with_feature_files(tmp_path, capsys):
    feats = _features()
    args = _save(tmp_path, feats)
    assert main(["distribution", *args, "--k", "10", "--ks", "5", "10", "--backend", "numpy", "--quiet",
                 "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "| m0 | m1 |" in out  # labels from the bank files' names
    api = miniature.distribution(bank=args[1:4], val=args[5:8], test=args[9:12], ks=[5, 10], backend="numpy")
    doc = json.loads((tmp_path / "out" / "ood_sets.json").read_text())
    assert doc["sets"]["m2"]["10"] == api.ood_ids("m2")
    half = miniature.distribution(bank=args[1:4], val=args[5:8], test=args[9:12], alpha=0.5, backend="numpy")
    assert {m.n_bank for m in half.models} == {400}


@pytest.mark.parametrize("change, match", [
    ({"dims": True}, "model .m1.: .*m1_val.npy has 12 dimensions but .*m1_bank.npy has 8"),
    ({"empty": True}, "needs at least 1 point"),
    ({"args": ["--k", "900"]}, "K=900 needs at least 900 bank points and .*_bank.npy has 800"),
    ({"args": ["--tpr", "1.0"]}, "tpr 1.0: Input should be less than 1"),
    ({"args": ["--tpr", "0"]}, "tpr 0.0: Input should be greater than 0"),
    ({"args": ["--alpha", "1.5"]}, "alpha 1.5: Input should be less than or equal to 1"),
])
def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys, change, match):
    feats = _features(n_models=2)
    if change.get("dims"):
        feats["m1"] = Features(feats["m1"].bank[:, :8], feats["m1"].val, feats["m1"].test)
    if change.get("empty"):
        feats["m0"] = Features(feats["m0"].bank[:0], feats["m0"].val, feats["m0"].test)
    args = _save(tmp_path, feats)
    assert main(["distribution", *args, "--quiet", "--backend", "numpy", *change.get("args", [])]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("miniature: error:")
    assert __import__("re").search(match, err), err


def test_config_without_a_test_set_says_what_to_set(tmp_path):
    cfg = parse_config({"run_dir": str(tmp_path), "models": ["minilm", "minilm-l3"]})
    with pytest.raises(ConfigError, match="distribution.test is not set"):
        miniature.distribution(cfg)


@pytest.mark.slow
def test_config_run_shares_the_representation_cache(tmp_path, tiny_model, monkeypatch):
    need_shared(TRAIN, DEV, NEWSQA)
    cfg = parse_config({
        "run_dir": str(tmp_path / "run"),
        "models": [{"name": str(tiny_model("bert", 0)), "label": "big"},
                   {"name": str(tiny_model("bert", 1)), "label": "small"}],
        "data": {"train": str(TRAIN), "train_limit": 24, "dev": str(DEV), "dev_limit": 40},
        "qa": {"max_steps": 2, "batch_size": 8, "max_seq_length": 128, "doc_stride": 48, "eval_batch_size": 32},
        "representation": {"phases": ["after"], "ks": [1, 5]},
        "distribution": {"test": str(NEWSQA), "test_limit": 30, "bank_limit": 60, "ks": [1, 5, 10]},
    })
    miniature.representation(cfg)
    emb = tmp_path / "run" / "embeddings"
    dev_files = sorted(p.name for p in emb.glob("*.npy"))
    assert len(dev_files) == 2
    res = miniature.distribution(cfg, out=tmp_path / "out")
    files = sorted(p.name for p in emb.glob("*.npy"))
    assert set(dev_files) <= set(files) and len(files) == 6  # + bank and test per model; dev reused
    assert res.names == ("big", "small") and len(res.test_ids) == 30 and res.models[0].n_bank == 60
    assert res.test_ids[0] == json.loads(NEWSQA.read_text())["data"][0]["paragraphs"][0]["qas"][0]["id"]

    def refuse(*a, **kw):
        raise AssertionError("recomputed a cached artifact")

    monkeypatch.setattr("miniature.tasks.embed.embed_to_npy", refuse)
    monkeypatch.setattr("transformers.Trainer", refuse)
    again = miniature.distribution(cfg)
    assert again.rows() == res.rows()


@pytest.mark.slow
def test_minilm_deep_knn_separates_newsqa_from_squad(minilm_tokenizer):
    """Real text, real weights. The bank must cover the validation points' topics: the shared train
    file holds 10 articles and the dev file 16 others, so the bank is the train file plus the dev
    articles' even paragraphs, and validation their odd paragraphs (no shared context)."""
    need_shared(TRAIN, DEV, NEWSQA)
    from miniature.characteristics.distribution import detect_model
    from miniature.data.squad import load_qa_dataset
    from miniature.tasks.embed import embed, encode_points
    from miniature.zoo import load_encoder, resolve_model

    model = load_encoder(resolve_model("minilm"))
    dev = load_qa_dataset(DEV).examples
    para = {c: i for i, c in enumerate(dict.fromkeys(e.context for e in dev))}
    even = [e for e in dev if para[e.context] % 2 == 0]
    odd = [e for e in dev if para[e.context] % 2 == 1]

    def feats(examples):
        return embed(model, minilm_tokenizer, encode_points(minilm_tokenizer, examples, "pair", 128, 64))

    bank = feats(list(load_qa_dataset(TRAIN).examples[::8]) + even[::8])
    f = Features(bank, feats(odd[::12]), feats(load_qa_dataset(NEWSQA).examples[::4]))
    det = detect_model("minilm", f, [1, 10], tpr=0.95).at(10)
    assert det.auroc > 0.75, det
    assert det.share > 0.15  # far more NewsQA flagged than the 5% of SQuAD the threshold lets go
