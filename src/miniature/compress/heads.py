"""heads: structured pruning of the least important attention heads, physically slicing them out."""

from __future__ import annotations

import math
from typing import Any

import torch

from miniature.compress.arch import attention, encoder_layers, keep_heads
from miniature.compress.base import METHODS, REQUIRED, Method, Params, number
from miniature.exceptions import ConfigError


def head_importance(model: Any) -> list[torch.Tensor]:
    """Per layer, one importance score per head: the L2 norm of all the weights that belong to the
    head, i.e. its rows of the query, key and value weights and its columns of the attention output
    projection (biases not counted). A head whose weights are small contributes little."""
    scores = []
    for layer in encoder_layers(model):
        att = attention(layer, model)
        size, n = att.head_size, att.n_heads
        square = sum(p.weight.detach().float().pow(2).reshape(n, size, -1).sum(dim=(1, 2))
                     for p in att.projections())
        out = att.output().weight.detach().float().pow(2)  # (hidden, n * size)
        square = square + out.reshape(out.shape[0], n, size).sum(dim=(0, 2))
        scores.append(square.sqrt())
    return scores


def heads_to_prune(importance: list[torch.Tensor], n_prune: int) -> list[list[int]]:
    """Per layer, the heads to drop: the `n_prune` least important over all layers, lowest first
    (ties by layer, then head), skipping a head whenever it is the last one left in its layer."""
    flat = torch.cat([s.flatten() for s in importance])
    where = [(layer, head) for layer, s in enumerate(importance) for head in range(len(s))]
    left = [len(s) for s in importance]
    pruned: list[list[int]] = [[] for _ in importance]
    for i in torch.argsort(flat, stable=True).tolist():
        if sum(len(p) for p in pruned) == n_prune:
            break
        layer, head = where[i]
        if left[layer] > 1:
            left[layer] -= 1
            pruned[layer].append(head)
    return [sorted(p) for p in pruned]


def prune_count(share: float, n_layers: int, n_heads: int) -> int:
    """floor(share * all heads), refused where keeping a head per layer makes it impossible."""
    n_prune = math.floor(share * n_heads)
    if n_prune > n_heads - n_layers:
        most = (n_heads - n_layers) / n_heads
        raise ConfigError(f"heads.share {share:g} would prune {n_prune} of {n_heads} heads but each of the "
                          f"{n_layers} layers keeps one; use a share below {most:.3f}")
    return n_prune


def check(params: Params, model: Any) -> Params:
    share = number("heads", "share", params["share"], 0.0, 1.0, low_open=True)
    if model is not None:
        layers = encoder_layers(model)
        prune_count(share, len(layers), sum(attention(layer, model).n_heads for layer in layers))
    return {"share": share}


def apply(model: Any, params: Params) -> Params:
    importance = head_importance(model)
    n_prune = prune_count(params["share"], len(importance), sum(len(s) for s in importance))
    pruned = heads_to_prune(importance, n_prune)
    for layer, drop in zip(encoder_layers(model), pruned):
        att = attention(layer, model)
        if drop:
            keep_heads(att, [h for h in range(att.n_heads) if h not in drop])
    return {"pruned_heads": pruned}


METHODS.add("heads", Method(
    "drop the share of attention heads with the lowest L2 norm of their q/k/v rows and output "
    "columns (at least one head kept per layer)", check, apply, {"share": REQUIRED}, recovers=True))
