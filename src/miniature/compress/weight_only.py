"""weight_only: weight-only integer quantization of the transformer layers' linear maps (int4 or
int8, symmetric, one scale per group of `group_size` input weights of a row, or per row), with
torchao (`IntxWeightOnlyConfig`), the layout GPTQ/AWQ/GGUF-style int4 models ship. Activations
stay in float. On the CPU torchao runs these as int8-unpacked weights dequantized on the fly; its
packed int4 kernels (`Int4WeightOnlyConfig`) need a GPU. Embeddings and the language-model head
stay in float, as GPTQ and AWQ leave them."""

from __future__ import annotations

from typing import Any

from miniature.compress.arch import linear_maps_as_linear, prunable_linears
from miniature.compress.base import METHODS, Method, Params, integer
from miniature.exceptions import ConfigError, DependencyError

BITS = (4, 8)


def torchao_config(bits: int, group_size: int | None) -> Any:
    """torchao's config of the method: symmetric int`bits` weights, per group or per row."""
    try:
        import torch
        from torchao.quantization import IntxWeightOnlyConfig
        from torchao.quantization.granularity import PerAxis, PerGroup
    except ImportError:
        raise DependencyError("weight_only quantization needs torchao: pip install torchao") from None
    return IntxWeightOnlyConfig(weight_dtype=getattr(torch, "int4") if bits == 4 else torch.int8,
                                granularity=PerGroup(group_size) if group_size else PerAxis(0))


def quantize_weights(model: Any, bits: int, group_size: int | None) -> int:
    """Quantize, in place, every linear map of the model's transformer layers; returns how many."""
    config = torchao_config(bits, group_size)
    from torchao.quantization import quantize_

    linear_maps_as_linear(model)  # GPT-2's Conv1D as nn.Linear first
    targets = {id(m) for _, m in prunable_linears(model)}
    quantize_(model, config, filter_fn=lambda m, fqn: id(m) in targets)
    return len(targets)


def check(params: Params, model: Any) -> Params:
    if params["bits"] not in BITS:
        raise ConfigError(f"weight_only.bits must be 4 or 8, got {params['bits']!r}")
    group = params["group_size"]
    if group is not None:
        integer("weight_only", "group_size", group, 2)
    if model is not None:
        for name, m in prunable_linears(model):
            shape: Any = m.weight.shape
            width = shape[1] if type(m).__name__ != "Conv1D" else shape[0]
            if group is not None and width % group:
                raise ConfigError(f"weight_only.group_size {group} does not divide {name}'s {width} inputs; give a "
                                  "divisor of the model's widths (32, 64 or 128 usually) or null (one scale a row)")
    torchao_config(params["bits"], group)  # a missing torchao fails here, before any work
    return params


def apply(model: Any, params: Params) -> Params:
    return {"quantized": quantize_weights(model, params["bits"], params["group_size"])}


METHODS.add("weight_only", Method(
    "weight-only int4/int8 quantization (torchao; symmetric, one scale per group_size inputs of a row, or per "
    "row where null) of the transformer layers' linear maps; embeddings and head stay float",
    check, apply, {"bits": 4, "group_size": 32}))
