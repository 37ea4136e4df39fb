"""Embedding extraction: batched output equals one-point-at-a-time forwards, pooling, layers, T5, files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from miniature.data.squad import load_qa_dataset
from miniature.exceptions import ConfigError
from miniature.tasks.embed import embed, embed_to_npy, encode_points, encoder_of
from miniature.tasks.qa_features import encode_eval
from miniature.tasks.training import model_keys
from tests.conftest import DEV, need_shared


@pytest.fixture(scope="module")
def dev40():
    need_shared(DEV)
    return load_qa_dataset(DEV, limit=40).examples


def _load(folder):
    from transformers import AutoModel, AutoTokenizer

    return AutoModel.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)


def one_by_one(model, encoded, layer=-1):
    """Reference: every point through the model alone, unpadded: its token vectors at `layer`."""
    net = encoder_of(model)
    keys = model_keys(net)
    out = []
    with torch.no_grad():
        for i in range(len(encoded)):
            a, b = encoded.offsets[i], encoded.offsets[i + 1]
            inputs = {"input_ids": torch.tensor(encoded.input_ids[a:b], dtype=torch.long)[None]}
            if encoded.token_type_ids is not None and "token_type_ids" in keys:
                inputs["token_type_ids"] = torch.tensor(encoded.token_type_ids[a:b], dtype=torch.long)[None]
            res = net(**inputs, output_hidden_states=True)
            out.append(res.hidden_states[layer][0].numpy())
    return out


@pytest.mark.parametrize("family", ["bert", "distilbert", "roberta"])
def test_cls_and_mean_equal_unbatched_forwards(family, tiny_model, dev40):
    model, tok = _load(tiny_model(family))
    enc = encode_points(tok, dev40, "pair", 128, 32)
    ref = one_by_one(model, enc)
    cls = embed(model, tok, enc, "cls", batch_size=7)
    mean = embed(model, tok, enc, "mean", max_tokens=300)
    assert cls.dtype == np.float32 and cls.shape == (40, model.config.hidden_size if family != "distilbert" else 32)
    np.testing.assert_allclose(cls, np.stack([r[0] for r in ref]), atol=1e-5)
    np.testing.assert_allclose(mean, np.stack([r.mean(0) for r in ref]), atol=1e-5)
    last = embed(model, tok, enc, "last", batch_size=5)  # padded batches: the last *real* token
    np.testing.assert_allclose(last, np.stack([r[-1] for r in ref]), atol=1e-5)


def test_layer_option_and_its_bounds(tiny_model, dev40):
    model, tok = _load(tiny_model("bert"))
    enc = encode_points(tok, dev40[:10], "pair", 128, 32)
    ref = one_by_one(model, enc, layer=1)
    np.testing.assert_allclose(embed(model, tok, enc, "cls", layer=1), np.stack([r[0] for r in ref]), atol=1e-5)
    np.testing.assert_allclose(embed(model, tok, enc, "cls", layer=-1), embed(model, tok, enc, "cls", layer=2))
    with pytest.raises(ConfigError, match="the model has 2 layers"):
        embed(model, tok, enc, layer=3)


def test_t5_encoder_has_no_cls_so_it_is_mean_pooled(tiny_model, dev40):
    from transformers import AutoTokenizer, T5Config, T5Model

    folder = tiny_model("t5")
    model = T5Model(T5Config.from_pretrained(folder)).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    tok.cls_token = None  # a T5 vocabulary has no CLS token
    enc = encode_points(tok, dev40[:12], "pair", 128, 32)
    assert (enc.cls_position == -1).all()
    ref = one_by_one(model, enc)
    np.testing.assert_allclose(embed(model, tok, enc, "cls"), np.stack([r.mean(0) for r in ref]), atol=1e-5)


def test_pair_is_the_qa_models_first_window(minilm_tokenizer, dev40):
    enc = encode_points(minilm_tokenizer, dev40, "pair", 96, 16)
    feats = encode_eval(minilm_tokenizer, dev40, 96, 32, 16, {"input_ids"})
    first = {}
    for i, ex in enumerate(feats.example_index):
        first.setdefault(int(ex), feats.inputs[i]["input_ids"])
    for i in range(len(dev40)):
        assert enc.input_ids[enc.offsets[i]: enc.offsets[i + 1]].tolist() == first[i]
    q = encode_points(minilm_tokenizer, dev40, "question", 96, 16)
    c = encode_points(minilm_tokenizer, dev40, "context", 96, 16)
    assert q.lengths.tolist() == [min(96, len(minilm_tokenizer(e.question)["input_ids"])) for e in dev40]
    assert c.lengths.max() == 96 and (q.cls_position == 0).all()


def test_npy_file_is_complete_or_absent(tiny_model, dev40, tmp_path, monkeypatch):
    model, tok = _load(tiny_model("bert"))
    enc = encode_points(tok, dev40, "pair", 128, 32)
    path = embed_to_npy(tmp_path / "e.npy", model, tok, enc, batch_size=8)
    np.testing.assert_array_equal(np.load(path), embed(model, tok, enc))
    assert [p.name for p in tmp_path.iterdir()] == ["e.npy"]

    import miniature.tasks.embed as mod

    calls = {"n": 0}
    real = mod.pool

    def crash(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(mod, "pool", crash)
    with pytest.raises(KeyboardInterrupt):
        embed_to_npy(tmp_path / "f.npy", model, tok, enc, batch_size=8)
    assert [p.name for p in tmp_path.iterdir()] == ["e.npy"]  # no half-written f.npy, no temp file


MEMORY_SCRIPT = r"""
import resource, sys
import numpy as np
from transformers import BertConfig, BertModel
from miniature.tasks.embed import Encoded, embed_to_npy

n, d = 130_000, 1024
model = BertModel(BertConfig(vocab_size=64, hidden_size=d, num_hidden_layers=0, num_attention_heads=8,
                             intermediate_size=8)).eval()
lengths = 4 + np.arange(n) % 5
offsets = np.zeros(n + 1, dtype=np.int64); np.cumsum(lengths, out=offsets[1:])
rng = np.random.default_rng(0)
enc = Encoded(rng.integers(1, 64, offsets[-1]).astype(np.int32), None, offsets, np.zeros(n, dtype=np.int64))
class Tok: pad_token_id = 0
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
embed_to_npy(sys.argv[1], model, Tok(), enc, batch_size=512, max_tokens=8192)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((peak - before) * 1024)
"""


@pytest.mark.slow
def test_130k_by_1024_needs_at_most_twice_its_size(tmp_path):
    """130,000 x 1,024 float32 is 532 MB: extraction's peak memory must grow by less than twice that."""
    import subprocess
    import sys

    out = tmp_path / "big.npy"
    res = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(out)], capture_output=True, text=True,
                         timeout=600, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    grown = int(res.stdout.strip().splitlines()[-1])
    size = 130_000 * 1024 * 4
    assert np.load(out, mmap_mode="r").shape == (130_000, 1024)
    assert grown < 2 * size, f"peak grew {grown / 1e6:.0f} MB for a {size / 1e6:.0f} MB matrix"
