"""Benchmark: seconds per step of miniature's own training loop (distillation, recovery) with
batches of rows of similar length against the same loop with a plain shuffle's batches, same
rows, same steps, one run, fp32 on CPU.

Both pad each batch to its own longest row (dynamic padding); they differ only in which rows
share a batch. Ours (`length_grouped_batches`): each epoch a seeded shuffle cut into groups of 50
batches, each group sorted by length, the batches then visited in a seeded random order (the
Trainer's `group_by_length`). The baseline: a seeded shuffle cut into batches. Every row comes
once per epoch either way.

The work: a 2-layer student distilled from MiniLM (6 layers, real weights) for extractive QA on
the SQuAD 2.0 training articles in ../shared/data (windows of 384 tokens, stride 128), batch 16,
as `method: distil` trains it. Printed: seconds per step, padded tokens per step, the share of
real tokens, and the ratio.

    python benchmarks/train.py [--steps 20] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad2" / "train-v2.0.first10articles.json"


def plain_batches(lengths: Sequence[int], batch_size: int, seed: int, group: int = 50) -> Iterator[list[int]]:
    """The baseline: a seeded shuffle each epoch, cut into batches in order."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(lengths), generator=gen).tolist()
        for s in range(0, len(order), batch_size):
            yield order[s : s + batch_size]


def padding(batcher, lengths: Sequence[int], batch_size: int, steps: int) -> tuple[int, int]:
    """(padded tokens, real tokens) over the first `steps` batches of `batcher`."""
    it = batcher(lengths, batch_size, 42)
    padded = real = 0
    for _ in range(steps):
        b = next(it)
        padded += max(lengths[i] for i in b) * len(b)
        real += sum(lengths[i] for i in b)
    return padded, real


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20, help="training steps of each way")
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    if not TRAIN.is_file():
        print(f"skipped: {TRAIN} is absent (the shared data lives beside the repo)")
        return 0
    import torch

    import miniature.compress.train as train_module
    from miniature.compress import derive
    from miniature.data.squad import load_qa_dataset
    from miniature.tasks.qa_features import encode_train
    from miniature.tasks.training import model_keys
    from miniature.zoo import hf_quiet, load_qa_model, load_tokenizer, resolve_model

    hf_quiet()
    spec = resolve_model("minilm")
    tok = load_tokenizer(spec)
    teacher = load_qa_model(spec).eval()
    data = load_qa_dataset(TRAIN)
    rows = encode_train(tok, data.examples, 384, 128, 64, model_keys(teacher))
    lengths = [len(r["input_ids"]) for r in rows]
    print(f"torch threads {torch.get_num_threads()}, {len(rows)} training windows of {len(data)} SQuAD questions "
          f"(mean {sum(lengths) / len(lengths):.0f} tokens, max {max(lengths)}), batch {args.batch_size}, "
          f"{args.steps} steps of 2-layer distillation from MiniLM\n")
    print(f"{'batches':22s} {'s/step':>7s} {'padded tok/step':>16s} {'real share':>11s}")
    ours = train_module.length_grouped_batches
    times = {}
    for name, batcher in (("plain shuffle", plain_batches), ("grouped by length", ours)):
        train_module.length_grouped_batches = batcher  # the loop's batches; nothing else differs
        try:
            student = derive(teacher, "distil", {"layers": 2})
            train_module.distil_train(teacher, student, rows[:8], tok, max_steps=1,
                                      batch_size=args.batch_size)  # warm-up
            student = derive(teacher, "distil", {"layers": 2})
            t0 = time.perf_counter()
            train_module.distil_train(teacher, student, rows, tok, max_steps=args.steps, learning_rate=3e-4,
                                      batch_size=args.batch_size)
            times[name] = (time.perf_counter() - t0) / args.steps
        finally:
            train_module.length_grouped_batches = ours
        padded, real = padding(batcher, lengths, args.batch_size, args.steps)
        print(f"{name:22s} {times[name]:7.3f} {padded / args.steps:16.0f} {real / padded:11.1%}")
    ratio = times["plain shuffle"] / times["grouped by length"]
    print(f"\nratio {ratio:.2f}x (grouped by length against a plain shuffle)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
