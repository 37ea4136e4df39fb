"""Family adapters: each finds its layers, attention and linear maps in a tiny model of its family,
checked against a walk over the model itself; adding a family (GPT-2 here) is one entry."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from miniature.compress import check_params, derive, sparsity
from miniature.compress.arch import attention, encoder_layers, prunable_linears
from miniature.exceptions import ModelError
from miniature.families import FAMILIES, family_of, pad_token_id


def _load(tiny_model, family: str):
    from transformers import AutoModel

    return AutoModel.from_pretrained(tiny_model(family))


@pytest.mark.parametrize("family, layer_list, n_layers", [("bert", "encoder.layer", 2), ("distilbert", "transformer.layer", 2),
                                                         ("roberta", "encoder.layer", 2), ("t5", "encoder.block", 1)])
def test_each_family_finds_its_layers_and_linears(tiny_model, family, layer_list, n_layers):
    model = _load(tiny_model, family)
    assert family_of(model) is FAMILIES.get(family)
    layers = encoder_layers(model)
    assert layers is model.get_submodule(layer_list) and len(layers) == n_layers
    # every nn.Linear inside those layers, found by walking the model's own module names
    expected = {name for name, m in model.named_modules() if name.startswith(layer_list + ".")
                and isinstance(m, nn.Linear)}
    found = {name for name, m in model.named_modules() if any(m is x for _, x in prunable_linears(model))}
    assert found == expected and found


@pytest.mark.parametrize("family", ["bert", "distilbert", "roberta"])
def test_attention_parts_hold_every_head(tiny_model, family):
    model = _load(tiny_model, family)
    heads = getattr(model.config, "num_attention_heads", None) or model.config.n_heads
    hidden = getattr(model.config, "hidden_size", None) or model.config.dim
    for layer in encoder_layers(model):
        att = attention(layer, model)
        assert att.n_heads == heads and att.head_size * heads == hidden
        assert all(p.out_features == hidden for p in att.projections()) and att.output().in_features == hidden


def test_t5_refuses_what_its_layout_forbids(tiny_model):
    model = _load(tiny_model, "t5")
    with pytest.raises(ModelError, match="attention heads cannot be pruned"):
        attention(encoder_layers(model)[0], model)
    with pytest.raises(ModelError, match="layers of a 't5' model cannot be dropped"):
        check_params("layers", {"keep": "every_other"}, model)
    with pytest.raises(ModelError, match="layers of a 't5' model cannot be dropped"):
        check_params("distil", {"layers": 1}, model)
    pruned = derive(model, "prune", {"sparsity": 0.5})  # magnitude pruning works on any linear map
    assert sparsity(pruned) == pytest.approx(0.5, abs=1e-3)


def test_an_unknown_family_is_named():
    with pytest.raises(ModelError, match="model type 'mamba' is not a family miniature knows"):
        family_of(SimpleNamespace(config=SimpleNamespace(model_type="mamba")))


def test_the_pad_token_falls_back_to_end_of_sequence():
    assert pad_token_id(SimpleNamespace(pad_token_id=3, eos_token_id=7)) == 3
    assert pad_token_id(SimpleNamespace(pad_token_id=0, eos_token_id=7)) == 0
    assert pad_token_id(SimpleNamespace(pad_token_id=None, eos_token_id=7)) == 7  # decoders
    assert pad_token_id(SimpleNamespace(pad_token_id=None, eos_token_id=[9, 10])) == 9
    assert pad_token_id(SimpleNamespace(pad_token_id=None, eos_token_id=None)) == 0


def test_gpt2_is_one_entry_and_conv1d_counts_as_linear():
    """GPT-2 keeps its blocks at `h` and its projections in Conv1D (weight in x out): one registry
    entry; pruning reaches every Conv1D weight, counted by a walk over the model."""
    from transformers import GPT2Config, GPT2Model

    torch.manual_seed(0)
    model = GPT2Model(GPT2Config(vocab_size=50, n_positions=16, n_embd=32, n_layer=2, n_head=2)).eval()
    assert family_of(model) is FAMILIES.get("gpt2") and family_of(model).pooling == "last"
    conv = [m for m in model.h.modules() if type(m).__name__ == "Conv1D"]
    assert len(conv) == 8 and {id(m) for _, m in prunable_linears(model)} == {id(m) for m in conv}
    pruned = derive(model, "prune", {"sparsity": 0.5, "scope": "layer"})
    for m in [m for _, m in prunable_linears(pruned)]:
        assert int((m.weight == 0).sum()) == m.weight.numel() // 2
    # int8 reaches them too: each Conv1D rewritten as the nn.Linear that computes the same, then quantized
    import copy

    from torch.ao.nn.quantized.dynamic import Linear as QLinear

    from miniature.compress.arch import linear_maps_as_linear

    ids = torch.randint(0, 50, (2, 10))
    rewritten = copy.deepcopy(model)
    assert linear_maps_as_linear(rewritten) == 8 and not any(type(m).__name__ == "Conv1D"
                                                             for m in rewritten.modules())
    with torch.no_grad():  # the rewrite computes exactly what Conv1D did
        ref = model(ids).last_hidden_state
        torch.testing.assert_close(rewritten(ids).last_hidden_state, ref, atol=1e-5, rtol=1e-5)
    quantized = derive(model, "int8", {})
    assert sum(isinstance(m, QLinear) for m in quantized.h.modules()) == 8
    with torch.no_grad():
        out = quantized(ids).last_hidden_state
    cosine = torch.nn.functional.cosine_similarity(ref.flatten(0, 1), out.flatten(0, 1), dim=-1)
    assert cosine.min() > 0.999  # int8: close to the fp32 model (0.99996 on average here), not equal


@pytest.mark.parametrize("family", ["gpt2", "llama", "qwen2", "mistral"])
def test_decoder_families_find_their_layers_and_compress(tiny_model, family):
    """Each decoder family on a tiny model of its own: its layers and every linear map (a walk over
    the model), last-token pooling, heads not prunable one by one, and pruning, int8 and layer
    dropping giving a model that still runs (layer indices and per-layer kinds follow the kept layers)."""
    from torch.ao.nn.quantized.dynamic import Linear as QLinear

    model = _load(tiny_model, family).eval()
    fam = family_of(model)
    assert fam is FAMILIES.get(family) and fam.pooling == "last" and fam.padding_side == "right"
    layers = encoder_layers(model)
    assert len(layers) == model.config.num_hidden_layers
    prefix = "h." if family == "gpt2" else "layers."
    kinds = (nn.Linear,) if family != "gpt2" else ()
    expected = {n for n, m in model.named_modules() if n.startswith(prefix)
                and (isinstance(m, kinds) or type(m).__name__ == "Conv1D")}
    found = {n for n, m in model.named_modules() if any(m is x for _, x in prunable_linears(model))}
    assert found == expected and len(found) == len(layers) * (4 if family == "gpt2" else 7)
    with pytest.raises(ModelError, match="attention heads cannot be pruned"):
        attention(layers[0], model)
    ids = torch.randint(0, 100, (2, 9))
    pruned = derive(model, "prune", {"sparsity": 0.5})
    assert sparsity(pruned) == pytest.approx(0.5, abs=1e-3)
    quantized = derive(model, "int8", {})
    assert sum(isinstance(m, QLinear) for m in quantized.modules()) == len(found)
    dropped = derive(model, "layers", {"keep": [0, 2]} if len(layers) == 3 else {"keep": [1]})
    with torch.no_grad():
        for m in (pruned, quantized, dropped):
            assert torch.isfinite(m(ids).last_hidden_state).all()
    assert len(encoder_layers(dropped)) == dropped.config.num_hidden_layers < len(layers)
    idx = [mod.layer_idx for layer in encoder_layers(dropped) for mod in layer.modules() if hasattr(mod, "layer_idx")]
    assert sorted(set(idx)) == list(range(dropped.config.num_hidden_layers))
    if isinstance(getattr(dropped.config, "layer_types", None), list):
        assert len(dropped.config.layer_types) == dropped.config.num_hidden_layers
