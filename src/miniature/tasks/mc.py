"""Multiple choice by log-likelihood, with lm-evaluation-harness's semantics and a shared prefix:
each option's score is the summed log-probability of its continuation's tokens given the context
(lm-eval's `loglikelihood` requests of a `multiple_choice` task), but the context runs through the
model once per item and every option continues from its cached keys and values, in one batch.

Tokens as lm-eval 0.4.13 makes them (`HFLM._encode_pair`, `tok_encode`): trailing spaces of the
context move to the continuation; the context is encoded alone and the continuation is what
encoding the whole adds after it, both with the tokenizer's own special tokens (a Llama
tokenizer's BOS; none for GPT-2's, SmolLM2's or Qwen's), none where the text already starts with
the prefix token; an empty context is the prefix token (BOS, else end-of-text) unless the
continuation starts with it. `acc`: the option with the highest log-likelihood; `acc_norm`:
divided by the option's length in characters (lm-eval's `len(choice)`). A context longer than
the model's window keeps its last tokens, per option as lm-eval cuts each request (counted).
Several items share a forward pass: contexts padded on the left (positions counted from each
one's first token), options padded on the right after them.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from miniature.exceptions import DataError


def prefix_token_id(tokenizer: Any) -> int | None:
    """lm-eval's prefix token: BOS, else end-of-text."""
    return tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id


def _encode(tokenizer: Any, text: str) -> list[int]:
    """lm-eval's `tok_encode` (no add_bos_token given): the tokenizer's own special tokens, none
    where the text already starts with the prefix token's text."""
    prefix = prefix_token_id(tokenizer)
    starts = prefix is not None and text.startswith(tokenizer.decode(prefix))
    return list(tokenizer.encode(text, **({"add_special_tokens": False} if starts else {})))


def encode_pair(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """The context's tokens and the continuation's, as lm-eval encodes a request."""
    if context == "":
        cont = list(tokenizer.encode(continuation, add_special_tokens=False))
        prefix = prefix_token_id(tokenizer)
        if prefix is None:
            raise DataError("an empty context needs a BOS or end-of-text token, and the tokenizer has neither")
        return ([prefix], cont) if not cont or cont[0] != prefix else (cont[:1], cont[1:])
    spaces = len(context) - len(context.rstrip())
    if spaces:
        continuation, context = context[-spaces:] + continuation, context[:-spaces]
    whole, ctx = _encode(tokenizer, context + continuation), _encode(tokenizer, context)
    return ctx, whole[len(ctx):]


@dataclass(frozen=True)
class Encoded:
    """Every item's context tokens and its options' continuation tokens; `own`: per item, each
    option's own context where they differ (lm-eval's empty-context rule), else None."""

    contexts: tuple[tuple[int, ...], ...]
    options: tuple[tuple[tuple[int, ...], ...], ...]
    own: tuple[tuple[tuple[int, ...], ...] | None, ...] = ()


def encode_items(tokenizer: Any, items: Sequence[Any]) -> Encoded:
    """Each item encoded once: its context and each option (after the item's delimiter)."""
    contexts, options, own = [], [], []
    for item in items:
        pairs = [encode_pair(tokenizer, item.context, item.delimiter + o) for o in item.options]
        ctx = pairs[0][0]
        differ = any(other != ctx for other, _ in pairs)
        own.append(tuple(tuple(c) for c, _ in pairs) if differ else None)
        empty = [o for (_, cont), o in zip(pairs, item.options) if not cont]
        if empty:
            raise DataError(f"item {item.id!r}: option {empty[0]!r} tokenizes to nothing; give it text")
        contexts.append(tuple(ctx))
        options.append(tuple(tuple(cont) for _, cont in pairs))
    return Encoded(tuple(contexts), tuple(options), tuple(own))


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
                  batch_items: int = 32) -> Scores:
    """Every option of every item scored, `batch_items` items at a time (sorted by length): one
    forward pass over their contexts (padded on the left, their keys and values kept), then one
    over all their options, each continuing from its own item's context."""
    import torch
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    window = window_of(model)
    n = len(encoded.contexts)
    own = encoded.own or (None,) * n
    logliks: list[np.ndarray] = [np.zeros(0)] * n
    greedy: list[np.ndarray] = [np.zeros(0, dtype=bool)] * n
    shared, truncated = [], 0
    for k, (ctx, conts) in enumerate(zip(encoded.contexts, encoded.options)):
        if max(len(c) for c in conts) > window:
            raise DataError(f"an option of {max(len(c) for c in conts)} tokens does not fit the model's window "
                            f"of {window}")
        cut = len(ctx) + max(len(c) for c in conts) - 1 > window
        truncated += cut
        if cut or own[k] is not None:  # lm-eval cuts (and words) each request on its own: so does this item
            alone = [_alone(model, list((own[k] or (ctx,) * len(conts))[j]), list(c), window, device)
                     for j, c in enumerate(conts)]
            logliks[k], greedy[k] = np.array([a[0] for a in alone]), np.array([a[1] for a in alone])
        else:
            shared.append(k)
    contexts = list(encoded.contexts)
    order = sorted(shared, key=lambda k: (len(contexts[k]), max(len(c) for c in encoded.options[k])))
    bar = tqdm(total=len(order), desc="options", unit="item", disable=not progress, mininterval=1.0)
    with torch.inference_mode():
        for start in range(0, len(order), batch_items):
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
            # options of more than one token continue in groups of similar length (little padding),
            # each from its own rows of the contexts' cache
            longer = sorted((r for r, c in enumerate(row_conts) if len(c) > 1), key=lambda r: len(row_conts[r]))
            groups: list[list[int]] = []
            for r in longer:
                if not groups or len(row_conts[r]) > 2 * len(row_conts[groups[-1][0]]):
                    groups.append([])
                groups[-1].append(r)
            # the cache: `cache` in transformers 5.x (argument and output), `past_key_values` before
            cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
            past = getattr(out, cache_arg)
            for g, group in enumerate(groups):
                cache = past if g == len(groups) - 1 else copy.deepcopy(past)
                cache.batch_select_indices(owner[group])  # each option row continues its own item's context
                rest = max(len(row_conts[r]) for r in group) - 1
                more = torch.full((len(group), rest), pad_id, dtype=torch.long, device=device)
                more_mask = torch.zeros((len(group), rest), dtype=torch.long, device=device)
                for i, r in enumerate(group):
                    more[i, : len(row_conts[r]) - 1] = torch.tensor(row_conts[r][:-1], device=device)
                    more_mask[i, : len(row_conts[r]) - 1] = 1
                rows_mask = mask[owner[group]]
                pos = rows_mask.sum(-1)[:, None] + torch.arange(rest, device=device)[None, :]
                logits = model(input_ids=more, attention_mask=torch.cat([rows_mask, more_mask], 1),
                               position_ids=pos, use_cache=False, **{cache_arg: cache}).logits
                lp = torch.log_softmax(logits.float(), -1)
                for i, r in enumerate(group):
                    c = row_conts[r]
                    target = torch.tensor(c[1:], device=device)
                    steps = lp[i, : len(c) - 1]
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


def _alone(model: Any, ctx: list[int], cont: list[int], window: int, device: Any) -> tuple[float, bool]:
    """One request as lm-eval runs it: (context + continuation) cut to the window's last positions
    (less the last token, which predicts nothing), in one pass."""
    import torch

    tokens = (ctx + cont)[-(window + 1):][:-1]
    with torch.inference_mode():
        lp = torch.log_softmax(model(input_ids=torch.tensor([tokens], device=device)).logits[0, -len(cont):].float(),
                               -1)
    target = torch.tensor(cont, device=device)
    return float(lp.gather(-1, target[:, None]).double().sum()), bool((lp.argmax(-1) == target).all())


def choices(items: Sequence[Any], scores: Scores, norm: bool = False) -> np.ndarray:
    """Each item's chosen option: the highest log-likelihood (`norm`: per character of the option)."""
    out = []
    for item, ll in zip(items, scores.logliks):
        s = ll / np.array([max(len(o), 1) for o in item.options], dtype=np.float64) if norm else ll
        out.append(int(np.argmax(s)))
    return np.array(out, dtype=np.int64)
