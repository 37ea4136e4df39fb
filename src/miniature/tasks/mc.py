"""Multiple choice by log-likelihood, with lm-evaluation-harness's semantics and a shared prefix:
each option's score is the summed log-probability of its continuation's tokens given the context
(lm-eval's `loglikelihood` requests of a `multiple_choice` task), but the context runs through the
model once per item and every option continues from its cached keys and values, in one batch.

Tokens as lm-eval makes them (`HFLM._encode_pair`): trailing spaces of the context move to the
continuation; the context is encoded alone and the continuation is what encoding the whole adds
after it; no special tokens (an empty context is the end-of-text token). `acc`: the option with the
highest log-likelihood; `acc_norm`: divided by the option's length in characters (lm-eval's
`len(choice)`). A context longer than the model's window keeps its last tokens (counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from miniature.exceptions import DataError


def encode_pair(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """The context's tokens and the continuation's, as lm-eval encodes a request."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        continuation, context = context[-spaces:] + continuation, context[:-spaces]
    whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    ctx = tokenizer(context, add_special_tokens=False)["input_ids"]
    return list(ctx), list(whole[len(ctx):])


@dataclass(frozen=True)
class Encoded:
    """Every item's context tokens and its options' continuation tokens."""

    contexts: tuple[tuple[int, ...], ...]
    options: tuple[tuple[tuple[int, ...], ...], ...]


def encode_items(tokenizer: Any, items: Sequence[Any]) -> Encoded:
    """Each item encoded once: its context and each option (after the item's delimiter)."""
    eot = tokenizer.eos_token_id
    contexts, options = [], []
    for item in items:
        pairs = [encode_pair(tokenizer, item.context, item.delimiter + o) for o in item.options]
        ctx = pairs[0][0] or ([eot] if eot is not None else [])
        if not ctx:
            raise DataError(f"item {item.id!r}: an empty context and a tokenizer without an end-of-text token")
        for (other, _), o in zip(pairs, item.options):
            if (other or ctx) != ctx:  # the same context for every option, by construction
                raise DataError(f"item {item.id!r}: its context tokenizes differently before option {o!r}")
        empty = [o for (_, cont), o in zip(pairs, item.options) if not cont]
        if empty:
            raise DataError(f"item {item.id!r}: option {empty[0]!r} tokenizes to nothing; give it text")
        contexts.append(tuple(ctx))
        options.append(tuple(tuple(cont) for _, cont in pairs))
    return Encoded(tuple(contexts), tuple(options))


@dataclass(frozen=True)
class Scores:
    """Per item: each option's summed log-likelihood and whether greedy decoding would produce it."""

    logliks: tuple[np.ndarray, ...]
    greedy: tuple[np.ndarray, ...]
    truncated: int  # items whose context lost its first tokens to the model's window


def window_of(model: Any) -> int:
    cfg = model.config
    return int(getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None) or 2048)


def score_encoded(model: Any, encoded: Encoded, pad_id: int, progress: bool = False) -> Scores:
    """Every option of every item scored: one forward pass over the context (its keys and values
    kept), then one over all the options continuing from them."""
    import torch
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    window = window_of(model)
    logliks, greedy, truncated = [], [], 0
    with torch.inference_mode():
        for ctx, conts in tqdm(list(zip(encoded.contexts, encoded.options)), desc="options", unit="item",
                               disable=not progress, mininterval=1.0):
            longest = max(len(c) for c in conts)
            keep = window - longest + 1  # the context tokens that fit beside the longest option
            if len(ctx) > keep:
                if keep < 1:
                    raise DataError(f"an option of {longest} tokens does not fit the model's window of {window}")
                ctx, truncated = ctx[-keep:], truncated + 1
            out = model(input_ids=torch.tensor([ctx], device=device), use_cache=True)
            first = torch.log_softmax(out.logits[0, -1].float(), -1)
            ll = np.array([float(first[c[0]]) for c in conts])
            top = int(first.argmax())
            ok = np.array([c[0] == top for c in conts])
            rest = longest - 1
            if rest > 0:
                n = len(conts)
                past = out.past_key_values
                past.batch_repeat_interleave(n)
                ids = torch.full((n, rest), pad_id, dtype=torch.long, device=device)
                mask = torch.zeros((n, len(ctx) + rest), dtype=torch.long, device=device)
                mask[:, : len(ctx)] = 1
                for j, c in enumerate(conts):
                    ids[j, : len(c) - 1] = torch.tensor(c[:-1], device=device)
                    mask[j, len(ctx) : len(ctx) + len(c) - 1] = 1
                pos = torch.arange(len(ctx), len(ctx) + rest, device=device).expand(n, rest)
                lp = torch.log_softmax(model(input_ids=ids, attention_mask=mask, position_ids=pos,
                                             past_key_values=past, use_cache=False).logits.float(), -1)
                for j, c in enumerate(conts):
                    if len(c) > 1:
                        target = torch.tensor(c[1:], device=device)
                        steps = lp[j, : len(c) - 1]
                        ll[j] += float(steps.gather(-1, target[:, None]).sum())
                        ok[j] &= bool((steps.argmax(-1) == target).all())
            logliks.append(ll)
            greedy.append(ok)
    return Scores(tuple(logliks), tuple(greedy), truncated)


def choices(items: Sequence[Any], scores: Scores, norm: bool = False) -> np.ndarray:
    """Each item's chosen option: the highest log-likelihood (`norm`: per character of the option)."""
    out = []
    for item, ll in zip(items, scores.logliks):
        s = ll / np.array([max(len(o), 1) for o in item.options], dtype=np.float64) if norm else ll
        out.append(int(np.argmax(s)))
    return np.array(out, dtype=np.int64)
