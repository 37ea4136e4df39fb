"""Every decoder family (tiny GPT-2, Llama, Qwen2 and Mistral models built in code) through every
characteristic in one zero-shot study: prediction errors and output agreement on multiple choice,
language modelling and zero-shot classification, data representation and CKA on the prompts, the
data distribution (ARC in distribution, PIQA out of it) and BERT-Attack on SST-2, against an int8
variant and one made by Wanda; each model's multiple-choice scores against a direct computation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.conftest import SHARED, _tiny_config, bpe_tokenizer_from, need_shared

ARC = SHARED / "arc" / "ARC-Easy-Test.jsonl"
WIKI = SHARED / "wikitext2" / "wiki.test.raw"
PIQA = SHARED / "piqa" / "valid.jsonl"
SST2 = SHARED / "sst2" / "dev.tsv"


@pytest.fixture(scope="module")
def bpe():
    need_shared(ARC, WIKI, PIQA, SST2)
    corpus = ARC.read_text().splitlines()[:300] + WIKI.read_text().splitlines()[:300] + SST2.read_text().splitlines()
    return bpe_tokenizer_from(corpus, 700)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gpt2", "llama", "qwen2", "mistral"])
def test_a_decoder_family_through_every_characteristic(family, bpe, tmp_path):
    from transformers import AutoModelForCausalLM

    from miniature import run
    from miniature.config import parse_config
    from miniature.data.mc import load_mc_dataset
    from miniature.tasks.mc import choices, encode_items

    torch.manual_seed(0)
    cfg_model = _tiny_config(family, len(bpe))
    model = AutoModelForCausalLM.from_config(cfg_model).eval()
    folder = tmp_path / family
    model.save_pretrained(folder)
    bpe.save_pretrained(folder)
    cfg = parse_config({
        "run_dir": str(tmp_path / "run"),
        "characteristics": ["errors", "outputs", "representation", "cka", "distribution", "adversarial"],
        "models": [{"name": str(folder), "label": "big"}, {"from": "big", "method": "int8"},
                   {"from": "big", "method": "wanda", "label": "wanda",
                    "params": {"sparsity": 0.5, "calibration": str(WIKI), "samples": 4, "seq_len": 32}}],
        "multiple_choice": {"data": str(ARC), "limit": 16, "bank": str(ARC)},
        "language_modeling": {"data": str(WIKI), "n_ctx": 32, "chunks": 3},
        "classification": {"zero_shot": True, "test": str(SST2), "test_limit": 4, "max_length": 64},
        "errors": {"task": "multiple_choice"},
        "outputs": {"tasks": ["multiple_choice", "language_modeling", "classification"], "bootstrap": 100},
        "representation": {"task": "multiple_choice", "pooling": "last", "phases": ["before"], "ks": [1, 3]},
        "cka": {"k": 3},
        "distribution": {"test": str(PIQA), "test_limit": 10, "bank_limit": 24, "k": 3, "ks": [1, 3]},
        "adversarial": {"attack_model": "minilm", "candidates": "embedding", "k": 4}})
    result = run(cfg)
    root = result.run_dir
    items = load_mc_dataset(str(ARC), limit=16).examples
    from miniature.tasks.mc import score_encoded

    direct = choices(items, score_encoded(model, encode_items(bpe, items), bpe.eos_token_id))
    gold = np.array([e.gold for e in items])
    scores = {r["model"]: r for r in json.loads((root / "errors" / "scores.json").read_text())["rows"]}
    assert scores["big"]["acc"] == pytest.approx(np.mean(direct == gold))
    pairs = json.loads((root / "outputs" / "outputs.json").read_text())["rows"]
    assert {(r["task"], r["model_j"]) for r in pairs if r["model_i"] == "big"} == {
        (t, m) for t in ("multiple_choice", "language_modeling", "classification") for m in ("big-int8", "wanda")}
    lm = [r for r in pairs if r["task"] == "language_modeling" and r["model_i"] == "big"]
    assert all(r["kl_mean"] > 0 and not r["kl_note"] for r in lm)
    results = json.loads((root / "results.json").read_text())
    assert [v["model"] for v in results["verdicts"]] == ["big-int8", "wanda"]
    for name in ("representation", "cka", "distribution", "adversarial"):
        assert (root / name / "report.json").is_file(), name
    card = {r["model"]: r for r in json.loads((root / "models" / "model_card.json").read_text())["rows"]}
    assert card["wanda"]["sparsity"] == pytest.approx(0.5, abs=1e-6)
