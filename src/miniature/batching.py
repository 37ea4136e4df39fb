"""Batching and padding, the one module every task and training loop uses: length-sorted batches
under a token budget, length-grouped training batches, and rows padded to a batch's longest."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np

Side = Literal["right", "left"]


def length_batches(lengths: np.ndarray, max_windows: int, max_tokens: int | None) -> list[np.ndarray]:
    """Sequences sorted longest first, cut into batches of at most `max_windows` sequences and at
    most `max_tokens` tokens once padded to the batch's longest sequence."""
    order = np.argsort(-lengths, kind="stable")  # longest first: memory trouble shows at once
    batches, start = [], 0
    while start < len(order):
        width = max(1, int(lengths[order[start]]))  # the longest of the batch comes first
        size = max_windows if max_tokens is None else max(1, min(max_windows, max_tokens // width))
        batches.append(order[start : start + size])
        start += size
    return batches


def length_grouped_batches(lengths: Sequence[int], batch_size: int, seed: int, group: int = 50) -> Iterator[list[int]]:
    """Endless batches of row indices with little padding, as the Trainer's `group_by_length`: each
    epoch, a seeded shuffle is cut into groups of `group` batches, each group sorted by length and
    cut into batches, and the epoch's batches are then visited in a seeded random order. Every row
    comes once per epoch, as with a plain shuffle; only which rows share a batch changes."""
    import torch  # its generator: the same seeds give the same batches as before

    gen = torch.Generator().manual_seed(seed)
    n, size = len(lengths), group * batch_size
    while True:
        order = torch.randperm(n, generator=gen).tolist()
        batches: list[list[int]] = []
        for s in range(0, n, size):
            chunk = sorted(order[s : s + size], key=lambda i: -lengths[i])
            batches += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
        for b in torch.randperm(len(batches), generator=gen).tolist():
            yield batches[b]


def pad_rows(rows: Sequence[Any], fill: int, width: int | None = None, side: Side = "right") -> np.ndarray:
    """(len(rows), width) int64: each row's values, then `fill` up to `width` (default: the longest
    row); `side="left"` puts the padding first, as decoder-only models want it."""
    lengths = [len(r) for r in rows]
    width = max(lengths, default=0) if width is None else width
    out = np.full((len(rows), width), fill, dtype=np.int64)
    for i, (row, n) in enumerate(zip(rows, lengths)):
        if n:
            if side == "right":
                out[i, :n] = row
            else:
                out[i, width - n :] = row
    return out


def attention_mask(lengths: Sequence[int] | np.ndarray, width: int, side: Side = "right") -> np.ndarray:
    """(len(lengths), width) int64: 1 over each row's tokens, 0 over its padding."""
    positions = np.arange(width)[None, :]
    n = np.asarray(lengths, dtype=np.int64)[:, None]
    keep = positions < n if side == "right" else positions >= width - n
    return keep.astype(np.int64)
