"""Benchmark: questions per second of `miniature.tasks.qa.predict_qa` against the question-answering pipeline.

Measures, in one run, on the same model object and tokenizer and the same SQuAD 2.0 dev questions
(the first `--n`, default 500, of `../shared/data/squad2/dev-v2.0.cs224n-half.json`):

* ours: `predict_qa` (tokenise all questions at once, length-sorted batches of `--batch-size` windows,
  dynamic padding, `torch.inference_mode`, vectorised n-best post-processing);
* the baseline: the extractive question-answering pipeline with settings matched to ours
  (max_seq_len=384, doc_stride=128, max_question_len=64, max_answer_len=30, top_k=1,
  handle_impossible_answer=True), at its default batch size 1 (the main baseline) and at batch_size=32.

It prints seconds, questions/s and our speed-up over each baseline, and how often our answer text
equals the baseline's (the pipeline's empty answer counting as "", our no-answer prediction).

Which baseline runs: transformers 4.x has `pipeline("question-answering")` and the real pipeline is
timed. transformers 5 removed that task (`pipeline("question-answering")` raises KeyError: "The task
question-answering has been removed from transformers"), so there the benchmark times
`ReferenceQAPipeline` below: a re-implementation of the 4.x `QuestionAnsweringPipeline` algorithm for
fast tokenizers (one tokenizer call per question, one forward per window at batch 1 or padded batches
of consecutive windows, per-window softmax, the full start x end outer product, word alignment,
merging of equal answers, the null answer as the minimum over windows of p_start[CLS] * p_end[CLS]).
It leaves out the pipeline's generic machinery (argument handler, DataLoader, iterators, device
moves), so if anything it is a little faster than the real pipeline and our ratio is conservative.
The table says which one ran.

The QA head is freshly initialised (seeded with transformers.set_seed(0)): that is fine for speed; the
answers are meaningless but deterministic, and both sides see the same logits.

Run from the repository root (no network needed):

    HF_HUB_OFFLINE=1 python benchmarks/qa_predict.py [--n 500] [--model minilm] [--batch-size 64] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

DEV = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "squad2" / "dev-v2.0.cs224n-half.json"
WARMUP = 8  # questions run through each method before it is timed
PIPE_BATCH = 32  # the second, batched baseline


# ----------------------------------------------------------------------------------------------
# The baseline on transformers 5: the 4.x QuestionAnsweringPipeline's algorithm (fast tokenizers,
# question first, as for BERT-like models), re-implemented without the pipeline framework.
# ----------------------------------------------------------------------------------------------


class ReferenceQAPipeline:
    """Per-question extractive QA exactly as transformers 4.x's question-answering pipeline does it."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.input_names = [k for k in tokenizer.model_input_names if k in ("input_ids", "token_type_ids",
                                                                          "attention_mask")]

    def preprocess(self, question: str, context: str, max_seq_len: int, doc_stride: int) -> list[dict]:
        # The pipeline's fast-tokenizer path never truncates the question (max_question_len is only
        # used by the slow-tokenizer path); `truncation="only_second"` cuts the context into windows.
        import torch

        enc = self.tokenizer(question, context, padding="do_not_pad", truncation="only_second",
                             max_length=max_seq_len, stride=doc_stride, return_token_type_ids=True,
                             return_overflowing_tokens=True, return_offsets_mapping=True,
                             return_special_tokens_mask=True)
        cls = self.tokenizer.cls_token_id
        feats = []
        for i in range(len(enc["input_ids"])):
            ids = enc["input_ids"][i]
            # p_mask: 1 where a token cannot be part of the answer (all but the context); CLS stays 0
            p_mask = [int(s != 1) for s in enc.sequence_ids(i)]
            if cls is not None:
                for j in np.nonzero(np.asarray(ids) == cls)[0]:
                    p_mask[j] = 0
            feat = {k: torch.tensor(enc[k][i]).unsqueeze(0) for k in self.input_names}
            feat.update(p_mask=p_mask, encoding=enc[i], context=context)
            feats.append(feat)
        return feats

    def forward(self, feats: list[dict]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Start/end logits and attention mask of each window; several windows are padded to the longest."""
        import torch

        if len(feats) == 1:
            batch = {k: feats[0][k] for k in self.input_names}
        else:
            width = max(f["input_ids"].shape[1] for f in feats)
            pad = self.tokenizer.pad_token_id or 0
            batch = {}
            for k in self.input_names:
                fill = pad if k == "input_ids" else 0
                rows = [torch.nn.functional.pad(f[k], (0, width - f[k].shape[1]), value=fill) for f in feats]
                batch[k] = torch.cat(rows)
        with torch.inference_mode():
            out = self.model(**batch)
        s, e = out.start_logits.float().numpy(), out.end_logits.float().numpy()
        mask = batch["attention_mask"].numpy()
        return [(s[r : r + 1], e[r : r + 1], mask[r : r + 1]) for r in range(len(feats))]

    @staticmethod
    def decode_spans(start: np.ndarray, end: np.ndarray, topk: int, max_answer_len: int,
                     desired: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # every (start, end) pair's probability, zero where end < start or longer than max_answer_len
        outer = np.matmul(start[:, :, None], end[:, None, :])
        candidates = np.tril(np.triu(outer), max_answer_len - 1)
        flat = candidates.flatten()
        if topk == 1:
            idx = np.array([np.argmax(flat)])
        elif len(flat) < topk:
            idx = np.argsort(-flat)
        else:
            idx = np.argpartition(-flat, topk)[:topk]
            idx = idx[np.argsort(-flat[idx])]
        starts, ends = np.unravel_index(idx, candidates.shape)[1:]
        keep = np.isin(starts, desired) & np.isin(ends, desired)
        starts, ends = starts[keep], ends[keep]
        return starts, ends, candidates[0, starts, ends]

    def postprocess(self, outputs: list[tuple[dict, tuple]], top_k: int, handle_impossible_answer: bool,
                    max_answer_len: int, align_to_words: bool = True) -> dict:
        min_null_score = 1000000.0
        answers: list[dict] = []
        for feat, (start, end, attention) in outputs:
            p_mask = np.zeros(start.shape[1], dtype=np.int64)
            p_mask[: len(feat["p_mask"])] = feat["p_mask"]
            p_mask[len(feat["p_mask"]) :] = 1  # padding of a batched window
            allowed = (1 - p_mask)[None] & attention
            start = np.where(allowed == 0, -10000.0, start)
            end = np.where(allowed == 0, -10000.0, end)
            start = np.exp(start - start.max(axis=-1, keepdims=True))
            start = start / start.sum()
            end = np.exp(end - end.max(axis=-1, keepdims=True))
            end = end / end.sum()
            if handle_impossible_answer:
                # the null answer: the lowest CLS x CLS probability over the question's windows,
                # each window's softmax normalised on its own
                min_null_score = min(min_null_score, float(start[0, 0] * end[0, 0]))
            start[0, 0] = end[0, 0] = 0.0
            pre_topk = top_k * 2 + 10 if align_to_words else top_k
            starts, ends, scores = self.decode_spans(start, end, pre_topk, max_answer_len,
                                                     allowed[0].nonzero()[0])
            enc, context = feat["encoding"], feat["context"]
            for s, e, score in zip(starts.tolist(), ends.tolist(), scores.tolist()):
                a, b = enc.offsets[s][0], enc.offsets[e][1]
                if align_to_words:  # widen the span to whole words
                    try:
                        a = enc.word_to_chars(enc.token_to_word(s), sequence_index=1)[0]
                        b = enc.word_to_chars(enc.token_to_word(e), sequence_index=1)[1]
                    except Exception:  # noqa: BLE001 - the pipeline falls back to token offsets too
                        a, b = enc.offsets[s][0], enc.offsets[e][1]
                text = context[a:b]
                same = next((x for x in answers if x["answer"].lower() == text.lower()), None)
                if same is not None:  # the same text from another span or window: scores add up
                    same["score"] += score
                else:
                    answers.append({"score": score, "start": a, "end": b, "answer": text})
        if handle_impossible_answer:
            answers.append({"score": min_null_score, "start": 0, "end": 0, "answer": ""})
        answers = sorted(answers, key=lambda x: x["score"], reverse=True)[:top_k]
        return answers[0] if len(answers) == 1 else answers

    def __call__(self, question: Sequence[str], context: Sequence[str], batch_size: int = 1,
                 max_seq_len: int = 384, doc_stride: int = 128, max_question_len: int = 64,
                 max_answer_len: int = 15, top_k: int = 1, handle_impossible_answer: bool = False,
                 **_: Any) -> list[dict]:
        del max_question_len  # unused by the pipeline with a fast tokenizer (see preprocess)
        self.model.eval()
        # windows of consecutive questions are batched in input order, as the pipeline's DataLoader does
        results: list[dict] = []
        pending: list[tuple[dict, tuple]] = []
        batch: list[dict] = []

        def run() -> None:
            for feat, out in zip(batch, self.forward(batch)):
                pending.append((feat, out))
                if feat["is_last"]:
                    results.append(self.postprocess(pending, top_k, handle_impossible_answer, max_answer_len))
                    pending.clear()
            batch.clear()

        for q, c in zip(question, context):
            feats = self.preprocess(q, c, max_seq_len, doc_stride)
            for i, f in enumerate(feats):
                f["is_last"] = i == len(feats) - 1
                batch.append(f)
                if len(batch) == batch_size:
                    run()
        if batch:
            run()
        return results


def make_baseline(model: Any, tokenizer: Any) -> tuple[Any, str]:
    """The real question-answering pipeline where transformers has it, else the re-implementation."""
    from transformers import pipeline

    try:
        return pipeline("question-answering", model=model, tokenizer=tokenizer, device=-1), "pipeline"
    except KeyError:  # transformers >= 5: the task was removed
        return ReferenceQAPipeline(model, tokenizer), "4.x pipeline (re-impl.)"


# ----------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=500, help="dev questions to time (default 500)")
    p.add_argument("--model", default="minilm", help="registered model name, folder or hub id (default minilm)")
    p.add_argument("--batch-size", type=int, default=64, help="our eval batch size in windows (default 64)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: leave as is)")
    return p.parse_args(argv)


def timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    dev = DEV.resolve()
    if not dev.is_file():
        sys.exit(f"qa_predict benchmark: SQuAD 2.0 dev file not found at {dev}\n"
                 "(it is expected in ../shared/data/squad2/ next to the repository)")

    import torch
    import transformers
    from transformers import set_seed

    from miniature.config import QAConfig
    from miniature.data import load_qa_dataset
    from miniature.tasks.qa import predict_qa
    from miniature.tasks.qa_features import encode_eval
    from miniature.zoo import load_qa_model, load_tokenizer, resolve_model

    transformers.logging.set_verbosity_error()  # the fresh-head load report is expected
    if args.threads:
        torch.set_num_threads(args.threads)

    data = load_qa_dataset(dev, limit=args.n)
    warm = load_qa_dataset(dev, limit=WARMUP)
    examples = data.examples
    questions = [e.question for e in examples]
    contexts = [e.context for e in examples]
    cfg = QAConfig(eval_batch_size=args.batch_size)

    spec = resolve_model(args.model)
    set_seed(0)  # before loading: the fresh QA head is drawn from it
    tokenizer = load_tokenizer(spec)
    model = load_qa_model(spec).eval()  # ONE model object and tokenizer for every method
    baseline, base_name = make_baseline(model, tokenizer)
    windows = len(encode_eval(tokenizer, examples, cfg.max_seq_length, cfg.doc_stride, cfg.max_query_length,
                              {"input_ids"}).inputs)
    pipe_kw = dict(max_seq_len=cfg.max_seq_length, doc_stride=cfg.doc_stride,
                   max_question_len=cfg.max_query_length, max_answer_len=cfg.max_answer_length,
                   top_k=1, handle_impossible_answer=True)

    def run_baseline(qs: list[str], cs: list[str], bs: int) -> list[str]:
        out = baseline(question=qs, context=cs, batch_size=bs, **pipe_kw)
        if isinstance(out, dict):  # the real pipeline unwraps a single question
            out = [out]
        return [o["answer"] or "" for o in out]

    print(f"model {args.model} ({spec.source}), {len(examples)} questions -> {windows} windows of "
          f"<= {cfg.max_seq_length} tokens; python {sys.version.split()[0]}, torch {torch.__version__}, "
          f"transformers {transformers.__version__}; torch threads {torch.get_num_threads()} "
          f"(interop {torch.get_num_interop_threads()}), {os.cpu_count()} CPUs")
    if base_name != "pipeline":
        print("transformers has no question-answering pipeline any more: the baseline is the 4.x "
              "pipeline's algorithm re-implemented here (see the module docstring)")

    # warm up every path on a few questions, then time each once on the same questions
    wq, wc = [e.question for e in warm.examples], [e.context for e in warm.examples]
    predict_qa(model, tokenizer, warm, cfg)
    run_baseline(wq, wc, 1)
    run_baseline(wq, wc, PIPE_BATCH)

    (ours, _), t_ours = timed(lambda: predict_qa(model, tokenizer, data, cfg))
    base1, t_b1 = timed(lambda: run_baseline(questions, contexts, 1))
    baseb, t_bb = timed(lambda: run_baseline(questions, contexts, PIPE_BATCH))

    n = len(examples)
    rows = [(f"ours: predict_qa (batch {args.batch_size})", t_ours),
            (f"{base_name}, batch_size=1", t_b1),
            (f"{base_name}, batch_size={PIPE_BATCH}", t_bb)]
    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'method':<{width}}  {'seconds':>8}  {'questions/s':>11}  {'ours is':>8}")
    for name, t in rows:
        print(f"{name:<{width}}  {t:8.2f}  {n / t:11.1f}  {t / t_ours:7.2f}x")

    ours_list = [ours[e.id] for e in examples]
    print()
    for label, base in ((f"batch_size=1", base1), (f"batch_size={PIPE_BATCH}", baseb)):
        agree = sum(a == b for a, b in zip(ours_list, base))
        print(f"answer agreement with {base_name} {label}: {agree}/{n} = {agree / n:.1%}")
    same = sum(a == b for a, b in zip(base1, baseb))
    print(f"{base_name} batch_size=1 vs batch_size={PIPE_BATCH}: {same}/{n} identical answers")

    # Where the two disagree, and why. The pipeline scores differently from predict_qa:
    # * word alignment: the pipeline widens a span to whole words (align_to_words=True), predict_qa
    #   returns the exact token offsets; a span that starts or ends inside a word (WordPiece "##" pieces)
    #   comes out longer in the pipeline ("wider" below);
    # * the null answer: predict_qa compares raw logits, null = min over windows of start[CLS] + end[CLS]
    #   against the best span's start + end over all windows; the pipeline compares probabilities,
    #   softmax-normalised per window (over context tokens and CLS): null = min over windows of
    #   p_start[CLS] * p_end[CLS] against the best span's p_start * p_end. In a single window the
    #   normalisers cancel and both decide alike; across windows they do not ("multi-window" below);
    # * the pipeline sums the probabilities of spans with the same text (case-insensitive) within and
    #   across windows, which can lift a span above the null or above another span; predict_qa takes
    #   the best single span;
    # * predict_qa only considers the top n_best (20) starts x top 20 ends of a window, the pipeline the
    #   full start x end matrix, so with a flat (untrained) head their best span can differ;
    # * the pipeline does not truncate questions to max_question_len with a fast tokenizer (rarely
    #   matters: SQuAD questions are short).
    multi: dict[int, int] = {}
    enc = encode_eval(tokenizer, examples, cfg.max_seq_length, cfg.doc_stride, cfg.max_query_length, {"input_ids"})
    for i in enc.example_index.tolist():
        multi[i] = multi.get(i, 0) + 1
    kinds = {"ours no-answer, pipeline a span": 0, "ours a span, pipeline no-answer": 0,
             "pipeline wider (word alignment)": 0, "other span": 0}
    multi_dis = 0
    for i, (a, b) in enumerate(zip(ours_list, base1)):
        if a == b:
            continue
        multi_dis += multi.get(i, 1) > 1
        if not a:
            kinds["ours no-answer, pipeline a span"] += 1
        elif not b:
            kinds["ours a span, pipeline no-answer"] += 1
        elif a in b:
            kinds["pipeline wider (word alignment)"] += 1
        else:
            kinds["other span"] += 1
    n_multi = sum(1 for v in multi.values() if v > 1)
    print(f"disagreements (vs batch_size=1): " + ", ".join(f"{k} {v}" for k, v in kinds.items())
          + f"; {multi_dis} of them on multi-window questions ({n_multi} of {n} questions have several windows)")
    print(f"no-answer predictions: ours {sum(not a for a in ours_list)}, {base_name} {sum(not b for b in base1)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
