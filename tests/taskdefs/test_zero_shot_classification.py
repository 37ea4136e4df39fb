"""Zero-shot classification by label words: lm-eval's sst2 prompt (its own task YAML on the same
SST-2 rows), class probabilities against a direct per-word computation (no cache), the attack's
target scoring word sequences as the clean path does, and a study of a tiny Llama and its int8
variant on real SST-2 through errors, outputs and BERT-Attack, nothing fine-tuned."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from miniature.data.text import load_text_dataset
from miniature.tasks.mc import encode_pair
from miniature.tasks.prompted import PromptClassifier, label_word_probs, prompt_items
from tests.conftest import SHARED, need_shared, tiny_llama_lm

SST2 = SHARED / "sst2" / "dev.tsv"
PROMPT = "{text}\nQuestion: Is this sentence positive or negative?\nAnswer:"


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    need_shared(SST2)
    lines = SST2.read_text().splitlines()[1:400] + [PROMPT.replace("{text}", "") + " positive negative"] * 20
    folder = tmp_path_factory.mktemp("tiny-zs")
    return (folder, *tiny_llama_lm(folder, lines, 600, 3.0))


def test_the_sst2_reader_and_prompt_are_lm_evals(tmp_path):
    lm_eval = pytest.importorskip("lm_eval")
    from tests.data.test_mc_readers import _lm_eval_task

    need_shared(SST2)
    data = load_text_dataset(str(SST2))
    assert len(data) == 872 and sum(e.label for e in data.examples) == 444  # the README's counts
    rows = [{"sentence": e.text, "label": e.label, "idx": k} for k, e in enumerate(data.examples[:100])]
    task = _lm_eval_task(Path(lm_eval.__file__).parent / "tasks" / "glue" / "sst2" / "default.yaml", tmp_path,
                         {"test": rows})
    items = prompt_items([e.id for e in data.examples[:100]], [e.text for e in data.examples[:100]], PROMPT,
                         ["negative", "positive"])
    for doc, item, e in zip(task.test_docs(), items, data.examples):
        assert task.fewshot_context(doc, 0) == item.context
        assert tuple(task.doc_to_choice(doc)) == item.options and task.doc_to_target(doc) == e.label


def test_label_word_probabilities_equal_a_direct_computation(tiny_lm):
    _, tok, model = tiny_lm
    data = load_text_dataset(str(SST2)).examples[:12]
    items = prompt_items([e.id for e in data], [e.text for e in data], PROMPT, ["negative", "positive"])
    got = label_word_probs(model, tok, items)
    for item, row in zip(items, got):
        ll = []
        for word in item.options:
            ctx, cont = encode_pair(tok, item.context, " " + word)
            with torch.no_grad():
                lp = torch.log_softmax(model(torch.tensor([ctx + cont])).logits[0].double(), -1)
            ll.append(sum(float(lp[len(ctx) - 1 + t, c]) for t, c in enumerate(cont)))
        want = np.exp(np.array(ll) - max(ll))
        np.testing.assert_allclose(row, want / want.sum(), atol=1e-5)


def test_the_attack_target_scores_word_sequences_as_the_clean_path(tiny_lm):
    _, tok, model = tiny_lm
    target = PromptClassifier(model, tok, PROMPT, ["negative", "positive"], max_length=256)
    data = load_text_dataset(str(SST2)).examples[:40]
    same = []
    for e in data:
        words = e.text.split()
        body = [t for ids in target.text_ids(words) for t in ids]
        whole = " ".join(words)
        if tok(whole + "\n", add_special_tokens=False)["input_ids"][: len(body)] == body:
            same.append((e, body, whole))
    assert len(same) >= 10
    got = target.probs([b for _, b, _ in same])
    want = label_word_probs(model, tok, prompt_items([e.id for e, _, _ in same], [w for _, _, w in same], PROMPT,
                                                     ["negative", "positive"]))
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert target.queries == len(same)


@pytest.mark.slow
def test_a_zero_shot_study_on_sst2_with_the_attack(tiny_lm, tmp_path, minilm_tokenizer):
    from miniature import run
    from miniature.config import parse_config

    folder, tok, model = tiny_lm
    cfg = parse_config({
        "run_dir": str(tmp_path / "run"), "characteristics": ["errors", "outputs", "adversarial"],
        "models": [{"name": str(folder), "label": "lm"}, {"from": "lm", "method": "int8"}],
        "classification": {"zero_shot": True, "test": str(SST2), "test_limit": 24, "max_length": 128},
        "errors": {"task": "classification"}, "outputs": {"tasks": ["classification"], "bootstrap": 200},
        "adversarial": {"attack_model": "minilm", "candidates": "embedding", "k": 6, "top_words": None}})
    result = run(cfg)
    root = result.run_dir
    test = load_text_dataset(str(SST2))
    scores = {r["model"]: r for r in json.loads((root / "errors" / "scores.json").read_text())["rows"]}
    ids = json.loads((root / "errors" / "error_sets" / "lm.json").read_text())
    by_id = {e.id: e for e in test.examples}
    # the error set against a direct computation on the same sampled texts
    outputs = json.loads((root / "outputs" / "outputs.json").read_text())["rows"][0]
    n = outputs["n"]
    assert n == 24 and scores["lm"]["n"] == 24
    from miniature.checkpoints import classification_samples

    sample = classification_samples(cfg, False)[1].examples
    probs = label_word_probs(model, tok, prompt_items([e.id for e in sample], [e.text for e in sample], PROMPT,
                                                      ["negative", "positive"]))
    wrong = {e.id for e, p in zip(sample, probs) if int(np.argmax(p)) != by_id[e.id].label}
    assert set(ids["errors"]) == wrong
    assert scores["lm"]["accuracy"] == pytest.approx(1 - len(wrong) / 24)
    table3 = {r["target_model"]: r for r in json.loads((root / "adversarial" / "adversarial.json").read_text())["rows"]}
    assert set(table3) == {"lm", "lm-int8"}
    # the attack reads each text as its words (BERT-Attack's view: whitespace-split, single spaces)
    target = PromptClassifier(model, tok, PROMPT, ["negative", "positive"], max_length=128)
    before = target.probs([[t for ids in target.text_ids(e.text.split()) for t in ids] for e in sample])
    labels = np.array([by_id[e.id].label for e in sample])
    assert table3["lm"]["original_accuracy"] == pytest.approx(np.mean(before.argmax(1) == labels))
    assert table3["lm"]["after_attack_accuracy"] <= table3["lm"]["original_accuracy"]
    assert not list((root / "checkpoints").glob("cls-*"))  # nothing fine-tuned
    assert run(cfg).computed == []
