"""Benchmark: questions per second of our batched QA prediction against transformers'
`pipeline("question-answering")`, same model object, same 500 SQuAD 2.0 dev questions, one run.

Ours (`miniature.tasks.qa.predict_qa`): every question tokenised in one batched call, windows
sorted by length and cut into batches under a token budget, dynamic padding, inference mode,
vectorised n-best post-processing. The baseline: the pipeline with settings matched to ours
(max_seq_len 384, doc_stride 128, max_question_len 64, max_answer_len 30, top_k 1,
handle_impossible_answer), at its default batch size 1 and at batch_size 32.

transformers 5 removed the question-answering pipeline, so the baseline needs transformers 4.x;
our prediction code runs on both. `make bench` builds `.venv-bench` with transformers 4.57.6
and runs this script there. The QA head is freshly initialised from a fixed seed: fine for speed,
and both sides see the same logits.

    HF_HUB_OFFLINE=1 python benchmarks/qa_predict.py [--n 500] [--model minilm] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad2" / "dev-v2.0.cs224n-half.json"
WARMUP = 8  # questions each method sees before it is timed


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=500, help="dev questions (default 500)")
    p.add_argument("--model", default="minilm", help="registered name, folder or hub id (default minilm)")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    args = p.parse_args()
    if not DEV.is_file():
        sys.exit(f"qa_predict: {DEV} not found (../shared/data beside the repository)")

    import torch
    import transformers
    from transformers import pipeline, set_seed

    from miniature.config import QAConfig
    from miniature.data import load_qa_dataset
    from miniature.tasks.qa import predict_qa
    from miniature.zoo import hf_quiet, load_qa_model, load_tokenizer, resolve_model

    hf_quiet()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        qa_pipe = None
        spec = resolve_model(args.model)
        set_seed(0)  # the fresh QA head is drawn from it
        tokenizer, model = load_tokenizer(spec), load_qa_model(spec).eval()
        qa_pipe = pipeline("question-answering", model=model, tokenizer=tokenizer, device=-1)
    except KeyError:
        sys.exit(f"qa_predict: transformers {transformers.__version__} has no question-answering "
                 "pipeline (removed in 5.0); run `make bench`, which uses transformers 4.57")

    data = load_qa_dataset(DEV, limit=args.n)
    warm = data.head(WARMUP)
    fp32, bf16 = QAConfig(), QAConfig(precision="bf16")
    kw = dict(max_seq_len=fp32.max_seq_length, doc_stride=fp32.doc_stride, max_question_len=fp32.max_query_length,
              max_answer_len=fp32.max_answer_length, top_k=1, handle_impossible_answer=True)

    def pipe(ds, bs):
        out = qa_pipe(question=[e.question for e in ds.examples], context=[e.context for e in ds.examples],
                      batch_size=bs, **kw)
        out = [out] if isinstance(out, dict) else out
        return {e.id: o["answer"] for e, o in zip(ds.examples, out)}

    methods = {
        "ours, fp32 (default)": lambda ds: predict_qa(model, tokenizer, ds, fp32)[0],
        "ours, bf16 autocast": lambda ds: predict_qa(model, tokenizer, ds, bf16)[0],
        "pipeline, batch_size=1": lambda ds: pipe(ds, 1),
        "pipeline, batch_size=32": lambda ds: pipe(ds, 32),
    }
    times, answers = {}, {}
    for name, fn in methods.items():
        fn(warm)
        answers[name], times[name] = timed(lambda fn=fn: fn(data))

    n = len(data)
    print(f"{args.model}: {n} SQuAD 2.0 dev questions; torch {torch.__version__} ({torch.get_num_threads()} "
          f"threads), transformers {transformers.__version__}, {os.cpu_count()} CPUs\n")
    print(f"{'method':26s} {'seconds':>8s} {'questions/s':>12s} {'fp32 ours vs it':>16s} {'bf16 ours vs it':>16s}")
    for name, t in times.items():
        print(f"{name:26s} {t:8.2f} {n / t:12.1f} {t / times['ours, fp32 (default)']:15.2f}x "
              f"{t / times['ours, bf16 autocast']:15.2f}x")
    ref = answers["pipeline, batch_size=1"]
    for name in ("ours, fp32 (default)", "ours, bf16 autocast"):
        same = sum(answers[name][q] == ref[q] for q in ref)
        print(f"{name}: same answer text as the batch-1 pipeline for {same}/{n} questions")
    a, b = answers["ours, fp32 (default)"], answers["ours, bf16 autocast"]
    print(f"ours bf16 vs ours fp32: same answer text for {sum(a[q] == b[q] for q in a)}/{n} questions")
    # Answers differ mostly because the pipeline widens spans to whole words (align_to_words) and
    # sums the probabilities of equal answer texts; predict_qa returns exact token spans scored by
    # raw logits, as transformers' run_qa example (the paper's recipe) does.
    return 0


if __name__ == "__main__":
    sys.exit(main())
