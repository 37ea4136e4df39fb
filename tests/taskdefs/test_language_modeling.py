"""Language modelling as llama.cpp's perplexity tool scores it: the windows on a hand-worked case,
perplexity against exp(mean NLL) from a plain loop over full logits, the lockstep KL against
scipy's relative entropy over the whole vocabulary, llama.cpp's ln-perplexity-ratio statistics
against numpy, and a study of a tiny Llama and two variants on real WikiText-2 through the
output-agreement characteristic."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
from scipy.special import log_softmax, rel_entr, softmax

from miniature.exceptions import DataError
from miniature.paired import ln_ppl_ratio
from miniature.tasks.lm import adds_bos, llama_cpp_windows, perplexity, score_windows
from tests.conftest import SHARED, need_shared, tiny_llama_lm

WIKI = SHARED / "wikitext2" / "wiki.test.raw"


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    need_shared(WIKI)
    folder = tmp_path_factory.mktemp("tiny-lm")
    return (folder, *tiny_llama_lm(folder, WIKI.read_text().splitlines()[:1500], 500, 3.0))


def test_windows_follow_llama_cpps_rule():
    tokens = list(range(100, 135))  # 35 tokens, n_ctx 8: 4 windows, the 3 tokens after them unread
    w = llama_cpp_windows(tokens, 8, None, bos=1)
    assert w.shape == (4, 8) and w[:, 0].tolist() == [1, 1, 1, 1]
    assert w[1].tolist() == [1, 109, 110, 111, 112, 113, 114, 115]  # the window's first token is the BOS
    assert llama_cpp_windows(tokens, 8, 2, bos=None)[1].tolist() == list(range(108, 116))
    with pytest.raises(DataError, match="tokenizes to 35 tokens; perplexity with n_ctx 20 needs 40"):
        llama_cpp_windows(tokens, 20, None, bos=None)


def _plain(model, windows):
    """Each window through the model whole; log-probabilities of positions n_ctx//2 .. n_ctx-2."""
    first = windows.shape[1] // 2
    out = []
    with torch.no_grad():
        for w in windows:
            logits = model(torch.tensor(w[None])).logits[0].double().numpy()
            out.append(log_softmax(logits, -1)[first:-1])
    return out


def test_perplexity_is_exp_mean_nll_of_a_plain_loop(tiny_lm):
    _, tok, model = tiny_lm
    assert not adds_bos(tok)
    tokens = tok(WIKI.read_text()[:20000])["input_ids"]
    windows = llama_cpp_windows(tokens, 32, 5, None)
    s = score_windows(model, windows, batch=2)
    first = 16
    nll = []
    for w, lp in zip(windows, _plain(model, windows)):
        for k, t in enumerate(w[first + 1 :]):
            nll.append(-lp[k, t])
    assert s.logprob.shape == (5, 15)  # n_ctx - 1 - n_ctx // 2 tokens a window
    np.testing.assert_allclose(-s.logprob.ravel(), nll, atol=1e-5)
    ppl, se = perplexity(s.logprob)
    assert ppl == pytest.approx(math.exp(np.mean(nll)), rel=1e-6)
    assert se == pytest.approx(ppl * np.std(nll, ddof=1) / math.sqrt(len(nll)), rel=1e-6)


def test_lockstep_kl_equals_relative_entropy_over_the_whole_vocabulary(tiny_lm):
    _, tok, model = tiny_lm
    other = copy.deepcopy(model)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.05 * torch.randn_like(p))
    windows = llama_cpp_windows(tok(WIKI.read_text()[:20000])["input_ids"], 32, 4, None)
    s = score_windows(other, windows, reference=model, batch=3)
    for k, (lp_ref, lp) in enumerate(zip(_plain(model, windows), _plain(other, windows))):
        want = rel_entr(softmax(lp_ref, -1), softmax(lp, -1)).sum(-1)
        back = rel_entr(softmax(lp, -1), softmax(lp_ref, -1)).sum(-1)
        np.testing.assert_allclose(s.kl[k], want, rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(s.kl_reverse[k], back, rtol=1e-4, atol=1e-7)
        np.testing.assert_array_equal(s.top1[k], lp.argmax(-1))
    assert (s.kl > 0).all()


def test_ln_ppl_ratio_is_llama_cpps_statistic():
    rng = np.random.default_rng(0)
    a = -rng.gamma(2.0, 1.0, 500)
    b = a - rng.normal(0.05, 0.2, 500)
    r = ln_ppl_ratio(a, b)
    assert r["ln_ppl_ratio"] == pytest.approx(np.mean(-b) - np.mean(-a))
    # llama.cpp: sqrt(se_a^2 + se_b^2 - 2 cov) with population moments over n - 1: the difference's
    assert r["ln_ppl_ratio_se"] == pytest.approx(np.std(a - b) / math.sqrt(499), rel=1e-9)
    assert r["ln_ppl_correlation"] == pytest.approx(np.corrcoef(a, b)[0, 1], rel=1e-9)
    assert r["ppl_j"] / r["ppl_i"] == pytest.approx(math.exp(r["ln_ppl_ratio"]))


@pytest.mark.slow
def test_a_study_of_language_models_on_wikitext(tiny_lm, tmp_path):
    from miniature import run
    from miniature.config import parse_config

    folder, tok, model = tiny_lm
    cfg = parse_config({
        "run_dir": str(tmp_path / "run"), "characteristics": ["errors", "outputs"],
        "errors": {"task": "language_modeling"}, "models": [{"name": str(folder), "label": "lm"}, {"from": "lm", "method": "int8"},
                   {"from": "lm", "method": "layers", "params": {"keep": [0]}, "label": "lm-1layer"}],
        "language_modeling": {"data": str(WIKI), "n_ctx": 64, "chunks": 6, "batch": 4},
        "outputs": {"tasks": ["language_modeling"], "bootstrap": 200}})
    result = run(cfg)
    root = result.run_dir
    windows = llama_cpp_windows(tok(WIKI.read_text())["input_ids"], 64, 6, None)
    targets = windows[:, 33:]
    ref = _plain(model, windows)
    rows = {(r["model_i"], r["model_j"]): r for r in json.loads((root / "outputs" / "outputs.json").read_text())["rows"]}
    # the 1-layer variant by hand: its first layer only (the int8 one is checked through its own outputs)
    one = copy.deepcopy(model)
    one.model.layers = one.model.layers[:1]
    one.config.num_hidden_layers = 1
    mine = _plain(one, windows)
    kl = np.concatenate([rel_entr(softmax(p, -1), softmax(q, -1)).sum(-1) for p, q in zip(ref, mine)])
    r = rows[("lm", "lm-1layer")]
    assert r["n"] == 6 * 31 and not r["kl_note"]
    assert r["kl_mean"] == pytest.approx(kl.mean(), rel=1e-4)
    assert r["kl_max"] == pytest.approx(kl.max(), rel=1e-4)
    top_ref = np.concatenate([p.argmax(-1) for p in ref])
    top_one = np.concatenate([q.argmax(-1) for q in mine])
    assert r["top1_agreement"] == pytest.approx(np.mean(top_ref == top_one))
    lp_ref = np.concatenate([p[np.arange(31), t] for p, t in zip(ref, targets)])
    lp_one = np.concatenate([q[np.arange(31), t] for q, t in zip(mine, targets)])
    assert r["ln_ppl_ratio"] == pytest.approx(np.mean(lp_ref - lp_one), rel=1e-4)
    assert r["gold_change_mean"] == pytest.approx(np.mean(np.exp(lp_one) - np.exp(lp_ref)), rel=1e-3, abs=1e-7)
    assert r["correct_to_wrong"] == int(np.sum((top_ref == targets.ravel()) & (top_one != targets.ravel())))
    assert rows[("lm", "lm-int8")]["kl_mean"] < r["kl_mean"] and rows[("lm", "lm-int8")]["kl_mean"] > 0
    # two compressed models: no lockstep run between them; KL from the top-64 summaries, a lower bound
    between = rows[("lm-int8", "lm-1layer")]
    assert between["kl_mean"] > 0 and "a lower bound" in between["kl_note"]
    from miniature.paired import TopK, kl_top_k
    from miniature.taskdefs import Outputs

    saved = {}
    for f in (root / "predictions").glob("*-lm-*.npz"):
        out = Outputs.load(f)
        saved["ref" if out.extra["is_reference"][0] else ("one" if "layers" in f.name else "int8")] = out
    summary = {k: TopK(o.extra["top_ids"].astype(np.int64), o.extra["top_logprobs"].astype(np.float64),
                       o.extra["tail"], int(o.extra["vocab"][0])) for k, o in saved.items()}
    bound = kl_top_k(summary["ref"], summary["one"])
    assert (bound <= kl * (1 + 1e-4) + 1e-6).all() and bound.mean() > 0  # the bound holds (loose: a flat random model)
    assert rows[("lm", "lm-1layer")]["ppl_i"] == pytest.approx(math.exp(-lp_ref.mean()), rel=1e-5)
    scores = {r["model"]: r for r in json.loads((root / "errors" / "scores.json").read_text())["rows"]}
    assert scores["lm"]["ppl"] == pytest.approx(math.exp(-lp_ref.mean()), rel=1e-5)
    assert (scores["lm"]["tokens"], scores["lm"]["windows"]) == (186, 6)
    assert "Perplexity" in (root / "report.html").read_text(encoding="utf-8")
    assert run(cfg).computed == []


@pytest.mark.slow
def test_a_language_model_distilled_on_text_moves_towards_its_teacher(tiny_lm, tmp_path):
    """`distil` of a causal LM in a zero-shot study learns the teacher's next-token distributions on
    distil.text: its per-token KL to the teacher falls below the untrained student's."""
    from miniature import run
    from miniature.compress import derive
    from miniature.config import parse_config
    from miniature.exceptions import ConfigError

    folder, tok, model = tiny_lm
    study = {"run_dir": str(tmp_path / "run"), "characteristics": ["outputs"],
             "models": [{"name": str(folder), "label": "lm"},
                        {"from": "lm", "method": "distil", "params": {"layers": 1}, "label": "student",
                         "distil": {"text": str(WIKI), "samples": 32, "seq_len": 64, "max_steps": 80,
                                    "batch_size": 8, "learning_rate": 1e-3, "alpha": 0.0, "temperature": 1.0}}],
             "language_modeling": {"data": str(WIKI), "n_ctx": 64, "chunks": 6},
             "outputs": {"tasks": ["language_modeling"], "bootstrap": 100}}
    result = run(parse_config(study))
    row = json.loads((result.run_dir / "outputs" / "outputs.json").read_text())["rows"][0]
    untrained = derive(model, "distil", {"layers": 1})
    windows = llama_cpp_windows(tok(WIKI.read_text())["input_ids"], 64, 6, None)
    before = score_windows(untrained, windows, reference=model).kl.mean()
    assert row["model_j"] == "student" and row["kl_mean"] < 0.85 * before
    assert len(list((result.run_dir / "checkpoints").glob("causal_lm-*-distil-*"))) == 1
    without = {**study, "models": [study["models"][0], {"from": "lm", "method": "distil", "params": {"layers": 1}}]}
    with pytest.raises(ConfigError, match="set distil.text"):
        run(parse_config(without))
