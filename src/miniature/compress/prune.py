"""prune: unstructured magnitude pruning of the encoder layers' Linear weights to an exact sparsity."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from miniature.compress.arch import prunable_linears
from miniature.compress.base import METHODS, REQUIRED, Method, Params, number
from miniature.exceptions import ConfigError

SCOPES = ("global", "layer")


def keep_mask(magnitudes: torch.Tensor, share: float) -> torch.Tensor:
    """False at the floor(share * n) smallest entries of a flat tensor, ties broken by position
    (a stable sort), so exactly that many are dropped."""
    n_drop = math.floor(share * magnitudes.numel())
    order = torch.argsort(magnitudes, stable=True)
    keep = torch.ones(magnitudes.numel(), dtype=torch.bool, device=magnitudes.device)
    keep[order[:n_drop]] = False
    return keep


def magnitude_masks(weights: Sequence[torch.Tensor], share: float, scope: str = "global") -> list[torch.Tensor]:
    """Keep-masks zeroing the smallest |w|: over all weights at once ("global": one threshold, the
    weights taken in order, each flattened row-major) or each weight at its own share ("layer")."""
    if scope == "layer":
        return [keep_mask(w.detach().abs().flatten(), share).view_as(w) for w in weights]
    flat = torch.cat([w.detach().abs().flatten() for w in weights])
    keep = keep_mask(flat, share)
    return [m.view_as(w) for m, w in zip(keep.split([w.numel() for w in weights]), weights)]


def check(params: Params, model: Any) -> Params:
    share = number("prune", "sparsity", params["sparsity"], 0.0, 1.0)
    if params["scope"] not in SCOPES:
        raise ConfigError(f"prune.scope must be one of {', '.join(SCOPES)}, got {params['scope']!r}")
    if model is not None:
        prunable_linears(model)  # a ModelError for an architecture without encoder layers
    return {"sparsity": share, "scope": params["scope"]}


def apply(model: Any, params: Params) -> Params:
    linears: list[Any] = [m for _, m in prunable_linears(model)]
    masks = magnitude_masks([m.weight for m in linears], params["sparsity"], params["scope"])
    with torch.no_grad():
        for linear, mask in zip(linears, masks):
            linear.weight.masked_fill_(~mask, 0.0)
    return {"pruned": int(sum(int((~m).sum()) for m in masks)), "of": int(sum(m.numel() for m in masks))}


METHODS.add("prune", Method(
    "unstructured magnitude pruning of the encoder layers' Linear weights (embeddings, pooler and task "
    "head stay dense); scope global = one threshold over all of them, layer = each Linear at the share",
    check, apply, {"sparsity": REQUIRED, "scope": "global"}, recovers=True))
