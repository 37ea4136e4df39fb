"""Substitute sources against brute force: MLM top-K and perplexity-ranked combinations, embedding neighbours."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest
import torch

from miniature.attack_words import STOP_WORDS, is_stop_word
from miniature.candidates import (
    BPE_COMBINATIONS,
    EmbeddingSource,
    MLMSource,
    is_piece,
    piece_style,
    prepare,
    word_pieces,
)
from miniature.data.text import TextExample

TEXTS = ["The acting was superb but the screenplay felt unbelievably clumsy.",
         "A quiet, heartfelt drama about grief and forgiveness"]


@pytest.fixture(scope="module")
def tiny_mlm(minilm_tokenizer):
    from transformers import BertConfig, BertForMaskedLM, set_seed

    set_seed(3)
    cfg = BertConfig(vocab_size=len(minilm_tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64)
    return BertForMaskedLM(cfg).eval()


def test_mlm_single_piece_words_are_the_top_k_of_one_unmasked_pass(tiny_mlm, minilm_tokenizer):
    tok = minilm_tokenizer
    source = MLMSource(tiny_mlm, tok, k=12)
    words = TEXTS[0].split()
    raw = source([words])[0]
    enc = tok(" ".join(words), return_tensors="pt")
    with torch.no_grad():
        logits = tiny_mlm(**enc).logits[0]
    pieces = word_pieces(tok, words)
    at = 1  # after [CLS]
    checked = 0
    for w, p in zip(words, pieces):
        if len(p) == 1 and not is_stop_word(w):
            top = logits[at].topk(12).indices.tolist()
            toks = tok.convert_ids_to_tokens(top)
            expect = [t for i, t in zip(top, toks) if i not in tok.all_special_ids and not t.startswith("##")]
            assert raw[words.index(w)] == expect
            checked += 1
        at += len(p)
    assert checked >= 3


def test_mlm_multi_piece_words_rank_combinations_by_perplexity(tiny_mlm, minilm_tokenizer):
    tok = minilm_tokenizer
    source = MLMSource(tiny_mlm, tok, k=8)
    words = TEXTS[0].split()
    raw = source([words])[0]
    enc = tok(" ".join(words), return_tensors="pt")
    with torch.no_grad():
        logits = tiny_mlm(**enc).logits[0]
    pieces = word_pieces(tok, words)
    starts = np.cumsum([0] + [len(p) for p in pieces]) + 1
    multi = [i for i, p in enumerate(pieces) if len(p) > 1 and not is_stop_word(words[i])]
    assert multi, "the text should hold words of several pieces"
    for i in multi:
        top = [logits[starts[i] + j].topk(8).indices.tolist()[:4] for j in range(min(12, len(pieces[i])))]
        combos = [list(c) for c in product(*top)][:BPE_COMBINATIONS]
        ppl = []
        for c in combos:  # one at a time, as an independent check of the batched ranking
            with torch.no_grad():
                out = tiny_mlm(input_ids=torch.tensor([c])).logits[0]
            ppl.append(float(torch.exp(torch.nn.functional.cross_entropy(out, torch.tensor(c)))))
        order = np.argsort(ppl, kind="stable")
        expect = [tok.convert_tokens_to_string(tok.convert_ids_to_tokens(combos[o])) for o in order]
        assert raw[i] == expect


def test_embedding_neighbours_equal_brute_force(minilm_tokenizer):
    from miniature.zoo import load_encoder, resolve_model

    model = load_encoder(resolve_model("minilm"))
    tok = minilm_tokenizer
    source = EmbeddingSource(model, tok, k=10)
    words = ["movie", "terrible,", "Wonderful"]
    raw = source([words])[0]
    emb = model.get_input_embeddings().weight.detach().numpy().astype(np.float64)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    vocab = tok.convert_ids_to_tokens(list(range(len(emb))))
    for word, got in zip(words, raw):
        core = word.strip(",").lower()
        (wid,) = tok(core, add_special_tokens=False)["input_ids"]
        sims = emb @ emb[wid]
        ok = [i for i, t in enumerate(vocab) if i != wid and i not in tok.all_special_ids and not t.startswith("##")
              and len(t) > 1 and t.isalpha() and t not in STOP_WORDS]
        best = sorted(ok, key=lambda i: (-sims[i], i))[:10]
        suffix = "," if word.endswith(",") else ""
        assert got == [vocab[i] + suffix for i in best]


def test_prepared_substitutes_are_filtered(minilm_tokenizer):
    subs = ["the", "film", "##ing", "Film", "movie", "movie", "", "picture"]
    examples = [TextExample("a", "The film was fine", 1)]
    ex = prepare(examples, lambda texts, progress: [[subs for _ in ws] for ws in texts])[0]
    assert ex.candidates[0] == ()  # "The" is a stop word: never attacked
    # stop words, pieces, the word itself (any case), repeats and empty strings are dropped
    assert ex.candidates[1] == ("movie", "picture")
    assert ex.candidates[3] == ("film", "movie", "picture")
    assert all(s not in STOP_WORDS for c in ex.candidates for s in c)


def test_capitalised_words_get_capitalised_substitutes():
    ex = prepare([TextExample("a", "Susan sang", 1)], lambda texts, progress: [[["sally"], ["sung"]] for _ in texts])[0]
    assert ex.candidates == (("Sally",), ("sung",))


def test_piece_styles(minilm_tokenizer):
    assert piece_style(minilm_tokenizer) == "wordpiece"
    assert is_piece("##ing", "wordpiece") and not is_piece("film", "wordpiece")
    assert is_piece("ing", "sentencepiece") and not is_piece("\u2581film", "sentencepiece")
    assert is_piece("ing", "bytelevel") and not is_piece("\u0120film", "bytelevel")
