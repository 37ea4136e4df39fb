"""The compression methods for language models: Wanda's masks against a direct numpy computation
(per row and 2:4, and every linear map of the first layer from the dense model's activations
caught with plain hooks), and weight-only int4/int8 quantization's reconstruction error within
its bound, against a numpy quantizer, saved and rebuilt with the same outputs; on tiny GPT-2
(Conv1D), Llama, Qwen2 and Mistral models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from miniature.compress import check_params, derive, save_derived
from miniature.compress.arch import encoder_layers, linear_types, prunable_linears
from miniature.compress.store import load_derived
from miniature.compress.wanda import wanda_mask
from miniature.exceptions import ConfigError
from tests.conftest import SHARED, _tiny_config, need_shared

WIKI = SHARED / "wikitext2" / "wiki.test.raw"
FAMILIES = ["gpt2", "llama", "qwen2", "mistral"]


def _numpy_mask(metric: np.ndarray, sparsity: float, n_m: tuple[int, int] | None) -> np.ndarray:
    out = np.zeros(metric.shape, dtype=bool)
    for r, row in enumerate(metric):
        if n_m is None:
            out[r, np.argsort(row, kind="stable")[: int(len(row) * sparsity)]] = True
        else:
            n, m = n_m
            for g in range(0, len(row), m):
                out[r, g + np.argsort(row[g : g + m], kind="stable")[:n]] = True
    return out


@pytest.mark.parametrize("pattern", [None, (2, 4), (1, 4)])
@pytest.mark.parametrize("sparsity", [0.3, 0.5])
def test_the_wanda_mask_is_a_per_row_or_per_group_selection(pattern, sparsity):
    metric = torch.rand(17, 64, generator=torch.Generator().manual_seed(3))
    got = wanda_mask(metric, sparsity, pattern).numpy()
    np.testing.assert_array_equal(got, _numpy_mask(metric.numpy(), sparsity, pattern))


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    need_shared(WIKI)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(WIKI.read_text().splitlines()[:800], vocab_size=400, min_frequency=2,
                            special_tokens=["<|endoftext|>"], show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>")


def _lm(family: str, vocab: int):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    cfg = _tiny_config(family, vocab)
    cfg.intermediate_size = 64 if hasattr(cfg, "intermediate_size") else None
    return AutoModelForCausalLM.from_config(cfg).eval()


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("pattern", ["unstructured", "2:4"])
def test_wanda_prunes_the_first_layer_as_computed_from_the_dense_models_activations(family, pattern, tokenizer):
    from miniature.compress.wanda import calibration_ids

    model = _lm(family, len(tokenizer))
    params = {"sparsity": 0.5, "pattern": pattern, "calibration": str(WIKI), "samples": 6, "seq_len": 32, "seed": 1}
    pruned = derive(model, "wanda", params, tokenizer=tokenizer)
    # the dense model's inputs to each linear map of the first layer, caught with plain hooks
    ids = calibration_ids(tokenizer, str(WIKI), 6, 32, 1)
    first = encoder_layers(model)[0]
    norms: dict[str, np.ndarray] = {}
    extra = linear_types(model)
    hooks = []
    for name, module in first.named_modules():
        if isinstance(module, torch.nn.Linear) or type(module).__name__ in extra:
            def hook(mod, args, name=name):
                x = args[0].detach().double().numpy().reshape(-1, args[0].shape[-1])
                norms[name] = norms.get(name, 0) + (x**2).sum(0)
            hooks.append(module.register_forward_pre_hook(hook))
    with torch.no_grad():
        model(input_ids=ids, use_cache=False)
    for h in hooks:
        h.remove()
    after = dict(encoder_layers(pruned)[0].named_modules())
    assert norms
    for name, module in first.named_modules():
        if name not in norms:
            continue
        w = module.weight.detach().double().numpy()
        w = w.T if type(module).__name__ == "Conv1D" else w
        want = _numpy_mask(np.abs(w) * np.sqrt(norms[name])[None, :], 0.5, None if pattern == "unstructured"
                           else (2, 4))
        got = after[name].weight.detach().numpy()
        got = got.T if type(module).__name__ == "Conv1D" else got
        np.testing.assert_array_equal(got == 0, want, err_msg=f"{family} {name}")
    # every linear map of every layer: half of each row (each group of 4) pruned
    for _, module in prunable_linears(pruned):
        w = module.weight.detach()
        w = w.T if type(module).__name__ == "Conv1D" else w
        assert ((w == 0).sum(1) == w.shape[1] // 2).all()
    assert pruned.miniature_steps[-1]["pruned"] == pruned.miniature_steps[-1]["of"] // 2


def test_wanda_refuses_bad_params_in_one_line():
    for params, message in [({"pattern": "4:2"}, "n:m with 0 < n < m"),
                            ({"pattern": "2:4", "sparsity": 0.3}, "prunes 0.5 of the weights; set sparsity"),
                            ({"samples": 0}, "wanda.samples must be an integer >= 1")]:
        with pytest.raises(ConfigError, match=message):
            check_params("wanda", params)


def _numpy_dequantized(w: np.ndarray, bits: int, group: int | None) -> np.ndarray:
    """Symmetric quantization: scale = max|w| / ((2^bits - 1) / 2) per group, q rounded and clamped."""
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    g = (w.reshape(w.shape[0], -1, group) if group else w[:, None, :]).astype(np.float32)
    scale = np.abs(g).max(-1, keepdims=True) / np.float32((hi - lo) / 2)
    q = np.clip(np.round(g * (np.float32(1) / scale)), lo, hi)
    return (q * scale).reshape(w.shape)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("bits,group", [(4, 16), (4, None), (8, 16)])
def test_weight_only_quantization_stays_within_its_bound_and_reloads(family, bits, group, tokenizer, tmp_path):
    pytest.importorskip("torchao", reason="pip install torchao")
    model = _lm(family, len(tokenizer))
    q = derive(model, "weight_only", {"bits": bits, "group_size": group})
    before = {n: m.weight.detach().T.clone() if type(m).__name__ == "Conv1D" else m.weight.detach().clone()
              for n, m in prunable_linears(model)}  # (outputs x inputs), as nn.Linear holds it
    ids = torch.tensor([tokenizer("The tower is 324 metres tall, about the same height")["input_ids"]])
    for name, module in prunable_linears(q):
        w = before[name].double().numpy()
        dq = module.weight.dequantize().double().numpy()
        g = w.reshape(w.shape[0], -1, group) if group else w[:, None, :]
        # the bound: half a step, a step being max|w| of the group over (2^bits - 1) / 2
        bound = np.repeat(np.abs(g).max(-1) / (2**bits - 1), group or w.shape[1], axis=-1).reshape(w.shape)
        assert (np.abs(dq - w) <= bound * (1 + 1e-4) + 1e-9).all(), name  # float32 scales: 1e-4
        ref = _numpy_dequantized(w, bits, group)
        step = 2 * bound
        assert np.mean(np.isclose(dq, ref, atol=1e-6)) > 0.999 and (np.abs(dq - ref) <= step * 1.001 + 1e-9).all()
    with torch.no_grad():
        out = q(ids).logits
        dense = model(ids).logits
    assert 0 < float((out - dense).abs().max())
    save_derived(q, tokenizer, tmp_path / "q", {"method": "weight_only"})
    from transformers import AutoModelForCausalLM

    from miniature.model_card import count_parameters

    again = load_derived(tmp_path / "q", AutoModelForCausalLM)
    assert count_parameters(again) == count_parameters(model)  # a tied head stays tied
    with torch.no_grad():
        torch.testing.assert_close(again(ids).logits, out, rtol=0, atol=0)


def test_weight_only_refuses_a_group_that_does_not_divide_the_width(tokenizer):
    pytest.importorskip("torchao", reason="pip install torchao")
    model = _lm("llama", len(tokenizer))
    with pytest.raises(ConfigError, match="group_size 24 does not divide"):
        check_params("weight_only", {"bits": 4, "group_size": 24}, model)
    with pytest.raises(ConfigError, match="bits must be 4 or 8"):
        check_params("weight_only", {"bits": 3})


def test_a_missing_torchao_is_one_line(monkeypatch):
    import sys

    from miniature.exceptions import DependencyError

    monkeypatch.setitem(sys.modules, "torchao", None)
    monkeypatch.setitem(sys.modules, "torchao.quantization", None)
    with pytest.raises(DependencyError, match="needs torchao: pip install torchao"):
        check_params("weight_only", {"bits": 4, "group_size": 32})
