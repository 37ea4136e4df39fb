"""compress: each method checked against an independent computation, saved, reloaded, and refused on bad input."""

from __future__ import annotations

import inspect
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from miniature.compress import (
    METHODS,
    check_params,
    derive,
    distil_train,
    is_derived,
    load_derived,
    recover,
    save_derived,
    sparsity,
)
from miniature.compress.train import collate, kd_loss
from miniature.exceptions import ConfigError, ModelError
from tests.conftest import DEV, need_shared

INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny models: two threads spin against each other (and any parallel job) for no gain
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def texts():
    need_shared(DEV)
    data = json.loads(DEV.read_text(encoding="utf-8"))["data"]
    paragraphs = [p for article in data[:3] for p in article["paragraphs"]]
    questions = [qa["question"] for p in paragraphs for qa in p["qas"]]
    return {"questions": questions[:40], "contexts": [p["context"] for p in paragraphs[:8]]}


def tiny(tok, head: str = "qa", family: str = "bert", seed: int = 0):
    from transformers import (
        AutoModelForQuestionAnswering,
        AutoModelForSequenceClassification,
        BertConfig,
        DistilBertConfig,
    )

    torch.manual_seed(seed)
    if family == "bert":
        cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                         intermediate_size=64)
    else:
        cfg = DistilBertConfig(vocab_size=len(tok), dim=32, n_layers=4, n_heads=4, hidden_dim=64)
    auto = AutoModelForQuestionAnswering if head == "qa" else AutoModelForSequenceClassification
    model = auto.from_config(cfg).eval()
    with torch.no_grad():  # HF starts biases at zero, which would hide a bias sliced wrongly
        for m in model.modules():
            if isinstance(m, nn.Linear) and m.bias is not None:
                m.bias.normal_(0, 0.05)
    return model


def batch_of(tok, texts, model=None):
    keys = set(INPUTS) if model is None else set(INPUTS) & set(inspect.signature(model.forward).parameters)
    enc = tok(texts["questions"][:6], padding=True, truncation=True, max_length=32, return_tensors="pt")
    return {k: v for k, v in enc.items() if k in keys}


def encoder_linears(model) -> list[nn.Linear]:
    """Written out per family here, apart from the package's own lookup."""
    layers = model.bert.encoder.layer if hasattr(model, "bert") else model.distilbert.transformer.layer
    return [m for layer in layers for m in layer.modules() if isinstance(m, nn.Linear)]


def outputs(model, batch) -> list[torch.Tensor]:
    with torch.no_grad():
        out = model(**batch)
    return [v for k, v in out.items() if k.endswith(("logits", "last_hidden_state"))]


def folder_bytes(folder) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# ---------------------------------------------------------------- int8


@pytest.mark.slow
def test_int8_on_minilm_is_smaller_and_close(minilm_tokenizer, texts, tmp_path):
    from transformers import AutoModel

    from miniature.zoo import minilm_source

    tok = minilm_tokenizer
    model = AutoModel.from_pretrained(minilm_source()).eval()
    small = derive(model, "int8", {})
    assert all(type(m) is nn.Linear for m in encoder_linears_bare(model))  # the input is untouched
    plain = save_derived(model, tok, tmp_path / "fp32", {"method": "none"})
    quant = save_derived(small, tok, tmp_path / "int8", {"method": "int8", "params": {}})
    assert folder_bytes(quant) < 0.75 * folder_bytes(plain)
    sentences = texts["questions"][:12] + texts["contexts"][:4]
    enc = tok(sentences, padding=True, truncation=True, max_length=128, return_tensors="pt")

    def cls(m) -> torch.Tensor:
        with torch.no_grad():
            return m(**enc).last_hidden_state[:, 0]

    ref = cls(model)
    cos = nn.functional.cosine_similarity(ref, cls(small), dim=-1)
    # measured: per-tensor int8 mean 0.970, min 0.961; per-channel mean 0.984, min 0.979
    assert cos.mean() > 0.96 and cos.min() > 0.95, cos
    assert cos.max() < 1 - 1e-6  # really quantized
    fine = nn.functional.cosine_similarity(ref, cls(derive(model, "int8", {"per_channel": True})), dim=-1)
    assert fine.mean() > cos.mean() and fine.min() > 0.97, fine
    reloaded = load_derived(quant, AutoModel)
    assert torch.equal(cls(reloaded), cls(small))
    assert json.loads((quant / "miniature_compress.json").read_text())["structure"]["int8"] is True


def encoder_linears_bare(model) -> list[nn.Module]:
    return [m for layer in model.encoder.layer for m in layer.modules() if isinstance(m, nn.Linear)]


# ---------------------------------------------------------------- unstructured pruning


@pytest.mark.parametrize("share, ties", [(1 / 3, False), (0.9, False), (0.5, True)])
def test_prune_global_is_exact_and_drops_the_smallest(minilm_tokenizer, share, ties):
    model = tiny(minilm_tokenizer)
    if ties:  # a few distinct magnitudes: the count must still be exact, ties broken by position
        with torch.no_grad():
            for lin in encoder_linears(model):
                lin.weight.copy_((lin.weight * 50).round() / 50)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pruned = derive(model, "prune", {"sparsity": share, "scope": "global"})
    orig = np.concatenate([m.weight.detach().numpy().ravel() for m in encoder_linears(model)])
    new = np.concatenate([m.weight.detach().numpy().ravel() for m in encoder_linears(pruned)])
    n_drop = math.floor(share * orig.size)
    expected = np.zeros(orig.size, dtype=bool)
    expected[np.argsort(np.abs(orig), kind="stable")[:n_drop]] = True
    assert int((new == 0).sum()) == n_drop
    np.testing.assert_array_equal(new == 0, expected)
    assert np.abs(orig[new == 0]).max() <= np.abs(orig[new != 0]).min()
    np.testing.assert_array_equal(new[new != 0], orig[new != 0])
    assert sparsity(pruned) == n_drop / orig.size
    for key, value in pruned.state_dict().items():  # embeddings, biases, task head stay as they were
        if not (key.startswith("bert.encoder.") and key.endswith(".weight") and value.dim() == 2):
            assert torch.equal(value, before[key]), key
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # input untouched


def test_prune_per_layer_gives_each_linear_its_share(minilm_tokenizer):
    model = tiny(minilm_tokenizer, "cls", "distilbert")
    pruned = derive(model, "prune", {"sparsity": 0.66, "scope": "layer"})
    total = zeros = 0
    for old, new in zip(encoder_linears(model), encoder_linears(pruned)):
        w, v = old.weight.detach().numpy().ravel(), new.weight.detach().numpy().ravel()
        n_drop = math.floor(0.66 * w.size)
        assert int((v == 0).sum()) == n_drop
        assert set(np.flatnonzero(v == 0)) == set(np.argsort(np.abs(w), kind="stable")[:n_drop])
        total, zeros = total + w.size, zeros + n_drop
    assert sparsity(pruned) == zeros / total


# ---------------------------------------------------------------- head pruning


def importance_np(model) -> np.ndarray:
    """(layers, heads): L2 norm of each head's q/k/v rows and output-projection columns."""
    rows = []
    for layer in model.bert.encoder.layer:
        sa, d = layer.attention.self, layer.attention.self.attention_head_size
        sq = sum((getattr(sa, n).weight.detach().numpy().reshape(-1, d, 32) ** 2).sum(axis=(1, 2))
                 for n in ("query", "key", "value"))
        out = layer.attention.output.dense.weight.detach().numpy()
        rows.append(np.sqrt(sq + (out.reshape(32, -1, d) ** 2).sum(axis=(0, 2))))
    return np.array(rows)


def greedy_np(imp: np.ndarray, n_prune: int) -> list[set[int]]:
    left, pruned = [imp.shape[1]] * imp.shape[0], [set() for _ in range(imp.shape[0])]
    for flat in np.argsort(imp.ravel(), kind="stable"):
        layer, head = divmod(int(flat), imp.shape[1])
        if sum(map(len, pruned)) < n_prune and left[layer] > 1:
            left[layer] -= 1
            pruned[layer].add(head)
    return pruned


@pytest.mark.parametrize("share, shrink_layer0", [(0.4, False), (0.5, True)])
def test_heads_prunes_the_least_important(minilm_tokenizer, texts, share, shrink_layer0):
    tok = minilm_tokenizer
    model = tiny(tok)
    if shrink_layer0:  # every head of layer 0 is least important: the last one must stay
        with torch.no_grad():
            for lin in encoder_linears(model)[:4]:
                lin.weight.mul_(0.01)
    pruned = derive(model, "heads", {"share": share})
    imp = importance_np(model)
    expect = greedy_np(imp, math.floor(share * imp.size))
    assert sum(map(len, expect)) == math.floor(share * imp.size)
    if shrink_layer0:
        assert expect[0] == {0, 1, 2, 3} - {int(imp[0].argmax())}
    masked = tiny(tok)
    masked.load_state_dict(model.state_dict())
    for i, (old, new) in enumerate(zip(model.bert.encoder.layer, pruned.bert.encoder.layer)):
        kept = [h for h in range(4) if h not in expect[i]]
        rows = [h * 8 + j for h in kept for j in range(8)]
        assert kept
        assert new.attention.self.num_attention_heads == len(kept)
        for name in ("query", "key", "value"):
            lin = getattr(new.attention.self, name)
            assert lin.out_features == len(kept) * 8
            assert torch.equal(lin.weight, getattr(old.attention.self, name).weight[rows])
        assert torch.equal(new.attention.output.dense.weight, old.attention.output.dense.weight[:, rows])
        with torch.no_grad():  # a head whose values are zero adds nothing: the same function
            value = masked.bert.encoder.layer[i].attention.self.value
            for h in expect[i]:
                value.weight[h * 8 : (h + 1) * 8] = 0
                value.bias[h * 8 : (h + 1) * 8] = 0
    batch = batch_of(tok, texts)
    for a, b in zip(outputs(pruned, batch), outputs(masked, batch)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- layer dropping and distillation


@pytest.mark.parametrize("family, keep, kept", [("bert", "every_other", [0, 2]), ("distilbert", [3, 1], [1, 3])])
def test_layers_keeps_the_named_layers(minilm_tokenizer, texts, family, keep, kept):
    model = tiny(minilm_tokenizer, "cls", family)
    small = derive(model, "layers", {"keep": keep})
    assert small.config.num_hidden_layers == len(kept)
    layers = lambda m: m.bert.encoder.layer if family == "bert" else m.distilbert.transformer.layer
    assert len(layers(small)) == len(kept) and len(layers(model)) == 4
    for new, i in zip(layers(small), kept):
        old = layers(model)[i].state_dict()
        assert all(torch.equal(v, old[k]) for k, v in new.state_dict().items())
    assert outputs(small, batch_of(minilm_tokenizer, texts, small))[0].shape[-1] == 2


def test_distil_student_starts_from_evenly_spread_layers(minilm_tokenizer):
    teacher = tiny(minilm_tokenizer)
    student = derive(teacher, "distil", {"layers": 2})
    assert student.config.num_hidden_layers == 2 and teacher.config.num_hidden_layers == 4
    for new, i in zip(student.bert.encoder.layer, [0, 3]):
        assert torch.equal(new.attention.self.query.weight, teacher.bert.encoder.layer[i].attention.self.query.weight)


def xor_rows(tok, n: int, seed: int) -> list[dict]:
    """Random token strings; label 1 when exactly one of two marker tokens occurs."""
    g, rows = torch.Generator().manual_seed(seed), []
    for _ in range(n):
        body = torch.randint(2001, 2050, (int(torch.randint(6, 14, (1,), generator=g)),), generator=g).tolist()
        a, b = (torch.rand(2, generator=g) < 0.5).tolist()
        pos = torch.randperm(len(body), generator=g)[:2].tolist()
        body[pos[0]] = 2000 if a else body[pos[0]]
        body[pos[1]] = 1999 if b else body[pos[1]]
        ids = [tok.cls_token_id, *body, tok.sep_token_id]
        rows.append({"input_ids": ids, "attention_mask": [1] * len(ids), "token_type_ids": [0] * len(ids),
                     "labels": int(a != b)})
    return rows


@pytest.mark.slow
def test_distilled_student_agrees_with_teacher_more_than_untrained(minilm_tokenizer):
    tok = minilm_tokenizer
    train, held = xor_rows(tok, 512, 0), xor_rows(tok, 300, 1)
    # seed 0: a teacher that is not constant (on random tokens it learns an opinion, not the rule)
    teacher = recover(tiny(tok, "cls"), train, tok, max_steps=120, learning_rate=2e-3, batch_size=32, seed=0)
    held_batch = collate(held, tok.pad_token_id, INPUTS)

    def predictions(m) -> torch.Tensor:
        return outputs(m, held_batch)[0].argmax(-1)

    wanted = predictions(teacher)
    assert 0.1 < wanted.float().mean() < 0.9  # a teacher with an opinion
    untrained = derive(teacher, "distil", {"layers": 1})
    before = (predictions(untrained) == wanted).float().mean().item()
    teacher_state = {k: v.clone() for k, v in teacher.state_dict().items()}
    student = distil_train(teacher, untrained, train, tok, alpha=0.0, max_steps=150, learning_rate=2e-3,
                           batch_size=32)
    after = (predictions(student) == wanted).float().mean().item()
    assert after > before + 0.05 and after >= 0.9, (before, after)
    assert all(torch.equal(v, teacher_state[k]) for k, v in teacher.state_dict().items())


def test_kd_loss_is_the_tempered_kl():
    g = torch.Generator().manual_seed(0)
    s1, t1, s2, t2 = (torch.randn(3, 5, generator=g) for _ in range(4))
    temp = 2.5

    def kl(s, t):
        p = np.exp(t.numpy() / temp) / np.exp(t.numpy() / temp).sum(-1, keepdims=True)
        q = np.exp(s.numpy() / temp) / np.exp(s.numpy() / temp).sum(-1, keepdims=True)
        return (p * (np.log(p) - np.log(q))).sum(-1).mean()

    expected = temp**2 * (kl(s1, t1) + kl(s2, t2)) / 2
    assert kd_loss([s1, s2], [t1, t2], temp).item() == pytest.approx(expected, rel=1e-5)
    assert kd_loss([t1], [t1], temp).item() == pytest.approx(0.0, abs=1e-6)


def qa_rows(tok, texts) -> list[dict]:
    enc = tok(texts["questions"][:16], [texts["contexts"][i % 8] for i in range(16)], truncation=True,
              max_length=48)
    return [{**{k: enc[k][i] for k in INPUTS}, "start_positions": 5 + i % 7, "end_positions": 8 + i % 7}
            for i in range(16)]


def test_recover_keeps_the_sparsity(minilm_tokenizer, texts):
    tok = minilm_tokenizer
    pruned = derive(tiny(tok), "prune", {"sparsity": 0.6})
    zeros = [m.weight.detach() == 0 for m in encoder_linears(pruned)]
    start = [m.weight.detach().clone() for m in encoder_linears(pruned)]
    level = sparsity(pruned)
    recover(pruned, qa_rows(tok, texts), tok, max_steps=4, learning_rate=1e-3, batch_size=4)
    assert sparsity(pruned) == level
    for z, w0, m in zip(zeros, start, encoder_linears(pruned)):
        assert torch.equal(m.weight.detach() == 0, z)
    assert any(not torch.equal(w0, m.weight.detach()) for w0, m in zip(start, encoder_linears(pruned)))


# ---------------------------------------------------------------- save and reload


ROUND_TRIPS = [
    ("bert", "int8", {}),
    ("bert", "prune", {"sparsity": 0.5}),
    ("bert", "heads", {"share": 0.5}),
    ("bert", "layers", {"keep": "every_other"}),
    ("bert", "distil", {"layers": 2}),
    ("distilbert", "heads", {"share": 0.3}),
    ("distilbert", "int8", {"per_channel": True}),
]


@pytest.mark.parametrize("family, method, params", ROUND_TRIPS)
def test_saved_model_reloads_with_the_same_outputs(minilm_tokenizer, texts, tmp_path, family, method, params):
    from transformers import AutoModelForQuestionAnswering

    model = derive(tiny(minilm_tokenizer, "qa", family), method, params)
    folder = save_derived(model, minilm_tokenizer, tmp_path / "m", {"method": method, "params": params})
    assert is_derived(folder) and not is_derived(tmp_path)
    assert not list(tmp_path.glob(".*tmp"))  # nothing half-written left beside it
    recipe = json.loads((folder / "miniature_compress.json").read_text())
    assert recipe["method"] == method and recipe["params"] == params
    if method == "heads":
        assert sum(4 - len(k) for k in recipe["structure"]["kept_heads"]) == math.floor(params["share"] * 16)
    reloaded = load_derived(folder, AutoModelForQuestionAnswering)
    schemes = {m.weight().qscheme() for m in reloaded.modules() if callable(getattr(m, "weight", None))}
    assert schemes == {m.weight().qscheme() for m in model.modules() if callable(getattr(m, "weight", None))}
    batch = batch_of(minilm_tokenizer, texts, model)
    for a, b in zip(outputs(model, batch), outputs(reloaded, batch), strict=True):
        assert torch.equal(a, b)


def test_chained_heads_then_layers_then_int8_round_trip(minilm_tokenizer, texts, tmp_path):
    from transformers import AutoModelForSequenceClassification

    model = derive(derive(derive(tiny(minilm_tokenizer, "cls"), "heads", {"share": 0.5}),
                          "layers", {"keep": [1, 2]}), "int8", {})
    folder = save_derived(model, minilm_tokenizer, tmp_path / "m", {})
    assert [s["method"] for s in json.loads((folder / "miniature_compress.json").read_text())["steps"]] == [
        "heads", "layers", "int8"]
    batch = batch_of(minilm_tokenizer, texts)
    assert torch.equal(outputs(model, batch)[0],
                       outputs(load_derived(folder, AutoModelForSequenceClassification), batch)[0])


# ---------------------------------------------------------------- bad input


BAD = [
    ("zip", {}, ConfigError, "unknown compression method 'zip'"),
    ("prune", {"sparsity": 1.0}, ConfigError, "prune.sparsity must be a number in [0, 1), got 1.0"),
    ("prune", {"sparsity": -0.1}, ConfigError, "prune.sparsity must be a number in [0, 1)"),
    ("prune", {}, ConfigError, "prune needs parameter 'sparsity'"),
    ("prune", {"sparsity": 0.5, "scope": "block"}, ConfigError, "prune.scope must be one of global, layer"),
    ("prune", {"sparsity": 0.5, "amount": 1}, ConfigError, "unknown prune parameter 'amount'; known: scope, sparsity"),
    ("int8", {"bits": 4}, ConfigError, "unknown int8 parameter 'bits'; known: per_channel"),
    ("layers", {"keep": [0, 7]}, ModelError, "layers.keep names layer 7 but the model has 4 layers (0-3)"),
    ("layers", {"keep": []}, ConfigError, "layers.keep is empty"),
    ("layers", {"keep": [1, 2, 1]}, ConfigError, "layers.keep names layer 1 more than once"),
    ("layers", {"keep": "odd"}, ConfigError, "layers.keep must be \"every_other\" or a list"),
    ("distil", {"layers": 4}, ConfigError, "a student must be smaller than its teacher (use 1-3)"),
    ("distil", {"layers": 0}, ConfigError, "distil.layers must be an integer >= 1"),
    ("heads", {"share": 0.0}, ConfigError, "heads.share must be a number in (0, 1)"),
    ("heads", {"share": 1}, ConfigError, "heads.share must be a number in (0, 1)"),
    ("heads", {"share": 0.9}, ConfigError, "would prune 14 of 16 heads but each of the 4 layers keeps one"),
]


@pytest.mark.parametrize("method, params, error, message", BAD)
def test_bad_input_is_refused_on_one_line(minilm_tokenizer, method, params, error, message):
    with pytest.raises(error) as caught:
        derive(tiny(minilm_tokenizer), method, params)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_quantization_refuses_models_it_cannot_handle(minilm_tokenizer):
    with pytest.raises(ModelError, match="has no nn.Linear modules to quantize"):
        derive(nn.Sequential(nn.Embedding(10, 4)), "int8", {})
    quantized = derive(tiny(minilm_tokenizer), "int8", {})
    for method, params in [("int8", {}), ("prune", {"sparsity": 0.5})]:
        with pytest.raises(ModelError, match="already int8-quantized"):
            derive(quantized, method, params)
    with pytest.raises(ModelError, match="cannot be trained"):
        recover(quantized, [{"input_ids": [1, 2], "labels": 0}], minilm_tokenizer, max_steps=1)


def test_registry_and_check_params_without_a_model():
    assert sorted(METHODS) == ["distil", "heads", "int8", "layers", "prune", "wanda", "weight_only"]
    assert check_params("prune", {"sparsity": 0.5}) == {"sparsity": 0.5, "scope": "global"}
    assert check_params("layers", {"keep": "every_other"}) == {"keep": "every_other"}
    assert check_params("layers", {"keep": [3, 0]}) == {"keep": [0, 3]}


def test_training_batches_group_rows_of_similar_length():
    """Every row once per epoch, seeded, and far less padding than a plain shuffle's batches."""
    from itertools import islice

    from miniature.batching import length_grouped_batches

    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 400, size=1003).tolist()  # 1003: a short last batch each epoch
    batch = 16
    per_epoch = -(-1003 // batch)
    batches = list(islice(length_grouped_batches(lengths, batch, seed=3), 2 * per_epoch))
    for epoch in (batches[:per_epoch], batches[per_epoch:]):
        assert sorted(i for b in epoch for i in b) == list(range(1003))
    assert batches[:per_epoch] != batches[per_epoch:]  # reshuffled
    assert batches == list(islice(length_grouped_batches(lengths, batch, seed=3), 2 * per_epoch))
    assert batches != list(islice(length_grouped_batches(lengths, batch, seed=4), 2 * per_epoch))

    def padded(bs):
        return sum(max(lengths[i] for i in b) * len(b) for b in bs)

    order = np.random.default_rng(1).permutation(1003)
    plain = [order[s : s + batch].tolist() for s in range(0, 1003, batch)]
    real = sum(lengths)
    assert real / padded(plain) < 0.7 and real / padded(batches[:per_epoch]) > 0.95
    # batches are not visited longest-first: the epoch's order is shuffled
    widths = [max(lengths[i] for i in b) for b in batches[:per_epoch]]
    assert widths != sorted(widths, reverse=True) and widths != sorted(widths)


@pytest.mark.parametrize("method", ["recover", "distil"])
def test_training_stopped_midway_resumes_to_the_same_weights(minilm_tokenizer, tmp_path, method):
    """A loop killed after its save at step 3 resumes there (4 more steps of 7) and ends with the
    weights, bit for bit, of a run never stopped: same batches, optimiser state and dropout."""
    import miniature.compress.train as train_module

    tok = minilm_tokenizer
    rows = xor_rows(tok, 64, 0)
    teacher = tiny(tok, "cls", seed=1)

    def run(work, fail_at=None):
        model = derive(tiny(tok, "cls", seed=1), "prune", {"sparsity": 0.5}).train()  # dropout on
        calls = {"n": 0}

        def counted(*_):
            calls["n"] += 1
            if calls["n"] == fail_at:
                raise KeyboardInterrupt  # killed mid-training

        model.register_forward_pre_hook(counted)
        kw = {"learning_rate": 1e-3, "batch_size": 8, "work": work}
        if method == "recover":
            recover(model, rows, tok, max_steps=7, **kw)
        else:
            distil_train(teacher, model, rows, tok, max_steps=7, **kw)
        return model, calls["n"]

    save = train_module.SAVE_STEPS
    train_module.SAVE_STEPS = 3
    try:
        whole, n = run(None)
        assert n == 7
        with pytest.raises(KeyboardInterrupt):
            run(tmp_path / "w", fail_at=5)
        state = torch.load(tmp_path / "w" / train_module.STATE, weights_only=True)
        assert state["step"] == 3
        resumed, n = run(tmp_path / "w")
        assert n == 4  # steps 4..7 only
    finally:
        train_module.SAVE_STEPS = save
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert not torch.equal(whole.state_dict()["classifier.weight"], tiny(tok, "cls", seed=1).classifier.weight)
