"""Timing on a noisy machine: every method once untimed, then interleaved rotated rounds, medians.

This machine's speed drifts by 20-30% within a minute, and the first calls of a process run up
to 2x slower. Interleaving exposes every method to the drift alike; rotating the order (each
round starts one method later) keeps any method from always following the same one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np


def interleaved(methods: Mapping[str, Callable[[], Any]], repeat: int
                ) -> tuple[dict[str, Any], dict[str, list[float]], dict[str, float]]:
    """(each method's last output, its seconds per round, its median seconds)."""
    for fn in methods.values():  # once untimed at full size
        fn()
    order = list(methods)
    outs: dict[str, Any] = {}
    runs: dict[str, list[float]] = {name: [] for name in order}
    for r in range(repeat):
        for name in order[r % len(order):] + order[: r % len(order)]:
            t0 = time.perf_counter()
            outs[name] = methods[name]()
            runs[name].append(time.perf_counter() - t0)
    return outs, runs, {name: float(np.median(ts)) for name, ts in runs.items()}
