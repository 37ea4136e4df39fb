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

The bound grows with the norms of the vectors multiplied. Fine-tuned CLS vectors crowd around one
shared direction: unit vectors whose neighbours lie within the bound of unit-norm products. For
them the ranking runs on vectors centred on the bank's mean, each bank row carrying its own
-||b - mu||^2 / 2 in an extra coordinate (`ranking_space`): the same order, from vectors a
fraction of the length, so a bound as many times tighter.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from miniature.kernels import f32_to_bf16, pair_dots, top_m

Precision = Literal["float32", "bfloat16"]
BLOCK_BYTES = 128 << 20  # one block of query-to-bank products (larger blocks multiply faster)
U_F32, U_BF16 = 2.0**-24, 2.0**-8  # unit roundoffs
PROBE = 128  # queries that try bfloat16 before the rest do
PROBE_POOL = 512  # their pools: wider costs more selection than a float32 product saves


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


def ranking_space(xb: np.ndarray, xq: np.ndarray, bn: np.ndarray, qn: np.ndarray,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray]:
    """The vectors whose products rank the bank for each query, with what bounds their error.

    Returns (rb, rq, q_norms, b_norm, slack): ranking by rq.rb per query orders the bank by
    distance; q_norms[i] * b_norm bounds the norms' product for query i, the factor of the
    product's error bound; slack[i] is what the row's pool check must add besides twice that
    bound.

    Either the vectors as they are (keys q.b, slack the spread of ||b||^2 / 2, zero for unit
    rows), or, where it makes the bound smaller, centred on the bank mean mu with one extra
    coordinate: rq = [q - mu, c], rb = [b - mu, -||b - mu||^2 / (2c)], so that
    rq.rb = (q - mu).(b - mu) - ||b - mu||^2 / 2, exactly the order of ||q - b||^2, with no slack.
    c = sqrt(Q B / 2) (Q, B the largest centred norms) minimises the norms' product, to
    Q B + B^2 / 2. Both centred rows are rounded to float32 once, which moves a key by at most
    3 u (|q - mu| B + B^2): twice that is the slack. Rows are padded with zeros to a multiple
    of 16 coordinates, whole 32-byte bfloat16 vectors (zeros add nothing to a product; measured
    on this CPU, 400 coordinates multiply as fast as 385, so the padding neither helps nor costs).
    """
    b_norm = float(np.sqrt(bn.max()))
    spread = float(bn.max() - bn.min()) / 2
    mu = xb.mean(axis=0, dtype=np.float64)
    mu32 = mu.astype(np.float32)
    m64 = mu32.astype(np.float64)
    mm = float(m64 @ m64)
    cbn = np.maximum(bn - 2.0 * (xb @ mu32).astype(np.float64) + mm, 0.0)  # ||b - mu||^2, to ~1e-7
    cqn = np.maximum(qn - 2.0 * (xq @ mu32).astype(np.float64) + mm, 0.0)
    cb_max = float(np.sqrt(cbn.max())) * (1 + 1e-6) + 1e-12
    cq = np.sqrt(cqn) * (1 + 1e-6) + 1e-12
    q_max = float(cq.max())
    # the centred product bound against the plain one (its slack counted as unit-norm error)
    if q_max * cb_max + cb_max**2 / 2 >= 0.5 * (float(np.sqrt(qn.max())) * b_norm + spread):
        return xb, xq, np.sqrt(qn) * (1 + 1e-6), b_norm * (1 + 1e-6), np.full(len(xq), spread)
    c = np.float32(np.sqrt(q_max * cb_max / 2))
    d = xb.shape[1]
    width = -(-(d + 1) // 16) * 16
    rb = np.zeros((len(xb), width), dtype=np.float32)
    np.subtract(xb, mu32, out=rb[:, :d])
    rq = np.zeros((len(xq), width), dtype=np.float32)
    np.subtract(xq, mu32, out=rq[:, :d])
    sq = np.einsum("ij,ij->i", rb[:, :d], rb[:, :d], dtype=np.float64)  # of the rounded rows
    rb[:, d] = (-sq / (2.0 * np.float64(c))).astype(np.float32)
    rq[:, d] = c
    rb_norm = float(np.sqrt(np.einsum("ij,ij->i", rb, rb, dtype=np.float64).max())) * (1 + 1e-6)
    rq_norms = np.sqrt(np.einsum("ij,ij->i", rq, rq, dtype=np.float64)) * (1 + 1e-6)
    return rb, rq, rq_norms, rb_norm, 6 * U_F32 * (cq * cb_max + cb_max**2)


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
        self.bank_t: Any  # a torch bfloat16 view, or a numpy float32 one
        self.buf: Any
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
            some 10^4 times tighter. bfloat16 first runs on a probe of 128 queries with pools of
            512, which tells how wide the rest's pools must be (9 in 10 probe rows' need, plus a
            quarter). If most probe rows need more than 512 (neighbours crowding within the
            bound even after centring), the remaining blocks go straight to float32.
        margin: candidates beyond kmax in the first pool (float32 rows that need more get 4x, again).

    Only candidates whose key's upper bound reaches the kmax-th's lower bound are rescored.

    Returns:
        (nq, kmax) float64.
    """
    xb = np.ascontiguousarray(xb, dtype=np.float32)
    xq = np.ascontiguousarray(xq, dtype=np.float32)
    nb = len(xb)
    bn = np.einsum("ij,ij->i", xb, xb, dtype=np.float64)
    qn = np.einsum("ij,ij->i", xq, xq, dtype=np.float64)
    rb, rq, q_norms, b_norm, slack = ranking_space(xb, xq, bn, qn)
    width = rb.shape[1]
    products: dict[str, _Products] = {}
    out = np.empty((len(xq), kmax), dtype=np.float64)
    pending = np.arange(len(xq))
    m32 = m_bf = min(nb, kmax + margin)
    probing = precision == "bfloat16"
    while len(pending):
        unsure, s, float32_missed = [], 0, False
        while s < len(pending):
            prec = precision
            if prec not in products:
                products[prec] = _Products(rb, prec)
            size, m = products[prec].rows, (m_bf if prec == "bfloat16" else m32)
            probe = probing and prec == "bfloat16"
            if probe:  # a few queries, a wide pool: how wide must bfloat16's pools be here?
                size, m = min(PROBE, size), min(nb, max(m, PROBE_POOL))
            part = pending[s : s + size]
            s += len(part)
            coef, rel = error_bound(prec, width, 1.0)
            eps = coef * q_norms[part] * b_norm
            idx, val = top_m(products[prec](rq[part]), m)
            val = val.astype(np.float64)
            a_k = -np.partition(-val, kmax - 1, axis=1)[:, kmax - 1]  # each row's kmax-th highest
            # a candidate can be a true neighbour only if its key's upper bound reaches the
            # kmax-th's lower bound; a pool is sure when its lowest member cannot
            floor = a_k - rel * np.abs(a_k) - 2 * eps - slack[part]
            maybe = val + rel * np.abs(val) >= floor[:, None]
            need = maybe.sum(axis=1)  # the pool each row needs, less one
            ok = (need < m) | (m == nb)
            rows = part[ok]
            hit = maybe[ok]
            r = np.repeat(rows, need[ok])
            d2 = np.full(hit.shape, np.inf)
            cand = idx[ok][hit]
            d2[hit] = qn[r] + bn[cand] - 2.0 * pair_dots(xq, xb, r, cand)
            out[rows] = np.sort(np.partition(d2, kmax - 1, axis=1)[:, :kmax], axis=1)
            unsure.append(part[~ok])
            float32_missed |= prec == "float32" and not ok.all()
            if probe:
                probing = False
                if ok.mean() >= 0.5:  # bfloat16 pools as wide as 9 in 10 probe rows needed
                    m_bf = min(nb, PROBE_POOL, max(m_bf, int(np.quantile(need + 1, 0.9) * 1.25)))
                else:  # crowded beyond what bfloat16 can rank: float32 for the rest
                    precision = "float32"
            elif prec == "bfloat16" and (~ok).mean() > 0.5:
                precision = "float32"
        pending = np.concatenate(unsure)
        if float32_missed:  # a float32 pool too narrow: wider
            m32 = min(nb, 4 * m32)
        precision = "float32"  # rows bfloat16 could not settle go to float32
    return out
