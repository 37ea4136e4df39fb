"""Benchmark: seconds and model queries per attacked example, our BERT-Attack against a plain
implementation of the same algorithm, same target, same examples, same substitutes, one run.

Ours: `miniature.bert_attack.attack_all`: every text a word-id splice (nothing re-tokenised),
the original texts scored in one batch, the one-word-masked texts of an example in length-sorted
batches, every substitute of a position in one batched forward pass on GPU (in chunks of 16,
stopping at the first chunk with a flip, on CPU).

The plain implementation (as the original BERT-Attack code and most re-implementations run):
each query is a string (the words joined, one replaced), tokenised, and scored alone in one
forward pass; importance one masked text at a time; the search stops at the first substitute
that flips the prediction. Both follow the same rules (`miniature.bert_attack.attack_one`'s
docstring), so outcomes and adversarial texts must agree (up to float ties; printed). The plain
one asks fewer queries (it stops at the first flip), ours fewer forward passes.

Targets: MiniLM (6 layers, 384 dims, real weights) and its first three layers, each fine-tuned
for 100 steps on 640 IMDB texts (cached in runs/bench-attack); substitutes: MiniLM's embedding
neighbours (no MLM head is available offline). Examples: a seeded sample of IMDB test texts
disjoint from the training ones. Target: >= 5x.

`--targets bert-base-arch` adds the real-size BERT-base architecture (12 layers, 768 dims, 110M
parameters, BERT's uncased vocabulary, which MiniLM shares) without a download: its weights are
seeded random ones, fine-tuned like the others, so the timing is BERT-base's while its
predictions are those of 100 steps of training from scratch. Any name `--targets` takes
(registered, a local folder, a hub id) works where its weights are.

    python benchmarks/attack.py [--n 10] [--max-length 256] [--targets minilm minilm-l3 bert-base-arch]
                                [--train-steps 100] [--precision fp32]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from miniature.attack_words import Prepared, attackable  # noqa: E402
from miniature.bert_attack import AttackResult, attack_all, importance, max_changes  # noqa: E402

IMDB = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb" / "imdb_test_25k.jsonl"
TARGET = 5.0


class Plain:
    """One text, one tokenisation, one forward pass: the plain way to query a target."""

    def __init__(self, model, tokenizer, max_length: int) -> None:
        self.model, self.tok, self.max_length = model, tokenizer, max_length
        self.queries = 0
        self.device = next(model.parameters()).device

    def __call__(self, words: list[str]) -> np.ndarray:
        import torch

        self.queries += 1
        enc = self.tok(" ".join(words), truncation=True, max_length=self.max_length, return_tensors="pt")
        with torch.inference_mode():
            logits = self.model(**{k: v.to(self.device) for k, v in enc.items()}).logits[0]
        return torch.softmax(logits.double(), -1).cpu().numpy()


def plain_attack(ex: Prepared, score: Plain, top_words: int | None, budget: float) -> AttackResult:
    """The same algorithm, queried one text at a time."""
    start = score.queries
    words, gold = list(ex.words), ex.label
    orig = score(words)
    pred0 = int(orig.argmax())

    def done(outcome, changes, probs):
        return AttackResult(ex.id, gold, outcome, pred0, int(probs.argmax()), float(orig[gold]), float(probs[gold]),
                            len(words), tuple((i, ex.words[i], s) for i, s in sorted(changes.items())),
                            score.queries - start, ex.text, "")

    if pred0 != gold:
        return done("skipped", {}, orig)
    unk = score.tok.unk_token
    room = score.max_length - 2
    at, slots = 0, []
    for i, w in enumerate(words):  # words whose tokens start inside the window, as ours
        n = len(score.tok(w if i == 0 else " " + w, add_special_tokens=False)["input_ids"])
        if attackable(w) and at < room:
            slots.append(i)
        at += n
    masked = np.stack([score(words[:i] + [unk] + words[i + 1 :]) for i in slots])
    order = [slots[j] for j in np.argsort(-importance(orig, masked, gold), kind="stable")]
    order = order[:top_words] if top_words else order
    cap, changes, probs, gold_p = max_changes(len(words), budget), {}, orig, orig[gold]
    current = list(words)
    for i in order:
        if len(changes) >= cap:
            return done("over_budget", changes, probs)
        best, best_gap = None, 0.0
        for s in ex.candidates[i]:
            q = score(current[:i] + [s] + current[i + 1 :])
            if int(q.argmax()) != gold:
                changes[i] = s
                return done("succeeded", changes, q)
            if gold_p - q[gold] > best_gap:
                best, best_gap, best_q = s, gold_p - q[gold], q
        if best is not None:
            changes[i], current[i], probs, gold_p = best, best, best_q, best_q[gold]
    return done("failed", changes, probs)


BERT_BASE_ARCH = "bert-base-arch"


def bert_base_arch(folder: Path, tokenizer) -> Path:
    """BERT-base's architecture (transformers' BertConfig defaults) with seeded random weights and
    `tokenizer`, saved once into `folder`."""
    from transformers import BertConfig, BertModel, set_seed

    from miniature.runs import atomic_dir

    if not (folder / "config.json").is_file():
        with atomic_dir(folder) as tmp:
            set_seed(0)
            BertModel(BertConfig(vocab_size=len(tokenizer))).save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
    return folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10, help="examples attacked")
    ap.add_argument("--max-length", type=int, default=256, help="target window in tokens")
    ap.add_argument("--top-words", type=int, default=3, help="words visited (default 3, the library's; 0: all)")
    ap.add_argument("--targets", nargs="+", default=["minilm", "minilm-l3"],
                    help=f"model names; {BERT_BASE_ARCH}: BERT-base's architecture with random weights")
    ap.add_argument("--train-steps", type=int, default=100, help="fine-tuning steps of each target")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                    help="ours only (the plain one runs fp32): bf16 autocast is faster on CPUs with bf16 units")
    args = ap.parse_args()
    args.top_words = args.top_words or None
    if not IMDB.is_file():
        print(f"skipped: {IMDB} is absent (the shared data lives beside the repo)")
        return 0
    import torch

    from miniature.candidates import EmbeddingSource, prepare
    from miniature.characteristics.adversarial import CPU_SEARCH_BATCH
    from miniature.config import ClassificationConfig
    from miniature.data.text import load_text_dataset
    from miniature.runs import RunDir
    from miniature.tasks.classification import Classifier, finetune_classifier
    from miniature.zoo import hf_quiet, load_classifier, load_encoder, load_tokenizer, resolve_model

    hf_quiet()
    data = load_text_dataset(IMDB)
    train = data.sample(640, 42)
    examples = data.sample(args.n, 7, exclude=set(train.ids))
    attack = resolve_model("minilm")
    prepared = prepare(examples.examples, EmbeddingSource(load_encoder(attack), load_tokenizer(attack), 48, 512))
    cfg = ClassificationConfig(max_steps=args.train_steps, max_length=128, learning_rate=1e-4)
    run = RunDir("runs/bench-attack")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    search_batch = None if device == "cuda" else CPU_SEARCH_BATCH
    print(f"device {device}, torch threads {torch.get_num_threads()}, {args.n} IMDB texts, window {args.max_length}, "
          f"top_words {args.top_words}, budget 0.4, ours in {args.precision}, search batch {search_batch}, substitutes: MiniLM embedding neighbours (k 48)\n")
    print(f"{'target':10s} {'ours s/ex':>10s} {'plain s/ex':>11s} {'ratio':>6s} {'ours q/ex':>10s} {'plain q/ex':>11s} "
          f"{'ours fwd':>9s} {'plain fwd':>10s} {'same outcome':>13s} {'same changes':>13s}")
    worst = float("inf")
    for name in args.targets:
        if name == BERT_BASE_ARCH:
            spec = resolve_model(str(bert_base_arch(Path(run.root) / BERT_BASE_ARCH, load_tokenizer(attack))))
        else:
            spec = resolve_model(name)
        ckpt = finetune_classifier(spec, train, cfg, run)
        model = load_classifier(spec, ckpt.path, require_head=True).to(device).eval()
        tok = load_tokenizer(spec, ckpt.path)
        clf = Classifier(model, tok, args.max_length, precision=args.precision)
        calls = {"n": 0}
        hook = model.register_forward_hook(lambda *a: calls.__setitem__("n", calls["n"] + 1))
        attack_all(prepared[:1], clf, args.top_words)  # warm-up
        calls["n"], clf.queries = 0, 0
        t0 = time.perf_counter()
        ours = attack_all(prepared, clf, args.top_words, search_batch=search_batch)
        t_ours, fwd_ours = time.perf_counter() - t0, calls["n"]
        plain = Plain(model, tok, args.max_length)
        calls["n"] = 0
        t0 = time.perf_counter()
        base = [plain_attack(ex, plain, args.top_words, 0.4) for ex in prepared]
        t_plain, fwd_plain = time.perf_counter() - t0, calls["n"]
        hook.remove()
        attacked = [i for i, r in enumerate(ours) if r.outcome != "skipped"] or [0]
        if all(r.outcome == "skipped" for r in ours):
            print(f"({name}: every text is misclassified before the attack, so nothing was attacked and its "
                  "ratio says nothing; raise --train-steps or --n)")
        q_ours = np.mean([ours[i].queries for i in attacked])
        q_plain = np.mean([base[i].queries for i in attacked])
        same_out = sum(a.outcome == b.outcome for a, b in zip(ours, base))
        same_ch = sum(a.changes == b.changes for a, b in zip(ours, base))
        ratio = t_plain / t_ours
        worst = min(worst, ratio)
        print(f"{name:10s} {t_ours / args.n:10.3f} {t_plain / args.n:11.3f} {ratio:5.1f}x {q_ours:10.1f} {q_plain:11.1f} "
              f"{fwd_ours / args.n:9.1f} {fwd_plain / args.n:10.1f} {same_out:>10d}/{args.n} {same_ch:>10d}/{args.n}")
    outcomes = {o: sum(r.outcome == o for r in ours) for o in ("skipped", "failed", "succeeded", "over_budget")}
    print(f"\nlast target's outcomes: {outcomes}")
    print(f"slowest ratio {worst:.1f}x; target >= {TARGET:.0f}x: {'met' if worst >= TARGET else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
