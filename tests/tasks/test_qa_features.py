"""Tokenised windows: span labels recover the answers; windows cover the context; queries truncated."""

from __future__ import annotations

from miniature.data import load_qa_dataset
from miniature.scoring import normalize_answer
from miniature.tasks.qa_features import encode_eval, encode_train, truncate_questions
from tests.conftest import TRAIN, need_shared

KEYS = {"input_ids", "attention_mask", "token_type_ids"}


def test_train_labels_point_at_the_answer(minilm_tokenizer):
    need_shared(TRAIN)
    ds = load_qa_dataset(TRAIN, limit=300)
    tok = minilm_tokenizer
    feats = encode_train(tok, ds.examples, 128, 48, 64, KEYS)
    assert len(feats) > len(ds)  # long contexts overflow into several windows
    answered = hits = 0
    for f in feats:
        assert len(f["input_ids"]) <= 128
        if f["start_positions"] == 0:
            assert f["end_positions"] == 0
            continue
        answered += 1
        span = tok.decode(f["input_ids"][f["start_positions"] : f["end_positions"] + 1])
        texts = {normalize_answer(a.text) for e in ds.examples for a in e.answers}
        hits += normalize_answer(span).replace(" ", "") in {t.replace(" ", "") for t in texts}
    assert answered > 200 and hits / answered > 0.97  # the rest: answers cut mid-word by tokens


def test_eval_windows_cover_every_context_char_and_map_back(minilm_tokenizer):
    need_shared(TRAIN)
    ds = load_qa_dataset(TRAIN, limit=40)
    feats = encode_eval(minilm_tokenizer, ds.examples, 96, 32, 64, KEYS - {"token_type_ids"})
    assert "token_type_ids" not in feats.inputs[0]
    for i, ex in enumerate(ds.examples):
        covered = set()
        for f in range(len(feats)):
            if feats.example_index[f] == i:
                for s, e in zip(feats.starts[f], feats.ends[f]):
                    if s >= 0:
                        covered.update(range(s, e))
        non_space = {c for c, ch in enumerate(ex.context) if not ch.isspace()}
        assert len(non_space - covered) / len(non_space) < 0.01  # only chars the tokenizer drops


def test_questions_truncated_to_max_query_length(minilm_tokenizer):
    long_q = " ".join(["word"] * 100)
    short, kept = truncate_questions(minilm_tokenizer, [long_q, "  short one?"], 10)
    assert len(minilm_tokenizer(short, add_special_tokens=False)["input_ids"]) == 10
    assert kept == "short one?"
