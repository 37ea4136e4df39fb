"""Language modelling as llama.cpp's perplexity tool scores it (`llama-perplexity -f wiki.test.raw
-c N_CTX`), and the per-token comparison of two models its KL-divergence mode makes, exactly.

llama.cpp's rule: the whole text is tokenized once (with the tokenizer's BOS where it adds one)
and cut into `len(tokens) // n_ctx` windows of `n_ctx` tokens, none overlapping; where the
tokenizer adds a BOS, each window's first token is replaced by it. Each window is read on its own
(no context from the one before) and only its second half is scored: the logits at positions
`n_ctx // 2` to `n_ctx - 2` predict the tokens after them, `n_ctx - 1 - n_ctx // 2` tokens a
window, so every scored token has at least half a window of context. Perplexity is
`exp(mean NLL)` over all scored tokens; its uncertainty is llama.cpp's (the NLL's standard error
times the perplexity).

The comparison runs the reference model in lockstep with the compared one, window by window, so
the KL divergence of every token is exact over the whole vocabulary (llama.cpp stores the base
model's log-probabilities instead, as 16-bit integers with entries below e^-16 dropped: 11 GiB
for a 7B model over WikiText-2) and nothing of the size of the vocabulary is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from miniature.exceptions import DataError


def adds_bos(tokenizer: Any) -> bool:
    """Whether the tokenizer starts an encoded text with its BOS (llama.cpp's `add_bos`)."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return False
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == bos


def llama_cpp_windows(tokens: Sequence[int], n_ctx: int, chunks: int | None, bos: int | None) -> np.ndarray:
    """The (windows x n_ctx) token windows llama.cpp's perplexity reads: consecutive, the first
    `chunks` of them (all where None), each starting with `bos` where given."""
    if len(tokens) < 2 * n_ctx:
        raise DataError(f"the text tokenizes to {len(tokens)} tokens; perplexity with n_ctx {n_ctx} needs "
                        f"{2 * n_ctx} at least (as llama.cpp): give more text or a smaller n_ctx")
    n = len(tokens) // n_ctx
    n = min(n, chunks) if chunks is not None else n
    windows = np.asarray(tokens[: n * n_ctx], dtype=np.int64).reshape(n, n_ctx).copy()
    if bos is not None:
        windows[:, 0] = bos
    return windows


@dataclass(frozen=True)
class TokenScores:
    """Per window and scored position (windows x n_ctx - 1 - n_ctx // 2): the log-probability of
    the actual next token, the top token, and against a reference run in lockstep, KL(reference ||
    model), KL(model || reference) and the reference's top token."""

    logprob: np.ndarray
    top1: np.ndarray
    kl: np.ndarray | None = None
    kl_reverse: np.ndarray | None = None
    # each position's top-K (ids, log-probabilities, most probable first) and the log of the rest's
    # mass: `paired.kl_top_k`'s summary, for pairs no lockstep run covers
    top_ids: np.ndarray | None = None
    top_logprobs: np.ndarray | None = None
    tail: np.ndarray | None = None


def _log_probs(model: Any, ids: Any, keep: int) -> Any:
    import torch

    out = model(input_ids=ids, logits_to_keep=keep, use_cache=False)
    return torch.log_softmax(out.logits[:, :-1].float(), -1)


def score_windows(model: Any, windows: np.ndarray, reference: Any = None, batch: int = 4,
                  progress: bool = False, top_k: int = 0) -> TokenScores:
    """Every window's second half scored by `model` (and by `reference` in lockstep, where given),
    `batch` windows a forward pass; only the scored positions' logits are computed. `top_k`: keep
    each position's top-K summary too."""
    import torch
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    n, n_ctx = windows.shape
    first = n_ctx // 2
    keep = n_ctx - first  # positions first .. n_ctx - 1; the last predicts nothing scored
    logprob = np.zeros((n, keep - 1))
    top1 = np.zeros((n, keep - 1), dtype=np.int64)
    kl = np.zeros((n, keep - 1)) if reference is not None else None
    kl_rev = np.zeros((n, keep - 1)) if reference is not None else None
    top_ids = np.zeros((n, keep - 1, top_k), dtype=np.int32) if top_k else None
    top_lp = np.zeros((n, keep - 1, top_k), dtype=np.float32) if top_k else None
    tail = np.zeros((n, keep - 1)) if top_k else None
    bar = tqdm(total=n, desc="windows", unit="window", disable=not progress, mininterval=1.0)
    with torch.inference_mode():
        for start in range(0, n, batch):
            ids = torch.as_tensor(windows[start : start + batch], device=device)
            target = ids[:, first + 1 :]
            lp = _log_probs(model, ids, keep)
            rows = slice(start, start + len(ids))
            logprob[rows] = lp.gather(-1, target[..., None])[..., 0].double().cpu().numpy()
            top1[rows] = lp.argmax(-1).cpu().numpy()
            if top_k:
                assert top_ids is not None and top_lp is not None and tail is not None
                vals, ids_k = lp.topk(min(top_k, lp.shape[-1]), -1)
                top_ids[rows], top_lp[rows] = ids_k.cpu().numpy(), vals.cpu().numpy()
                rest = lp.double().scatter(-1, ids_k, float("-inf"))  # the rest's mass, summed (no 1 - top)
                tail[rows] = torch.logsumexp(rest, -1).cpu().numpy()
            if reference is not None:
                assert kl is not None and kl_rev is not None
                lr = _log_probs(reference, ids, keep)
                for b in range(len(ids)):  # in float64, one window at a time (positions x vocabulary)
                    p, q = lr[b].double(), lp[b].double()
                    kl[start + b] = (p.exp() * (p - q)).sum(-1).cpu().numpy()
                    kl_rev[start + b] = (q.exp() * (q - p)).sum(-1).cpu().numpy()
            bar.update(len(ids))
    bar.close()
    return TokenScores(logprob, top1, kl, kl_rev, top_ids, top_lp, tail)


def perplexity(logprob: np.ndarray) -> tuple[float, float]:
    """exp(mean NLL) of the scored tokens and llama.cpp's uncertainty (its standard error times it)."""
    nll = -np.asarray(logprob, dtype=np.float64).ravel()
    ppl = float(np.exp(nll.mean()))
    return ppl, float(ppl * nll.std(ddof=1) / np.sqrt(nll.size)) if nll.size > 1 else float("nan")
