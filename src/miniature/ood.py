"""Deep Nearest Neighbors OOD detection (Sun et al., 2022): K-th-neighbour distances, thresholds, quality.

A point's score is minus the Euclidean distance from its normalised feature to the K-th nearest
normalised feature of the in-distribution bank (the reference code reads FAISS's squared L2,
which orders points the same way). Higher scores are more in-distribution. The threshold keeps
a share `tpr` of held-out in-distribution points; a test point scoring below it is OOD.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from miniature.exceptions import ConfigError, DataError
from miniature.knn import _faiss, check_embeddings, has_faiss
from miniature.kth import bf16_available, kth_sq_distances

SearchBackend = Literal["auto", "faiss", "numpy", "bf16", "torch"]
IndexKind = Literal["exact", "ivf", "hnsw"]
CHUNK_BYTES = 256 << 20  # scratch for one block of query-to-bank distances


@dataclass(frozen=True)
class IndexSpec:
    """Which bank index: exact (flat), or approximate IVF / HNSW with their search knobs."""

    kind: IndexKind = "exact"
    nlist: int | None = None  # IVF cells; None: 4 sqrt(bank size)
    nprobe: int = 16  # IVF cells visited per query
    hnsw_m: int = 32  # HNSW links per node
    ef_search: int = 128  # HNSW search breadth


def dknn_normalize(x: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """x / (||x||_2 + 1e-10) as float32, the reference code's normalisation; read in chunks."""
    out = np.empty(x.shape, dtype=np.float32)
    for s in range(0, x.shape[0], chunk):
        part = np.asarray(x[s : s + chunk], dtype=np.float32)
        out[s : s + chunk] = part / (np.linalg.norm(part, axis=1, keepdims=True) + 1e-10)
    return out


def check_bank(bank: np.ndarray, queries: Sequence[np.ndarray], ks: Sequence[int], owner: str = "",
               names: Sequence[str] = ()) -> None:
    """One-line errors for what no Deep kNN search can use; `owner` (a model) and `names` (the
    bank's, then each query set's, e.g. their files) say whose features they are."""
    where = f"{owner}: " if owner else ""
    bank_name = names[0] if names else "bank"
    query_names = list(names[1:]) or ["queries"] * len(queries)
    check_embeddings(bank, f"{where}{bank_name}", min_points=1)
    for q, q_name in zip(queries, query_names):
        check_embeddings(q, f"{where}{q_name}", min_points=1)
        if q.shape[1] != bank.shape[1]:
            raise DataError(f"{where}{q_name} has {q.shape[1]} dimensions but {bank_name} has {bank.shape[1]}; "
                            "give features of one model (the same layer and pooling)")
    bad = [k for k in ks if not 1 <= k <= len(bank)]
    if bad:
        raise DataError(f"{where}K={bad[0]} must lie in [1, {len(bank)}], the size of {bank_name}; lower K or "
                        "use a bigger bank (alpha)")


def resolve_backend(backend: SearchBackend) -> SearchBackend:
    """auto: FAISS on GPU, else torch on GPU, else on CPU bf16 where the CPU has bfloat16
    instructions, else numpy (both exact; on the benchmark's bank about 2x and 1x the speed of
    FAISS's flat index)."""
    if backend != "auto":
        return backend
    if has_faiss():
        faiss = _faiss()
        if getattr(faiss, "get_num_gpus", lambda: 0)() > 0:
            return "faiss"
    if _torch_cuda():
        return "torch"
    return "bf16" if bf16_available() else "numpy"


def _torch_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def build_index(xb: np.ndarray, spec: IndexSpec | None = None, seed: int = 0):
    """A FAISS L2 index over the normalised bank: flat (exact), IVF-flat or HNSW-flat; on GPU if any."""
    faiss = _faiss()
    spec = spec or IndexSpec()
    n, d = xb.shape
    if spec.kind == "exact":
        index = faiss.IndexFlatL2(d)
    elif spec.kind == "ivf":
        nlist = spec.nlist or max(1, int(4 * math.sqrt(n)))
        if nlist > n:
            raise ConfigError(f"IVF needs at most one cell per bank point: nlist {nlist} > bank {n}; lower nlist")
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist)
        index.cp.seed = seed
        index.train(xb)
        index.nprobe = min(spec.nprobe, nlist)
    elif spec.kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, spec.hnsw_m)
        index.hnsw.efSearch = spec.ef_search
    else:
        raise ConfigError(f"unknown index {spec.kind!r}; use exact, ivf or hnsw")
    if spec.kind != "hnsw" and getattr(faiss, "get_num_gpus", lambda: 0)() > 0:
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(xb)
    return index


def search(index, xq: np.ndarray, kmax: int, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """(squared L2 distances ascending, bank ids) of every query's `kmax` nearest, in query chunks."""
    parts = [index.search(xq[s : s + chunk], kmax) for s in range(0, len(xq), chunk)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _blocks(nq: int, nb: int, kmax: int) -> tuple[int, int]:
    """Query and bank block sizes whose distance block fits CHUNK_BYTES."""
    qb = max(1, min(nq, 4096))
    bb = max(kmax, CHUNK_BYTES // (8 * qb))
    return qb, bb


def _search_torch(xb: np.ndarray, xq: np.ndarray, kmax: int) -> np.ndarray:
    """The same on torch: blocked products and top-k, on the GPU when there is one."""
    import torch

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    b_all = torch.from_numpy(xb).to(dev)
    bn = (b_all.double() ** 2).sum(1)
    qb, bb = _blocks(len(xq), len(xb), kmax)
    out = np.empty((len(xq), kmax), dtype=np.float64)
    with torch.inference_mode():
        for s in range(0, len(xq), qb):
            q = torch.from_numpy(xq[s : s + qb]).to(dev)
            qn = (q.double() ** 2).sum(1, keepdim=True)
            best = torch.empty((len(q), 0), dtype=torch.float64, device=dev)
            for b in range(0, len(xb), bb):
                d2 = qn + bn[None, b : b + bb] - 2.0 * (q @ b_all[b : b + bb].T).double()
                best = torch.cat([best, d2], 1)
                if best.shape[1] > kmax:
                    best = torch.topk(best, kmax, dim=1, largest=False).values
            out[s : s + qb] = torch.sort(best, dim=1).values.cpu().numpy()
    return out


def kth_distances(bank: np.ndarray, queries: np.ndarray, ks: Sequence[int], backend: SearchBackend = "auto",
                  index=None) -> np.ndarray:
    """Euclidean distance of every query to its K-th nearest bank point, for every K in `ks`.

    Both sides are normalised as x / (||x|| + 1e-10). One search at max(ks) serves every K.

    Args:
        bank: (n, d) in-distribution features; queries: (q, d) features of the points to score.
        ks: which neighbours, each in [1, n]; backend: "faiss", "numpy", "torch" (GPU when there is
            one) or "auto"; index: a prebuilt FAISS index over the normalised bank (`build_index`),
            exact or approximate, used instead of a flat one.

    Returns:
        (q, len(ks)) float64 distances; the Deep kNN score is minus them.
    """
    ks = list(ks)
    check_bank(bank, [queries], ks)
    kmax = max(ks)
    xq = dknn_normalize(queries)
    if index is not None:
        sq, ids = search(index, xq, kmax)
        if (ids[:, -1] < 0).any():  # an approximate index may return fewer than kmax (id -1)
            raise DataError(f"the approximate index found fewer than K={kmax} neighbours for some queries; "
                            "raise nprobe / ef_search or use the exact index")
    else:
        backend = resolve_backend(backend)
        xb = dknn_normalize(bank)
        if backend == "faiss":
            sq = search(build_index(xb), xq, kmax)[0]
        elif backend == "torch":
            sq = _search_torch(xb, xq, kmax)
        elif backend in ("numpy", "bf16"):
            sq = kth_sq_distances(xb, xq, kmax, "bfloat16" if backend == "bf16" else "float32")
        else:
            raise ConfigError(f"unknown backend {backend!r}; use auto, faiss, numpy, bf16 or torch")
    cols = np.asarray(ks) - 1
    return np.sqrt(np.maximum(np.asarray(sq, dtype=np.float64)[:, cols], 0.0))


def recall(exact_ids: np.ndarray, approx_ids: np.ndarray) -> float:
    """Mean share of each query's exact K-NN set that the approximate search also returns."""
    k = exact_ids.shape[1]
    hits = [len(np.intersect1d(a, b, assume_unique=True)) for a, b in zip(exact_ids, approx_ids)]
    return float(np.mean(hits)) / k


def threshold_at_tpr(val_scores: np.ndarray, tpr: float) -> float:
    """The score that keeps a share `tpr` of in-distribution validation points.

    Rounding rule: the ceil(tpr * n) highest-scoring points are kept (score >= threshold), so at
    least a share `tpr` is kept; exactly ceil(tpr * n) of them unless scores tie at the threshold.
    """
    check_tpr(tpr)
    scores = np.asarray(val_scores, dtype=np.float64)
    if scores.ndim != 1 or len(scores) == 0:
        raise DataError("the threshold needs at least one validation score")
    keep = math.ceil(tpr * len(scores) - 1e-9)  # 0.95 * 200 is 190.00000000000003 in floating point
    return float(np.sort(scores)[::-1][keep - 1])


def check_tpr(tpr: float) -> None:
    if not 0 < tpr < 1:
        raise ConfigError(f"TPR {tpr} must lie strictly between 0 and 1 (the paper's 0.95 keeps 95% of "
                          "in-distribution points)")


def ood_mask(scores: np.ndarray, threshold: float) -> np.ndarray:
    """True where a point is out of distribution: its score lies below the threshold."""
    return np.asarray(scores) < threshold


def auroc(ood_scores_in: np.ndarray, ood_scores_out: np.ndarray) -> float:
    """P(an OOD point scores more OOD than an in-distribution one), ties counted half (Mann-Whitney)."""
    both = np.concatenate([ood_scores_in, ood_scores_out])
    _, inverse, counts = np.unique(both, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts  # 0-based rank of each distinct value's first occurrence
    ranks = (first + (counts + 1) / 2.0)[inverse]  # average 1-based ranks of ties
    n_in, n_out = len(ood_scores_in), len(ood_scores_out)
    u = ranks[n_in:].sum() - n_out * (n_out + 1) / 2.0
    return float(u / (n_in * n_out))


def average_precision(ood_scores_in: np.ndarray, ood_scores_out: np.ndarray) -> float:
    """AUPR with OOD as the positive class: sum over thresholds of (recall step) x precision."""
    scores = np.concatenate([ood_scores_in, ood_scores_out])
    positive = np.concatenate([np.zeros(len(ood_scores_in)), np.ones(len(ood_scores_out))])
    order = np.argsort(-scores, kind="stable")
    scores, positive = scores[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # the end of each run of ties
    tp = np.cumsum(positive)[last]
    precision = tp / (last + 1)
    recall_steps = np.diff(np.r_[0.0, tp]) / len(ood_scores_out)
    return float((recall_steps * precision).sum())


@dataclass(frozen=True)
class Detection:
    """One model's Deep kNN verdict at one K: threshold, OOD mask of the test points, quality."""

    k: int
    threshold: float
    ood: np.ndarray  # (n_test,) bool
    auroc: float
    aupr: float
    fpr_at_tpr: float  # share of OOD test points kept as in-distribution at the threshold

    @property
    def share(self) -> float:
        return float(self.ood.mean())


def detect(val_scores: np.ndarray, test_scores: np.ndarray, k: int, tpr: float = 0.95) -> Detection:
    """Threshold on validation scores, the OOD set of the test points, and detector quality.

    Quality treats the test set as OOD (the positive class) and validation as in-distribution.
    """
    threshold = threshold_at_tpr(val_scores, tpr)
    ood = ood_mask(test_scores, threshold)
    return Detection(k, threshold, ood, auroc(-val_scores, -test_scores),
                     average_precision(-val_scores, -test_scores), float(1.0 - ood.mean()))
