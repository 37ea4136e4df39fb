"""Where the parts compression touches live in BERT-family models: encoder layers, attention heads, Linears."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from miniature.exceptions import ModelError

# encoder layer lists below `model.base_model`: BERT/RoBERTa/ELECTRA, DistilBERT
LAYER_PATHS = (("encoder", "layer"), ("transformer", "layer"))
KEPT = "miniature_kept_heads"  # attention attribute: the original indices of the heads it still has


def encoder_layers(model: Any) -> nn.ModuleList:
    """The model's list of transformer layers, or a ModelError for an architecture we do not know."""
    base = getattr(model, "base_model", model)
    for path in LAYER_PATHS:
        node = base
        for name in path:
            node = getattr(node, name, None)
        if isinstance(node, nn.ModuleList) and len(node):
            return node
    kind = getattr(getattr(model, "config", None), "model_type", type(model).__name__)
    raise ModelError(f"model type {kind!r} has no encoder layers compress knows (BERT-family encoders: "
                     "bert, roberta, electra, distilbert); pick such a model")


def set_encoder_layers(model: Any, keep: Sequence[int]) -> None:
    """Keep only the layers `keep` (in that order) and update the config's layer count."""
    layers = encoder_layers(model)
    kept = nn.ModuleList([layers[i] for i in keep])
    base = getattr(model, "base_model", model)
    for path in LAYER_PATHS:
        owner = getattr(base, path[0], None)
        if owner is not None and getattr(owner, path[1], None) is layers:
            setattr(owner, path[1], kept)
            if hasattr(owner, "n_layers"):  # DistilBERT's Transformer keeps its own count
                owner.n_layers = len(kept)
    for i, layer in enumerate(kept):  # cache slots follow the new positions
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = i
    model.config.num_hidden_layers = len(kept)  # DistilBERT maps this name onto n_layers


def layer_count(model: Any) -> int:
    return len(encoder_layers(model))


@dataclass
class Attention:
    """One layer's self-attention: the module holding q/k/v and the one holding the output projection."""

    holder: nn.Module
    qkv: tuple[str, str, str]
    out_holder: nn.Module
    out: str

    @property
    def head_size(self) -> int:
        return int(self.holder.attention_head_size)

    @property
    def n_heads(self) -> int:
        return getattr(self.holder, self.qkv[0]).out_features // self.head_size

    def projections(self) -> list[nn.Linear]:
        return [getattr(self.holder, n) for n in self.qkv]

    def output(self) -> nn.Linear:
        return getattr(self.out_holder, self.out)

    def kept(self) -> list[int]:
        """Original indices of the heads still here (all of them before any head pruning)."""
        return list(getattr(self.holder, KEPT, range(self.n_heads)))


def attention(layer: nn.Module) -> Attention:
    """The self-attention parts of a BERT-style or DistilBERT-style layer."""
    att = getattr(layer, "attention", None)
    if att is not None and hasattr(att, "self") and hasattr(att, "output"):
        return Attention(att.self, ("query", "key", "value"), att.output, "dense")
    if att is not None and hasattr(att, "q_lin"):
        return Attention(att, ("q_lin", "k_lin", "v_lin"), att, "out_lin")
    raise ModelError(f"layer type {type(layer).__name__} has no self-attention compress knows; "
                     "use a BERT or DistilBERT model for head pruning")


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
        atts = [attention(layer) for layer in encoder_layers(model)]
    except ModelError:
        return None
    if not any(hasattr(a.holder, KEPT) for a in atts):
        return None
    return [a.kept() for a in atts]


def prunable_linears(model: Any) -> list[tuple[str, nn.Module]]:
    """The Linear modules inside the encoder layers (fp32 or int8); embeddings and task head excluded."""
    from torch.ao.nn.quantized.dynamic import Linear as QLinear

    out = []
    for i, layer in enumerate(encoder_layers(model)):
        for name, module in layer.named_modules():
            if isinstance(module, (nn.Linear, QLinear)):
                out.append((f"layer.{i}.{name}", module))
    return out


def linear_weight(module: nn.Module) -> torch.Tensor:
    """The float weight of a Linear, dequantized for an int8 one."""
    weight = module.weight
    return weight().dequantize() if callable(weight) else weight.detach()


def sparsity(model: Any) -> float:
    """Share of exactly-zero weights among the encoder layers' Linear weights (biases not counted)."""
    weights = [linear_weight(m) for _, m in prunable_linears(model)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    return zeros / sum(w.numel() for w in weights)
