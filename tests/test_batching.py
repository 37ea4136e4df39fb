"""Padding and batching, the one module every task uses: hand-worked rows on both sides."""

from __future__ import annotations

import numpy as np
import pytest

from miniature.batching import attention_mask, length_batches, pad_rows


def test_rows_are_padded_to_the_longest_on_either_side():
    rows = [[5, 6, 7], [8], []]
    assert pad_rows(rows, 0).tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]]
    assert pad_rows(rows, 9, side="left").tolist() == [[5, 6, 7], [9, 9, 8], [9, 9, 9]]
    assert pad_rows([np.array([1, 2], dtype=np.int32)], 0, width=4).tolist() == [[1, 2, 0, 0]]
    assert pad_rows(rows, 0).dtype == np.int64
    assert attention_mask([3, 1, 0], 3).tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert attention_mask([3, 1, 0], 3, side="left").tolist() == [[1, 1, 1], [0, 0, 1], [0, 0, 0]]


@pytest.mark.parametrize("side", ["right", "left"])
def test_the_mask_marks_exactly_the_values_of_each_row(side):
    rng = np.random.default_rng(0)
    rows = [rng.integers(1, 100, size=n) for n in rng.integers(0, 12, size=40)]
    padded = pad_rows(rows, 0, side=side)
    mask = attention_mask([len(r) for r in rows], padded.shape[1], side=side)
    for row, p, m in zip(rows, padded, mask):
        assert p[m.astype(bool)].tolist() == row.tolist() and not p[~m.astype(bool)].any()


def test_length_batches_keep_every_row_once_under_the_token_budget():
    lengths = np.array([5, 60, 12, 60, 7, 33, 1])
    batches = length_batches(lengths, 3, 100)
    assert sorted(np.concatenate(batches).tolist()) == list(range(7))
    assert all(len(b) * lengths[b].max() <= 100 or len(b) == 1 for b in batches)
    assert batches[0].tolist() == [1]  # the longest first, alone: two of 60 would pass 100 tokens
