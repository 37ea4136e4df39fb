"""The parts compression touches (layers, attention heads, linear maps), found through each model's family adapter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from miniature.exceptions import ModelError
from miniature.families import KEPT, Attention, family_of, model_type


def encoder_layers(model: Any) -> nn.ModuleList:
    """The model's list of transformer layers (where its family adapter says), or a ModelError."""
    family = family_of(model)
    node: Any = getattr(model, "base_model", model)
    for name in family.layers:
        node = getattr(node, name, None)
    if isinstance(node, nn.ModuleList) and len(node):
        return node
    raise ModelError(f"model type {model_type(model)!r}: no layers at {'.'.join(family.layers)}; is it a "
                     "checkpoint of that family?")


def set_encoder_layers(model: Any, keep: Sequence[int]) -> None:
    """Keep only the layers `keep` (in that order) and update the config's layer count."""
    family = family_of(model)
    if not family.drop_layers:
        raise ModelError(f"model type {model_type(model)!r}: its layers cannot be dropped or reordered (a "
                         "layer holds what the others need); use prune or int8")
    layers = encoder_layers(model)
    kept = nn.ModuleList([layers[i] for i in keep])
    owner: Any = getattr(model, "base_model", model)
    for name in family.layers[:-1]:
        owner = getattr(owner, name)
    setattr(owner, family.layers[-1], kept)
    if hasattr(owner, "n_layers"):  # DistilBERT's Transformer keeps its own count
        owner.n_layers = len(kept)
    for i, layer in enumerate(kept):  # cache slots follow the new positions
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                setattr(module, "layer_idx", i)  # an attribute only some modules have
    model.config.num_hidden_layers = len(kept)  # DistilBERT maps this name onto n_layers
    kinds = getattr(model.config, "layer_types", None)  # decoders: each layer's attention kind (full, sliding)
    if isinstance(kinds, list) and len(kinds) == len(layers):
        model.config.layer_types = [kinds[i] for i in keep]


def layer_count(model: Any) -> int:
    return len(encoder_layers(model))


def attention(layer: nn.Module, model: Any) -> Attention:
    """The self-attention parts of one layer of `model`, as its family adapter finds them."""
    family = family_of(model)
    if family.attention is None:
        raise ModelError(f"model type {model_type(model)!r}: its attention heads cannot be pruned; use prune, "
                         "layers or int8")
    try:
        return family.attention(layer)
    except AttributeError:
        raise ModelError(f"layer type {type(layer).__name__} has no self-attention where the "
                         f"{model_type(model)!r} family keeps it; is it a checkpoint of that family?") from None


def _sliced(linear: nn.Linear, index: torch.Tensor, dim: int) -> nn.Linear:
    """A new Linear with the rows (dim 0) or input columns (dim 1) at `index`."""
    weight = linear.weight.detach().index_select(dim, index).clone()
    new = nn.Linear(weight.shape[1], weight.shape[0], bias=linear.bias is not None,
                    device=weight.device, dtype=weight.dtype)
    new.weight.data.copy_(weight)
    if linear.bias is not None:
        bias = linear.bias.detach()
        new.bias.data.copy_(bias.index_select(0, index) if dim == 0 else bias)
    new.train(linear.training)
    return new


def keep_heads(att: Attention, heads: Sequence[int]) -> None:
    """Keep only `heads` (indices among the current heads): slice q/k/v rows and the output's columns.

    The attention forward reshapes to (-1, head_size), so it needs only the head-count attributes.
    """
    if not heads:
        raise ValueError("a layer must keep at least one head")
    size, before = att.head_size, att.kept()
    device = att.output().weight.device
    index = torch.tensor([h * size + j for h in heads for j in range(size)], dtype=torch.long, device=device)
    for name, linear in zip(att.qkv, att.projections()):
        setattr(att.holder, name, _sliced(linear, index, 0))
    setattr(att.out_holder, att.out, _sliced(att.output(), index, 1))
    for name in ("num_attention_heads", "n_heads"):
        if hasattr(att.holder, name):
            setattr(att.holder, name, len(heads))
    if hasattr(att.holder, "all_head_size"):
        att.holder.all_head_size = len(heads) * size
    setattr(att.holder, KEPT, [before[h] for h in heads])


def kept_heads(model: Any) -> list[list[int]] | None:
    """Per layer, the original indices of the heads kept; None when no layer lost a head."""
    try:
        atts = [attention(layer, model) for layer in encoder_layers(model)]
    except ModelError:
        return None
    if not any(hasattr(a.holder, KEPT) for a in atts):
        return None
    return [a.kept() for a in atts]


def prunable_linears(model: Any) -> list[tuple[str, nn.Module]]:
    """The Linear modules inside the encoder layers (fp32 or int8); embeddings and task head excluded."""
    out: list[tuple[str, nn.Module]] = []
    extra = family_of(model).linear_types
    for i, layer in enumerate(encoder_layers(model)):
        for name, module in layer.named_modules():
            if is_linear(module, extra):
                out.append((f"layer.{i}.{name}", module))
    return out


def conv1d_as_linear(module: nn.Module) -> nn.Linear:
    """GPT-2's Conv1D (y = x W + b, W of shape in x out) as the nn.Linear that computes the same."""
    weight: Any = module.weight
    bias: Any = module.bias
    linear = nn.Linear(weight.shape[0], weight.shape[1], bias=bias is not None, device=weight.device,
                       dtype=weight.dtype)
    with torch.no_grad():
        linear.weight.copy_(weight.T)
        if bias is not None:
            linear.bias.copy_(bias)
    linear.train(module.training)
    return linear


AS_LINEAR = {"Conv1D": conv1d_as_linear}  # a family's other linear maps, rewritten as nn.Linear


def linear_types(model: Any) -> tuple[str, ...]:
    """The class names of the model family's linear maps besides nn.Linear (none for a family
    miniature does not know)."""
    try:
        return family_of(model).linear_types
    except ModelError:
        return ()


def linear_maps_as_linear(model: nn.Module) -> int:
    """Rewrite, in place, every module of the classes the model's family names as linear maps
    (`Family.linear_types`) as the equivalent nn.Linear, so that tools that know only nn.Linear
    (dynamic int8 quantization) reach them; returns how many. A family miniature does not know
    has none to rewrite."""
    extra = linear_types(model)
    targets = [(name, m) for name, m in model.named_modules() if type(m).__name__ in extra]
    for name, module in targets:
        convert = AS_LINEAR.get(type(module).__name__)
        if convert is None:
            raise ModelError(f"{type(module).__name__}: miniature cannot rewrite it as nn.Linear; add a converter "
                             "to compress.arch.AS_LINEAR")
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, convert(module))
    return len(targets)


def is_linear(module: nn.Module, extra: Sequence[str] = ()) -> bool:
    """An nn.Linear, its dynamically quantized int8 form, or a module of a class named in `extra`
    (a family's other linear maps, as GPT-2's Conv1D)."""
    from torch.ao.nn.quantized.dynamic import Linear as QLinear

    return isinstance(module, (nn.Linear, QLinear)) or type(module).__name__ in extra


def linear_weight(module: nn.Module) -> torch.Tensor:
    """The float weight of a Linear, dequantized for an int8 one."""
    weight: Any = module.weight  # an int8 Linear's is a method
    if callable(weight):
        return weight().dequantize()
    w = weight.detach()
    return w.dequantize() if type(w) is not torch.Tensor and hasattr(w, "dequantize") else w  # torchao's


def sparsity(model: Any) -> float:
    """Share of exactly-zero weights among the encoder layers' Linear weights (biases not counted)."""
    weights = [linear_weight(m) for _, m in prunable_linears(model)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    return zeros / sum(w.numel() for w in weights)
