"""The multiple-choice task in a study: a tiny Llama language model and two variants derived from
it (int8, one layer dropped) on real ARC-Easy items, through the errors and output-agreement
characteristics; accuracies against a direct per-option computation, flips against the error sets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.conftest import SHARED, need_shared, tiny_llama_lm

ARC_EASY = SHARED / "arc" / "ARC-Easy-Test.jsonl"


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    need_shared(ARC_EASY)
    folder = tmp_path_factory.mktemp("tiny-llama")
    tiny_llama_lm(folder, ARC_EASY.read_text().splitlines()[:200], 400, 4.0)
    return folder


def _direct_choices(folder, items) -> tuple[np.ndarray, np.ndarray]:
    """acc's and acc_norm's choice per item, each option through the model on its own (no cache)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from miniature.tasks.mc import encode_pair

    tok, model = AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder).eval()
    acc, norm = [], []
    for item in items:
        ll = []
        for o in item.options:
            ctx, cont = encode_pair(tok, item.context, " " + o)
            with torch.no_grad():
                lp = torch.log_softmax(model(torch.tensor([(ctx + cont)[:-1]])).logits[0].double(), -1)
            ll.append(float(sum(lp[len(ctx) - 1 + t, c] for t, c in enumerate(cont))))
        ll = np.array(ll)
        acc.append(int(np.argmax(ll)))
        norm.append(int(np.argmax(ll / np.array([len(o) for o in item.options]))))
    return np.array(acc), np.array(norm)


@pytest.mark.slow
def test_a_study_of_language_models_on_multiple_choice(tiny_llama, tmp_path):
    from miniature import run
    from miniature.config import parse_config
    from miniature.data.mc import load_mc_dataset

    cfg = parse_config({
        "run_dir": str(tmp_path / "run"), "characteristics": ["errors", "outputs"],
        "models": [{"name": str(tiny_llama), "label": "lm"}, {"from": "lm", "method": "int8"},
                   {"from": "lm", "method": "layers", "params": {"keep": [0]}, "label": "lm-1layer"}],
        "multiple_choice": {"data": str(ARC_EASY), "limit": 40},
        "errors": {"task": "multiple_choice"}, "outputs": {"tasks": ["multiple_choice"], "bootstrap": 200}})
    result = run(cfg)
    root = result.run_dir
    items = load_mc_dataset(str(ARC_EASY), limit=40).examples
    gold = np.array([e.gold for e in items])
    acc, norm = _direct_choices(tiny_llama, items)
    scores = {r["model"]: r for r in json.loads((root / "errors" / "scores.json").read_text())["rows"]}
    assert list(scores) == ["lm", "lm-int8", "lm-1layer"]
    assert scores["lm"]["acc"] == pytest.approx(np.mean(acc == gold))
    assert scores["lm"]["acc_norm"] == pytest.approx(np.mean(norm == gold)) and scores["lm"]["n"] == 40
    sets = {m: set(json.loads((root / "errors" / "error_sets" / f"{m}.json").read_text())["errors"])
            for m in scores}
    assert sets["lm"] == {e.id for e, a in zip(items, acc) if a != e.gold}
    rows = {r["model_j"]: r for r in json.loads((root / "outputs" / "outputs.json").read_text())["rows"]
            if r["model_i"] == "lm"}
    for other in ("lm-int8", "lm-1layer"):
        r = rows[other]
        assert (r["task"], r["n"]) == ("multiple_choice", 40)
        assert (r["correct_to_wrong"], r["wrong_to_correct"]) == (len(sets[other] - sets["lm"]),
                                                                  len(sets["lm"] - sets[other]))
        assert r["kl_mean"] > 0 and not r["kl_note"]
    # dropping a layer moves the model further than int8 does
    assert rows["lm-1layer"]["kl_mean"] > rows["lm-int8"]["kl_mean"]
    card = {r["model"]: r for r in json.loads((root / "models" / "model_card.json").read_text())["rows"]}
    assert [card[m]["layers"] for m in ("lm", "lm-int8", "lm-1layer")] == [2, 2, 1]
    assert "Multiple-choice accuracy" in (root / "report.html").read_text(encoding="utf-8")
    assert run(cfg).computed == []
    # acc_norm as the answer: both answers are cached, so nothing is scored again
    norm_cfg = parse_config({**cfg.model_dump(mode="json", by_alias=True, exclude_unset=True),
                             "multiple_choice": {"data": str(ARC_EASY), "limit": 40, "metric": "acc_norm"}})
    again = run(norm_cfg)
    assert not [a for a in again.computed if a.kind == "multiple-choice outputs"]
    sets = {m: set(json.loads((root / "errors" / "error_sets" / f"{m}.json").read_text())["errors"])
            for m in scores}
    assert sets["lm"] == {e.id for e, n in zip(items, norm) if n != e.gold}


@pytest.mark.slow
def test_the_data_distribution_of_language_models_across_sets(tiny_llama, tmp_path):
    """Deep kNN on the last token's hidden state: ARC-Easy's compared questions in distribution,
    its other questions the bank, PIQA's goals the OOD test; nothing fine-tuned."""
    from miniature import run
    from miniature.config import parse_config
    from miniature.taskdefs import TASKS

    piqa = SHARED / "piqa" / "valid.jsonl"
    need_shared(piqa)
    cfg = parse_config({
        "run_dir": str(tmp_path / "run"), "characteristics": ["distribution"],
        "models": [{"name": str(tiny_llama), "label": "lm"}, {"from": "lm", "method": "int8"}],
        "multiple_choice": {"data": str(ARC_EASY), "limit": 30, "bank": str(ARC_EASY)},
        "representation": {"task": "multiple_choice", "pooling": "last", "phases": ["before"]},
        "distribution": {"test": str(piqa), "test_limit": 25, "bank_limit": 80, "k": 5, "ks": [1, 5]}})
    task = TASKS.get("multiple_choice")
    bank = task.bank(cfg, 80)
    assert len(bank) == 80 and not set(bank.ids) & set(task.items(cfg).ids)
    result = run(cfg)
    rows = {r["model"]: r for r in json.loads((result.run_dir / "distribution" / "distribution_detectors.json")
                                              .read_text())["rows"] if r["k"] == 5}
    assert set(rows) == {"lm", "lm-int8"}
    assert (rows["lm"]["n_bank"], rows["lm"]["n_val"], rows["lm"]["n_test"]) == (80, 30, 25)
    assert 0 <= rows["lm"]["auroc"] <= 1
    assert not list((result.run_dir / "checkpoints").glob("cls-*")) and run(cfg).computed == []
