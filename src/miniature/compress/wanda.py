"""wanda: pruning by weights and activations (Sun et al., "A Simple and Effective Pruning Approach
for Large Language Models", 2023). A weight's score is |W_ij| times the L2 norm of its input
feature j over calibration tokens; each output row drops its lowest-scoring share (unstructured),
or in every group of m consecutive inputs of a row the n lowest (n:m, e.g. 2:4, the pattern sparse
tensor cores run). As the authors' code does, layers are pruned one after another: each layer's
statistics come from the outputs of the layers already pruned before it, the calibration text is
random windows of `seq_len` tokens (theirs: 128 windows of 2,048 tokens of C4), and no weight is
updated (no retraining)."""

from __future__ import annotations

from typing import Any

import torch

from miniature.compress.arch import encoder_layers, is_linear, linear_types
from miniature.compress.base import METHODS, Method, Params, integer, number
from miniature.exceptions import ConfigError


def parse_pattern(pattern: Any) -> tuple[int, int] | None:
    """None for "unstructured", else (n, m) of "n:m" (n of every m consecutive weights pruned)."""
    if pattern == "unstructured":
        return None
    try:
        n, m = (int(x) for x in str(pattern).split(":"))
    except ValueError:
        n = m = 0
    if not 0 < n < m:
        raise ConfigError(f"wanda.pattern must be unstructured or n:m with 0 < n < m (2:4), got {pattern!r}")
    return n, m


def wanda_mask(metric: torch.Tensor, sparsity: float, pattern: tuple[int, int] | None = None) -> torch.Tensor:
    """True at the weights to prune: per row (output) the floor(sparsity * inputs) lowest scores
    (a stable sort: ties by position), or in every group of m inputs the n lowest."""
    mask = torch.zeros_like(metric, dtype=torch.bool)
    if pattern is None:
        k = int(metric.shape[1] * sparsity)
        mask.scatter_(1, torch.sort(metric, dim=-1, stable=True)[1][:, :k], True)
        return mask
    n, m = pattern
    if metric.shape[1] % m:
        raise ConfigError(f"wanda.pattern {n}:{m} needs inputs in groups of {m}; a layer has {metric.shape[1]}")
    groups = metric.reshape(metric.shape[0], -1, m)
    low = torch.sort(groups, dim=-1, stable=True)[1][..., :n]
    return mask.reshape(groups.shape).scatter_(-1, low, True).reshape(metric.shape)


def calibration_ids(tokenizer: Any, source: str, samples: int, seq_len: int, seed: int) -> torch.Tensor:
    """`samples` random windows of `seq_len` tokens of the calibration text (seeded)."""
    from miniature.data.corpus import token_windows

    return torch.tensor(token_windows(tokenizer, source, samples, seq_len, seed), dtype=torch.long)


class _Stop(Exception):
    pass


def _layer_inputs(model: Any, ids: torch.Tensor, batch: int) -> list[tuple[tuple, dict]]:
    """What the first transformer layer is called with, per batch of calibration windows."""
    first = encoder_layers(model)[0]
    seen: list[tuple[tuple, dict]] = []

    def catch(module: Any, args: tuple, kwargs: dict) -> None:
        seen.append((args, kwargs))
        raise _Stop

    hook = first.register_forward_pre_hook(catch, with_kwargs=True)
    try:
        for start in range(0, len(ids), batch):
            try:
                model(input_ids=ids[start : start + batch], use_cache=False)
            except _Stop:
                pass
    finally:
        hook.remove()
    return seen


def _hidden(args: tuple, kwargs: dict) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


def _with_hidden(args: tuple, kwargs: dict, hidden: torch.Tensor) -> tuple[tuple, dict]:
    if args:
        return (hidden, *args[1:]), kwargs
    return args, {**kwargs, "hidden_states": hidden}


def input_norms(layer: Any, calls: list[tuple[tuple, dict]], extra: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Per linear map of the layer: the squared L2 norm of each input feature over every token."""
    norms: dict[str, torch.Tensor] = {}
    hooks = []
    for name, module in layer.named_modules():
        if is_linear(module, extra):
            def hook(mod: Any, args: tuple, name: str = name) -> None:
                x = args[0].detach().float()
                sq = (x.reshape(-1, x.shape[-1]) ** 2).sum(0)
                norms[name] = norms[name] + sq if name in norms else sq
            hooks.append(module.register_forward_pre_hook(hook))
    try:
        for args, kwargs in calls:
            layer(*args, **kwargs)
    finally:
        for h in hooks:
            h.remove()
    return norms


def _as_linear_weight(module: Any) -> torch.Tensor:
    """(outputs x inputs) view of the weight (GPT-2's Conv1D stores inputs x outputs)."""
    return module.weight.T if type(module).__name__ == "Conv1D" else module.weight


def prune_model(model: Any, ids: torch.Tensor, sparsity: float, pattern: tuple[int, int] | None,
                batch: int = 8) -> tuple[int, int]:
    """Wanda, layer after layer, in place; returns (weights pruned, weights in the layers' linear maps)."""
    extra = linear_types(model)
    pruned = total = 0
    with torch.no_grad():
        calls = _layer_inputs(model, ids, batch)
        for layer in encoder_layers(model):
            norms = input_norms(layer, calls, extra)
            for name, module in layer.named_modules():
                if name not in norms:
                    continue
                weight = _as_linear_weight(module)
                metric = weight.abs().float() * norms[name].sqrt()[None, :]
                mask = wanda_mask(metric, sparsity, pattern)
                weight.masked_fill_(mask, 0.0)
                pruned, total = pruned + int(mask.sum()), total + mask.numel()
            outs = []
            for args, kwargs in calls:  # the pruned layer's outputs feed the next one
                out = layer(*args, **kwargs)
                outs.append(_with_hidden(args, kwargs, out[0] if isinstance(out, tuple) else out))
            calls = outs
    return pruned, total


def check(params: Params, model: Any) -> Params:
    pattern = parse_pattern(params["pattern"])
    share = number("wanda", "sparsity", params["sparsity"], 0.0, 1.0)
    if pattern is not None and abs(share - pattern[0] / pattern[1]) > 1e-9:
        raise ConfigError(f"wanda: pattern {params['pattern']} prunes {pattern[0] / pattern[1]:g} of the weights; "
                          f"set sparsity to that (got {share:g}) or use pattern unstructured")
    for key in ("samples", "seq_len"):
        integer("wanda", key, params[key], 1)
    if not isinstance(params["calibration"], str) or not params["calibration"]:
        raise ConfigError("wanda.calibration must name a text: a file (.txt, .raw, a JSONL of {text}) or a corpus "
                          "name (c4, wikitext2)")
    if model is not None:
        encoder_layers(model)  # a ModelError for an architecture without transformer layers
    return {**params, "sparsity": share}


def apply(model: Any, params: Params, tokenizer: Any) -> Params:
    ids = calibration_ids(tokenizer, params["calibration"], params["samples"], params["seq_len"], params["seed"])
    pruned, total = prune_model(model, ids.to(next(model.parameters()).device), params["sparsity"],
                                parse_pattern(params["pattern"]))
    return {"pruned": pruned, "of": total, "calibration_tokens": int(ids.numel())}


def inputs(params: Params) -> Any:
    """The calibration text's fingerprint (its content, not only its name, determines the masks)."""
    from miniature.data.corpus import load_corpus

    source = params.get("calibration", "c4")
    return load_corpus(source).fingerprint if isinstance(source, str) else None


METHODS.add("wanda", Method(
    "Wanda pruning (|W| x input-activation norm from calibration text, per output row; unstructured or n:m "
    "such as 2:4) of the transformer layers' linear maps, layer after layer, no retraining",
    check, apply, {"sparsity": 0.5, "pattern": "unstructured", "calibration": "c4", "samples": 128,
                   "seq_len": 512, "seed": 0}, recovers=True, calibrated=True, inputs=inputs))
