"""Benchmark: seconds for the paper's representation comparison, our kNN agreement against a
careful scikit-learn implementation, same embeddings, one run.

The work: 6,078 points embedded by 6 models of 1024, 768, 768, 512, 256 and 128 dimensions (the
paper's BERT-large, BERT-base, DistilBERT, BERT-medium, BERT-mini, Tiny-BERT), every model's
K_max = 100 cosine nearest neighbours (the point itself excluded), then the mean and variance of
the per-point Jaccard of the K-NN sets for all 15 pairs of models at K = 1, 5, 10, 20, 50, 100.

Ours: `miniature.characteristics.representation.compare_representations`, which runs
`miniature.knn.knn` at K_max per model (exact: a float32 candidate pool rescored in float64, ties by
index) and the compiled overlap count / `mean_var` on the row prefixes; timed with the "numpy"
backend (the default: one BLAS product per model, numpy's A @ A.T computing one triangle, into one
reused buffer, then a compiled row-wise top-m) and the "faiss" backend (IndexFlatIP). The baseline: `NearestNeighbors(n_neighbors=K_max + 1, metric="cosine",
algorithm="brute").fit(X).kneighbors(X)` per model, the point itself dropped, then per pair, per
K and per point the Jaccard of two Python sets, and np.mean / np.var.

The embeddings are synthetic but structured, not iid noise: 300 cluster centres in a shared 64-d
latent space, each model a random projection of it to its width plus a model-specific mean
direction (real sentence embeddings are anisotropic) and model-specific noise, larger for smaller
models; float32, fixed seed. The check: our K-NN row sets against scikit-learn's for every model
and K, and our mean Jaccard against the baseline's for every pair and K. The target: >= 5x.

    python benchmarks/knn.py [--n 6078] [--kmax 100] [--repeat 3]
"""

from __future__ import annotations  # noqa: I001  (miniature before numpy, below)

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from itertools import combinations
from typing import Any, TypeVar

import miniature  # noqa: F401  (first: it sets OpenBLAS's idle spin before numpy loads it, for both sides)
import numpy as np
from rounds import interleaved

MODELS = {  # name -> (dims, noise scale relative to the projected signal)
    "bert-large": (1024, 0.5),
    "bert-base": (768, 0.6),
    "distilbert": (768, 0.7),
    "bert-medium": (512, 0.8),
    "bert-mini": (256, 1.0),
    "bert-tiny": (128, 1.2),
}
SWEEP = (1, 5, 10, 20, 50, 100)
LATENT, CENTRES, SEED = 64, 300, 0
TARGET = 5.0

T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def synthetic_embeddings(n: int, seed: int = SEED) -> dict[str, np.ndarray]:
    """Every model's (n, dims) float32 view of one clustered latent structure."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CENTRES, LATENT))
    z = centres[rng.integers(CENTRES, size=n)] + 0.6 * rng.normal(size=(n, LATENT))
    out = {}
    for name, (dims, noise) in MODELS.items():
        proj = rng.normal(size=(LATENT, dims)) / np.sqrt(LATENT)
        signal = z @ proj
        scale = signal.std()
        mean_dir = rng.normal(size=dims)
        mean_dir *= 1.5 * scale * np.sqrt(dims) / np.linalg.norm(mean_dir)  # |mean| ~ 1.5 x a point's spread
        out[name] = (signal + mean_dir + noise * scale * rng.normal(size=(n, dims))).astype(np.float32)
    return out


def sklearn_neighbours(x: np.ndarray, kmax: int) -> np.ndarray:
    """(n, kmax) cosine neighbours by scikit-learn's brute force, the point itself dropped."""
    from sklearn.neighbors import NearestNeighbors

    idx = NearestNeighbors(n_neighbors=kmax + 1, metric="cosine", algorithm="brute").fit(x).kneighbors(
        x, return_distance=False)
    keep = idx != np.arange(len(idx))[:, None]
    keep[keep.all(1), -1] = False  # a row without the point itself (a tie at distance 0): drop its last
    return idx[keep].reshape(len(idx), kmax)


def sklearn_agreement(x: dict[str, np.ndarray], ks: Sequence[int], kmax: int,
                      dtype: Any) -> tuple[dict[str, np.ndarray], dict[tuple[str, str, int], tuple[float, float]]]:
    """The baseline: neighbours per model once, then Python-set Jaccard per pair, K and point."""
    nbrs = {name: sklearn_neighbours(arr.astype(dtype, copy=False), kmax) for name, arr in x.items()}
    lists = {name: a.tolist() for name, a in nbrs.items()}
    stats = {}
    for i, j in combinations(x, 2):
        for k in ks:
            vals = []
            for a, b in zip(lists[i], lists[j]):
                sa, sb = set(a[:k]), set(b[:k])
                vals.append(len(sa & sb) / len(sa | sb))
            stats[(i, j, k)] = (float(np.mean(vals)), float(np.var(vals)))
    return nbrs, stats


def rows_differing(ours: np.ndarray, theirs: np.ndarray, k: int) -> int:
    """Points whose k-NN sets (row prefixes [:k]) differ."""
    return int((np.sort(ours[:, :k], 1) != np.sort(theirs[:, :k], 1)).any(1).sum())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=6078, help="points (default 6078, the paper's SQuAD sample)")
    p.add_argument("--kmax", type=int, default=100, help="largest K of the sweep (default 100)")
    p.add_argument("--repeat", type=int, default=3, help="timed rounds; the median is reported (default 3)")
    args = p.parse_args()
    if args.kmax >= args.n:
        sys.exit(f"knn: --kmax {args.kmax} needs more than {args.kmax} points, got --n {args.n}")

    import faiss
    import sklearn

    from miniature.characteristics.representation import compare_representations
    from miniature.kernels import has_numba
    from miniature.knn import knn

    ks = sorted({k for k in SWEEP if k < args.kmax} | {args.kmax})
    table_k = 10 if 10 in ks else ks[0]
    emb = synthetic_embeddings(args.n)
    n_pairs = len(MODELS) * (len(MODELS) - 1) // 2

    def ours(backend: str) -> Any:
        return compare_representations({"before": emb}, ks=ks, table_k=table_k, backend=backend)

    # scikit-learn gets float64 input. Given float32 it computes the cosine distances in float32,
    # and a few K-NN sets then differ from the exact ones (counted below): at 1,600 points, 5 sets
    # over the 6 models and 6 Ks, each where the exact K-th and (K+1)-th cosines lie 2e-8 to 1e-7
    # apart, under float32's resolution near 0.6, so its rounding decides. With float64 input its
    # sets equal ours (exact, float64 rescored). Float64 is also the slower path for scikit-learn
    # (about 5x for the kneighbors call at 6,078 x 1024): the check needs it, the timing shows it.
    sk_dtype = np.float64

    # warm-up on a slice: imports, FAISS/BLAS threads, the allocator, scikit-learn's first call
    warm = {name: arr[: min(args.n, 2 * args.kmax + 2)] for name, arr in emb.items()}
    for backend in ("faiss", "numpy"):
        compare_representations({"before": warm}, ks=ks, table_k=table_k, backend=backend)
    sklearn_agreement(warm, ks, args.kmax, sk_dtype)
    # medians of interleaved rounds (rounds.py)
    default = "numpy" if has_numba() else "faiss"
    names = {"numpy": "ours, backend=numpy", "faiss": "ours, backend=faiss"}
    names[default] += " (default)"
    methods: dict[str, Callable[[], Any]] = {names[b]: (lambda b=b: ours(b)) for b in ("numpy", "faiss")}
    methods["scikit-learn + Python sets"] = lambda: sklearn_agreement(emb, ks, args.kmax, sk_dtype)
    outs, runs, times = interleaved(methods, args.repeat)
    results = {b: outs[names[b]] for b in ("numpy", "faiss")}
    sk_nbrs, sk_stats = outs["scikit-learn + Python sets"]

    dims = ", ".join(str(d) for d, _ in MODELS.values())
    print(f"{args.n} points x 6 models ({dims} dims), K_max {args.kmax}, sweep K = {ks}, {n_pairs} pairs; "
          f"numpy {np.__version__}, faiss {faiss.__version__}, scikit-learn {sklearn.__version__} "
          f"(input {np.dtype(sk_dtype).name}), {os.cpu_count()} CPUs\n")
    base = times["scikit-learn + Python sets"]
    print(f"{'method':38s} {'seconds':>8s} {'sklearn / it':>13s} {'target':>7s}   "
          f"(median of {args.repeat} interleaved, rotated rounds; all rounds)")
    for name, t in times.items():
        target = f">={TARGET:.0f}x" if name.endswith("(default)") else ""
        every = " ".join(f"{x:.2f}" for x in runs[name])
        print(f"{name:38s} {t:8.2f} {base / t:12.2f}x {target:>7s}   ({every})")

    print("\nchecks (untimed):")
    ours_nbrs = {name: knn(arr, args.kmax, backend="faiss") for name, arr in emb.items()}
    numpy_nbrs = {name: knn(arr, args.kmax, backend="numpy") for name, arr in emb.items()}
    same_backends = all((ours_nbrs[m] == numpy_nbrs[m]).all() for m in MODELS)
    print(f"  ours faiss vs ours numpy: identical ordered neighbour rows for every model: {same_backends}")
    for label, theirs in (("float64", sk_nbrs),
                          ("float32", {m: sklearn_neighbours(a, args.kmax) for m, a in emb.items()})):
        diff = {k: sum(rows_differing(ours_nbrs[m], theirs[m], k) for m in MODELS) for k in ks}
        print(f"  K-NN sets differing from scikit-learn's ({label} input), summed over the 6 models, "
              f"by K: " + ", ".join(f"K={k}: {d}" for k, d in diff.items()))
    for backend, res in results.items():
        ref = [sk_stats[(r["model_i"], r["model_j"], r["k"])] for r in res.sweep]
        d_mean = max(abs(r["mean"] - m) for r, (m, _) in zip(res.sweep, ref))
        d_var = max(abs(r["variance"] - v) for r, (_, v) in zip(res.sweep, ref))
        print(f"  ours ({backend}) vs baseline over {len(res.sweep)} (pair, K) cells: max abs difference "
              f"of the mean Jaccard {d_mean:.2e}, of its variance {d_var:.2e}")
    table = {(r["model_i"], r["model_j"]): r["mean"] for r in results["faiss"].sweep if r["k"] == table_k}
    print(f"  (mean Jaccard at K={table_k}, for scale: " + ", ".join(
        f"{i}/{j} {v:.3f}" for (i, j), v in list(table.items())[:3]) + ", ...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
