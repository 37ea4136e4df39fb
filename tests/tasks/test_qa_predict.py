"""Batched prediction: token-budget batches cover every window once, and batching/padding never
changes a window's logits (each window alone is the reference)."""

from __future__ import annotations

import numpy as np
import pytest

from miniature.batching import length_batches
from miniature.data import load_qa_dataset
from miniature.tasks.qa import predict_logits
from miniature.tasks.qa_features import encode_eval
from miniature.tasks.training import model_keys
from miniature.zoo import load_qa_model, load_tokenizer, resolve_model
from tests.conftest import DEV, need_shared


def test_length_batches_cover_every_window_within_budget():
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 384, size=1000)
    batches = length_batches(lengths, 64, 2048)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))  # each window exactly once
    for b in batches:
        assert len(b) <= 64
        assert len(b) == 1 or len(b) * lengths[b].max() <= 2048
    assert all(lengths[flat[i]] >= lengths[flat[i + 1]] for i in range(999))  # longest first
    assert [len(b) for b in length_batches(lengths, 64, None)][:-1] == [64] * 15


@pytest.mark.parametrize("family", ["bert", "t5"])
def test_batching_does_not_change_logits(tiny_model, family):
    need_shared(DEV)
    spec = resolve_model(str(tiny_model(family)))
    tok, model = load_tokenizer(spec), load_qa_model(spec)
    ds = load_qa_dataset(DEV, limit=30)
    feats = encode_eval(tok, ds.examples, 128, 48, 64, model_keys(model))
    one_s, one_e = predict_logits(model, tok, feats.inputs, batch_size=1)
    big_s, big_e = predict_logits(model, tok, feats.inputs, batch_size=16, max_tokens=1024)
    for a, b, c, d, f in zip(one_s, big_s, one_e, big_e, feats.inputs):
        assert len(a) == len(b) == len(f["input_ids"])
        np.testing.assert_allclose(a, b, atol=1e-4)
        np.testing.assert_allclose(c, d, atol=1e-4)


def test_precision_rule():
    import torch

    from miniature.tasks.training import autocast_dtype

    assert autocast_dtype("auto", "cpu") is None and autocast_dtype("fp32", "cuda") is None
    assert autocast_dtype("bf16", "cpu") == torch.bfloat16
    assert autocast_dtype("fp16", "cuda") == torch.float16
