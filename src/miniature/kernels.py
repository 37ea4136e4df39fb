"""Compiled (numba) hot loops of exact neighbour search: row-wise top-m, pair scores, orders, overlaps.

Both kNN (representation) and Deep kNN (distribution) score blocks of queries against every
point with one BLAS product, then keep each row's best candidates. numpy's `argpartition`
makes four passes over a row and runs on one core; the compiled kernel reads a row once,
keeps a small buffer above a running threshold, and runs rows in parallel, which makes the
selection about ten times cheaper than the product instead of as costly. Without numba the
same results come from numpy (slower). Which m candidates are kept where values tie at the
m-th is unspecified, as with `argpartition`: callers widen the pool where ties could matter.
"""

from __future__ import annotations

import os
import threading

import numpy as np

try:
    import numba
    import numba.extending
except ImportError:  # pragma: no cover - numba is a dependency; the numpy path stays correct
    numba = None  # type: ignore[assignment]
else:
    if "NUMBA_THREADING_LAYER" not in os.environ:
        # OpenMP workers spin after a parallel region and starve the BLAS and FAISS threads that
        # run next (measured: 3.9 s against 2.4 s for the kNN benchmark on 2 cores).
        numba.config.THREADING_LAYER = "workqueue"  # type: ignore[attr-defined]  # set at run time
# The workqueue layer aborts the process if two threads run parallel kernels at once: every
# kernel call below holds this lock, so callers on several threads queue instead.
_LOCK = threading.Lock()


def has_numba() -> bool:
    return numba is not None


def top_m(block: np.ndarray, m: int, exclude: np.ndarray | None = None,
          compiled: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Each row's `m` largest values and their column indices, in no particular order.

    Args:
        block: (r, n) float32 scores, or uint16 bit patterns of bfloat16 scores (read as such).
        m: how many per row, 1 <= m <= n minus the excluded column.
        exclude: (r,) a column per row never to return (the point itself), or -1 for none.
        compiled: use the numba kernel when numba is installed (False: numpy, for reference).

    Returns:
        (idx int64 (r, m), values float32 (r, m)).
    """
    r, n = block.shape
    exclude = np.full(r, -1, dtype=np.int64) if exclude is None else np.ascontiguousarray(exclude, dtype=np.int64)
    if not 1 <= m <= n - int((exclude >= 0).any()):
        raise ValueError(f"top_m: m={m} must lie in [1, {n}] (minus an excluded column)")
    if compiled and numba is not None:
        idx = np.empty((r, m), dtype=np.int64)
        val = np.empty((r, m), dtype=np.float32)
        with _LOCK:
            _top_m(np.ascontiguousarray(block), exclude, m, idx, val, numba.get_num_threads())
        return idx, val
    vals = bf16_to_f32(block) if block.dtype == np.uint16 else np.array(block, dtype=np.float32)
    rows = np.flatnonzero(exclude >= 0)
    vals[rows, exclude[rows]] = -np.inf
    idx = np.argpartition(-vals, m - 1, axis=1)[:, :m]
    return idx.astype(np.int64), np.take_along_axis(vals, idx, 1)


def sort_rows(idx: np.ndarray, val: np.ndarray, nearly_sorted: bool = False) -> None:
    """Sort each row in place by value descending, then index ascending (a total, deterministic order).

    `nearly_sorted`: rows already in that order but for a few short runs (an insertion sort).
    """
    if numba is not None:
        with _LOCK:
            _sort_rows(idx, val, nearly_sorted)
        return
    order = np.lexsort((idx, -val), axis=-1)
    idx[:] = np.take_along_axis(idx, order, 1)
    val[:] = np.take_along_axis(val, order, 1)


def knn_overlaps(a: np.ndarray, b: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """(n, len(ks)) |A_K(p) n B_K(p)| from ranked neighbour rows a, b (distinct indices per row).

    A point at rank j in b and rank r in a is in both K-sets exactly when max(j, r) < K; the
    kernel marks a's row in a table indexed by point, reads b's row against it, and counts.
    """
    ks = np.asarray(ks, dtype=np.int64)
    order = np.argsort(ks, kind="stable")  # the kernel reads the Ks ascending
    out = np.empty((a.shape[0], len(ks)), dtype=np.int64)
    span = int(max(a.max(), b.max())) + 1
    with _LOCK:
        _knn_overlaps(np.ascontiguousarray(a, dtype=np.int64), np.ascontiguousarray(b, dtype=np.int64),
                      np.ascontiguousarray(ks[order]), span, out, numba.get_num_threads())
    result = np.empty_like(out)
    result[:, order] = out
    return result


def f32_to_bf16(x: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) of finite float32 values, rounded to nearest, ties to even.

    torch's own conversion runs on one core (80 ms for a 50,000 x 384 bank here).
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    bits = x.view(np.uint32)
    if numba is not None:
        out = np.empty(x.shape, dtype=np.uint16)
        with _LOCK:
            _f32_to_bf16(bits.reshape(-1), out.reshape(-1))
        return out
    return ((bits + np.uint32(0x7FFF) + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    """float32 values of bfloat16 bit patterns (exact: bfloat16 is float32's upper half)."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def pair_dots(a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray,
              compiled: bool = True) -> np.ndarray:
    """float64 inner products a[rows[i]] . b[cols[i]] of float32 rows.

    Every float32 product is exact in float64, so the result differs from the true inner
    product only by float64 summation error (about 1e-16; the compiled kernel sums in SIMD
    lanes, the same order on every call, so equal inputs give equal outputs).
    """
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    cols = np.ascontiguousarray(cols, dtype=np.int64)
    if compiled and numba is not None:
        out = np.empty(len(rows), dtype=np.float64)
        with _LOCK:
            _pair_dots(np.ascontiguousarray(a, dtype=np.float32), np.ascontiguousarray(b, dtype=np.float32),
                       rows, cols, out)
        return out
    out = np.zeros(len(rows), dtype=np.float64)
    for t in range(a.shape[1]):  # column by column: no (pairs x d) float64 copy
        out += a[rows, t].astype(np.float64) * b[cols, t].astype(np.float64)
    return out


if numba is not None:

    @numba.njit(cache=True, nogil=True)
    def _select(v, ix, lo, hi, k):  # pragma: no cover - compiled
        """Quickselect on v[lo:hi] (descending), moving ix along: v[lo:k] >= v[k] >= v[k+1:hi]."""
        hi -= 1
        while hi > lo:
            mid = (lo + hi) >> 1
            a, b, c = v[lo], v[mid], v[hi]
            pivot = max(min(a, b), min(max(a, b), c))  # median of three
            i, j = lo, hi
            while i <= j:
                while v[i] > pivot:
                    i += 1
                while v[j] < pivot:
                    j -= 1
                if i <= j:
                    v[i], v[j] = v[j], v[i]
                    ix[i], ix[j] = ix[j], ix[i]
                    i += 1
                    j -= 1
            if k <= j:
                hi = j
            elif k >= i:
                lo = i
            else:
                return

    @numba.njit(cache=True, nogil=True)
    def _scan(row, excl, m, thr, bv, bi):  # pragma: no cover - compiled
        """Candidates above `thr` into a buffer, compacted to the top m when full; how many were seen.

        Rows are read in blocks of 32 whose maximum (a vectorised loop) is checked first: most
        blocks of a long row hold nothing above the threshold and cost a quarter of a scalar pass.
        """
        cap = len(bv)
        cnt = 0
        seen = 0
        n = len(row)
        for s in range(0, n, 32):
            e = min(n, s + 32)
            mx = row[s]
            for t in range(s + 1, e):
                mx = max(mx, row[t])
            if not mx > thr:
                continue
            for j in range(s, e):
                v = row[j]
                if v > thr and j != excl:  # a value equal to the m-th kept may be dropped: ties are free
                    bv[cnt] = v
                    bi[cnt] = j
                    cnt += 1
                    seen += 1
                    if cnt == cap:
                        _select(bv, bi, 0, cnt, m - 1)
                        thr = bv[m - 1]
                        cnt = m
        if cnt > m:
            _select(bv, bi, 0, cnt, m - 1)
        return seen

    @numba.njit(cache=True, nogil=True)
    def _select_row(row, excl, m, bv, bi, out_i, out_v, lowest, guess):  # pragma: no cover - compiled
        """Top m of one row: one scan keeping a buffer above a running threshold.

        The threshold starts where few values beat it. Where the m best are a large share of the
        row (n < 128 m, a kNN of a few thousand points), at the q-th largest of an evenly spaced
        sample, chosen so that about 2.5 m values exceed it; in longer rows (a query against a
        bank), at `guess`, the lowest m-th value of the rows this thread did last. If fewer than
        m values exceed the start, the row is scanned again from `lowest`, below every value.
        """
        n = len(row)
        stride = (5 * m) // 32  # a sample of n / stride values holds about 16 of the 2.5 m best
        thr = guess
        if stride >= 4 and n < 128 * m:
            thr = lowest
            ns = 0
            for j in range(0, n, stride):
                if j != excl:
                    bv[ns] = row[j]
                    bi[ns] = j
                    ns += 1
            q = (5 * m * ns) // (2 * n) + 1
            if ns > q:
                _select(bv, bi, 0, ns, q - 1)
                thr = bv[q - 1]
        if _scan(row, excl, m, thr, bv, bi) < m:
            _scan(row, excl, m, lowest, bv, bi)
        for t in range(m):
            out_i[t] = bi[t]
            out_v[t] = bv[t]
        return bv[:m].min()

    @numba.njit(cache=True, nogil=True)
    def _guess(recent):  # pragma: no cover - compiled
        """A start below the next row's m-th value: the recent lowest less the recent spread
        (a start too high costs a second scan of the row)."""
        lo, hi = recent.min(), recent.max()
        return lo - (hi - lo) if hi > -np.inf else lo

    @numba.njit(cache=True)
    def _capacity(n, m):  # pragma: no cover - compiled
        stride = (5 * m) // 32
        return max(4 * m, 256, n // stride + 1 if stride >= 4 and n < 128 * m else 0)

    def _widen(src, bits):  # pragma: no cover - replaced by its compiled overloads
        raise NotImplementedError

    @numba.extending.overload(_widen)
    def _widen_overload(src, bits):  # pragma: no cover - compiled
        """A row as float32: itself, or bfloat16 bit patterns widened into `bits` (float32's upper half)."""
        if src.dtype == numba.types.uint16:
            def widen_bf16(src, bits):
                for j in range(len(src)):
                    bits[j] = np.uint32(src[j]) << 16
                return bits.view(np.float32)
            return widen_bf16
        return lambda src, bits: src

    @numba.njit(parallel=True, cache=True)
    def _top_m(block, exclude, m, out_i, out_v, threads):  # pragma: no cover - compiled
        """Rows in one contiguous run per thread, so each thread's recent m-th values guess the next."""
        n_rows, n = block.shape
        cap = _capacity(n, m)
        per = (n_rows + threads - 1) // threads
        for c in numba.prange(threads):
            bv = np.empty(cap, dtype=np.float32)
            bi = np.empty(cap, dtype=np.int64)
            bits = np.empty(n, dtype=np.uint32)  # bfloat16 rows widened (unused for float32 ones)
            recent = np.full(8, -np.inf, dtype=np.float32)  # the m-th values of the last 8 rows
            for r in range(c * per, min(n_rows, (c + 1) * per)):
                row = _widen(block[r], bits)
                recent[r % 8] = _select_row(row, exclude[r], m, bv, bi, out_i[r], out_v[r],
                                            np.float32(-np.inf), _guess(recent))

    @numba.njit(parallel=True, cache=True, fastmath={"reassoc", "contract"})
    def _pair_dots(a, b, rows, cols, out):  # pragma: no cover - compiled
        d = a.shape[1]
        for p in numba.prange(len(rows)):
            x = a[rows[p]]
            y = b[cols[p]]
            s = 0.0
            for t in range(d):
                s += np.float64(x[t]) * np.float64(y[t])
            out[p] = s

    @numba.njit(parallel=True, cache=True)
    def _sort_rows(idx, val, nearly_sorted):  # pragma: no cover - compiled
        m = idx.shape[1]
        for r in numba.prange(idx.shape[0]):
            iv = idx[r]
            vv = val[r]
            if not nearly_sorted:  # by value first (stable), then the insertion pass orders ties
                order = np.argsort(-vv, kind="mergesort")
                iv[:] = iv[order]
                vv[:] = vv[order]
            for t in range(1, m):  # insertion: (value desc, index asc); cheap on nearly sorted rows
                v, i = vv[t], iv[t]
                u = t - 1
                while u >= 0 and (vv[u] < v or (vv[u] == v and iv[u] > i)):
                    vv[u + 1] = vv[u]
                    iv[u + 1] = iv[u]
                    u -= 1
                vv[u + 1] = v
                iv[u + 1] = i

    @numba.njit(parallel=True, cache=True)
    def _knn_overlaps(a, b, ks, span, out, nchunks):  # pragma: no cover - compiled
        n, kmax = a.shape
        per = (n + nchunks - 1) // nchunks
        for c in numba.prange(nchunks):
            rank = np.full(span, kmax, dtype=np.int64)  # one table per thread, reset after each row
            hist = np.zeros(kmax + 1, dtype=np.int64)
            for p in range(c * per, min(n, (c + 1) * per)):
                for r in range(kmax):
                    rank[a[p, r]] = r
                hist[:] = 0
                for j in range(kmax):
                    hist[max(rank[b[p, j]], j)] += 1
                for r in range(kmax):
                    rank[a[p, r]] = kmax
                total = 0
                t = 0
                for kk in range(kmax + 1):  # ks ascending: count of max(j, r) < K
                    while t < len(ks) and ks[t] == kk:
                        out[p, t] = total
                        t += 1
                    total += hist[kk]
                while t < len(ks):
                    out[p, t] = total
                    t += 1

    @numba.njit(parallel=True, cache=True)
    def _f32_to_bf16(bits, out):  # pragma: no cover - compiled
        for i in numba.prange(len(bits)):
            b = bits[i]
            out[i] = np.uint16((b + np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16))
