"""Exact K-nearest bank distances on the CPU: products with a proven error bound, compiled selection,
float64 rescoring.

Deep kNN needs, for every query, its distances to the K nearest bank points. Ranking bank points
by distance is ranking them by the key q.b - ||b||^2 / 2, so one matrix product per block of
queries ranks the whole bank. The product is computed in float32 (numpy's BLAS) or in bfloat16
(torch; about 2x faster where the CPU has bfloat16 instructions), both with a bound on their
error. Each row keeps its top m by the computed product (`kernels.top_m`); a row whose m-th
candidate lies further than twice the bound below its K-th cannot have left out a true
neighbour, and its candidates are rescored exactly (float64 sums of the float32 products). A row
the bound cannot vouch for is searched again with a wider pool. The distances are therefore the
exact ones of the float32 features, whichever precision ranked them.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from miniature.kernels import f32_to_bf16, pair_dots, top_m

Precision = Literal["float32", "bfloat16"]
BLOCK_BYTES = 128 << 20  # one block of query-to-bank products (larger blocks multiply faster)
U_F32, U_BF16 = 2.0**-24, 2.0**-8  # unit roundoffs
PROBE = 128  # queries that try bfloat16 before the rest do


def error_bound(precision: Precision, d: int, norm: float) -> tuple[float, float]:
    """(absolute, relative) bound on |computed - exact| inner product of vectors whose norms multiply to <= norm.

    float32: accumulation of d exact products, gamma_d = d u / (1 - d u) times sum |x_i y_i|,
    which Cauchy-Schwarz bounds by `norm`, for any summation order. bfloat16: both inputs rounded
    (relative 2u + u^2 per product), accumulated in float32, and the result rounded to bfloat16
    (relative u / (1 - u) of the value returned).
    """
    gamma = d * U_F32 / (1.0 - d * U_F32)
    if precision == "float32":
        return gamma * norm, 0.0
    u = U_BF16
    return ((2 * u + u * u) + gamma * (1 + u) ** 2) * norm + 1e-30, u / (1.0 - u)


def bf16_available() -> bool:
    """True where torch multiplies bfloat16 natively on this CPU (AVX-512 BF16 or AMX)."""
    try:
        import torch
    except ImportError:
        return False
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(cpu, c, lambda: False)() for c in checks)


class _Products:
    """Blocks of query-bank inner products in one precision, into one reused buffer."""

    def __init__(self, xb: np.ndarray, precision: Precision) -> None:
        self.precision = precision
        nb = len(xb)
        if precision == "bfloat16":
            import torch

            self.torch = torch
            self.bank_t = _as_bf16(torch, xb).T  # a transposed view: oneDNN reads it as is
            self.rows = max(1, BLOCK_BYTES // (2 * nb))
            # numpy's allocation, as torch's CPU allocator does not ask for huge pages (measured:
            # the selection reading 4 KB pages of a fresh block ~20% slower)
            self.buf = torch.from_numpy(np.empty((self.rows, nb), dtype=np.int16)).view(torch.bfloat16)
        else:
            self.bank_t = xb.T
            self.rows = max(1, BLOCK_BYTES // (4 * nb))
            self.buf = np.empty((self.rows, nb), dtype=np.float32)

    def __call__(self, q: np.ndarray) -> np.ndarray:
        """(len(q), nb) products: float32, or the bit patterns of bfloat16 ones (uint16)."""
        if self.precision == "bfloat16":
            torch = self.torch
            out = self.buf[: len(q)]
            with torch.inference_mode():
                torch.mm(_as_bf16(torch, q), self.bank_t, out=out)
            return out.view(torch.int16).numpy().view(np.uint16)
        out = self.buf[: len(q)]
        np.matmul(q, self.bank_t, out=out)
        return out


def _as_bf16(torch, x: np.ndarray):
    """A torch bfloat16 tensor of float32 rows (rounded to nearest even, in parallel)."""
    return torch.from_numpy(f32_to_bf16(x).view(np.int16)).view(torch.bfloat16)


def kth_sq_distances(xb: np.ndarray, xq: np.ndarray, kmax: int, precision: Precision = "float32",
                     margin: int = 64) -> np.ndarray:
    """Squared Euclidean distances of every query to its `kmax` nearest bank points, ascending.

    Args:
        xb: (nb, d) float32 bank; xq: (nq, d) float32 queries (normalised or not).
        kmax: neighbours per query, 1 <= kmax <= nb.
        precision: of the ranking product; the distances returned are exact either way. A query
            whose bfloat16 pool cannot be vouched for is ranked again in float32, whose bound is
            some 10^4 times tighter. bfloat16 first runs on a probe of 128 queries; once most
            queries of a block need float32 (features whose neighbours crowd within the bfloat16
            bound, as fine-tuned CLS vectors do), the remaining blocks go straight to it.
        margin: candidates beyond kmax in the first pool (float32 rows that need more get 4x, again).

    Returns:
        (nq, kmax) float64.
    """
    xb = np.ascontiguousarray(xb, dtype=np.float32)
    xq = np.ascontiguousarray(xq, dtype=np.float32)
    nb, d = xb.shape
    bn = np.einsum("ij,ij->i", xb, xb, dtype=np.float64)
    qn = np.einsum("ij,ij->i", xq, xq, dtype=np.float64)
    norm = float(np.sqrt(bn.max() * qn.max()))
    spread = (bn.max() - bn.min()) / 2  # keys a - ||b||^2 / 2 share one shift; their spread adds to the slack
    products: dict[str, _Products] = {}
    out = np.empty((len(xq), kmax), dtype=np.float64)
    pending, m = np.arange(len(xq)), min(nb, kmax + margin)
    while len(pending):
        unsure, s, float32_missed = [], 0, False
        while s < len(pending):
            if precision not in products:
                products[precision] = _Products(xb, precision)
            # bfloat16 starts on a probe of 128 queries: if it cannot vouch for most of them, the
            # rest go to float32 having cost little
            size = products[precision].rows
            if precision == "bfloat16" and s == 0:
                size = min(PROBE, size)
            part = pending[s : s + size]
            s += len(part)
            eps, rel = error_bound(precision, d, norm)
            idx, val = top_m(products[precision](xq[part]), m)
            a_m = val.min(axis=1).astype(np.float64)  # the pool's lowest and its kmax-th highest
            a_k = -np.partition(-val, kmax - 1, axis=1)[:, kmax - 1].astype(np.float64)
            ok = (a_m + rel * np.abs(a_m) + 2 * eps + spread < a_k - rel * np.abs(a_k)) | (m == nb)
            rows = part[ok]
            r = np.repeat(rows, m)
            d2 = qn[r] + bn[idx[ok].ravel()] - 2.0 * pair_dots(xq, xb, r, idx[ok].ravel())
            out[rows] = np.sort(np.partition(d2.reshape(len(rows), m), kmax - 1, axis=1)[:, :kmax], axis=1)
            unsure.append(part[~ok])
            float32_missed |= precision == "float32" and not ok.all()
            if precision == "bfloat16" and (~ok).mean() > 0.5:
                precision = "float32"
        pending = np.concatenate(unsure)
        precision = "float32"  # rows bfloat16 could not settle are retried at the same pool size
        if float32_missed:  # a float32 pool too narrow: wider
            m = min(nb, 4 * m)
    return out
