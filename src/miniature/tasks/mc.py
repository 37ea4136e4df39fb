"""Multiple choice by log-likelihood, with lm-evaluation-harness's semantics and a shared prefix:
each option's score is the summed log-probability of its continuation's tokens given the context
(lm-eval's `loglikelihood` requests of a `multiple_choice` task), but the context runs through the
model once per item and every option continues from its cached keys and values, in one batch.

Tokens as lm-eval makes them (`HFLM._encode_pair`): trailing spaces of the context move to the
continuation; the context is encoded alone and the continuation is what encoding the whole adds
after it; no special tokens (an empty context is the end-of-text token). `acc`: the option with the
highest log-likelihood; `acc_norm`: divided by the option's length in characters (lm-eval's
`len(choice)`). A context longer than the model's window keeps its last tokens (counted). Several
items share a forward pass: contexts padded on the left (positions counted from each one's first
token), options padded on the right after them.
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


def score_encoded(model: Any, encoded: Encoded, pad_id: int, progress: bool = False,
                  batch_items: int = 16) -> Scores:
    """Every option of every item scored, `batch_items` items at a time (sorted by length): one
    forward pass over their contexts (padded on the left, their keys and values kept), then one
    over all their options, each continuing from its own item's context."""
    import torch
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    window = window_of(model)
    n = len(encoded.contexts)
    contexts, truncated = [], 0
    for ctx, conts in zip(encoded.contexts, encoded.options):
        keep = window - max(len(c) for c in conts) + 1  # the context tokens that fit beside the longest option
        if keep < 1:
            raise DataError(f"an option of {max(len(c) for c in conts)} tokens does not fit the model's window "
                            f"of {window}")
        truncated += len(ctx) > keep
        contexts.append(ctx[-keep:])
    order = sorted(range(n), key=lambda k: (len(contexts[k]), max(len(c) for c in encoded.options[k])))
    logliks: list[np.ndarray] = [np.zeros(0)] * n
    greedy: list[np.ndarray] = [np.zeros(0, dtype=bool)] * n
    bar = tqdm(total=n, desc="options", unit="item", disable=not progress, mininterval=1.0)
    with torch.inference_mode():
        for start in range(0, n, batch_items):
            chunk = order[start : start + batch_items]
            width = max(len(contexts[k]) for k in chunk)
            ids = torch.full((len(chunk), width), pad_id, dtype=torch.long, device=device)
            mask = torch.zeros((len(chunk), width), dtype=torch.long, device=device)
            for b, k in enumerate(chunk):  # left padding: every context ends at the last position
                ids[b, width - len(contexts[k]) :] = torch.tensor(contexts[k], device=device)
                mask[b, width - len(contexts[k]) :] = 1
            # only the last position's logits are read of the contexts (the vocabulary's projection at
            # every other position would cost as much again for a small model)
            out = model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                        use_cache=True, logits_to_keep=1)
            first = torch.log_softmax(out.logits[:, -1].float(), -1)
            rows = [(b, j) for b, k in enumerate(chunk) for j in range(len(encoded.options[k]))]
            row_conts = [encoded.options[chunk[b]][j] for b, j in rows]
            firsts = torch.tensor([c[0] for c in row_conts], device=device)
            owner = torch.tensor([b for b, _ in rows], device=device)
            ll = first[owner, firsts].double().cpu().numpy()
            ok = (first.argmax(-1)[owner] == firsts).cpu().numpy()
            rest = max(len(c) for c in row_conts) - 1
            if rest > 0:
                past = out.past_key_values
                past.batch_select_indices(owner)  # each option row continues its own item's context
                more = torch.full((len(rows), rest), pad_id, dtype=torch.long, device=device)
                more_mask = torch.zeros((len(rows), rest), dtype=torch.long, device=device)
                for r, c in enumerate(row_conts):
                    more[r, : len(c) - 1] = torch.tensor(c[:-1], device=device)
                    more_mask[r, : len(c) - 1] = 1
                lengths = mask.sum(-1)[owner]
                pos = lengths[:, None] + torch.arange(rest, device=device)[None, :]
                logits = model(input_ids=more, attention_mask=torch.cat([mask[owner], more_mask], 1),
                               position_ids=pos, past_key_values=past, use_cache=False).logits
                lp = torch.log_softmax(logits.float(), -1)
                for r, c in enumerate(row_conts):
                    if len(c) > 1:
                        target = torch.tensor(c[1:], device=device)
                        steps = lp[r, : len(c) - 1]
                        ll[r] += float(steps.gather(-1, target[:, None]).double().sum())
                        ok[r] &= bool((steps.argmax(-1) == target).all())
            at = 0
            for b, k in enumerate(chunk):
                m = len(encoded.options[k])
                logliks[k], greedy[k] = ll[at : at + m], ok[at : at + m]
                at += m
            bar.update(len(chunk))
    bar.close()
    return Scores(tuple(logliks), tuple(greedy), int(truncated))


def choices(items: Sequence[Any], scores: Scores, norm: bool = False) -> np.ndarray:
    """Each item's chosen option: the highest log-likelihood (`norm`: per character of the option)."""
    out = []
    for item, ll in zip(items, scores.logliks):
        s = ll / np.array([max(len(o), 1) for o in item.options], dtype=np.float64) if norm else ll
        out.append(int(np.argmax(s)))
    return np.array(out, dtype=np.int64)
