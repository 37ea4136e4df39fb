"""Extractive QA on SQuAD 2.0-format data: fine-tuned on `data.train`, compared on `data.dev`.
Outputs: the answer the official post-processing picks ("" for none), exact match as
correctness, the no-answer probability, and each window's answer start and end log-probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np

from miniature.checkpoints import is_given, qa_train_data, qa_weights, source_index
from miniature.data.squad import QADataset, load_qa_dataset
from miniature.scoring import raw_scores, squad_v2_scores
from miniature.taskdefs.base import Outputs, Task, register


@register
class QA(Task):
    name = "qa"
    description = "extractive QA (SQuAD 2.0): answer spans or no answer, scored by the official script"
    items_noun = "SQuAD 2.0 questions"
    sections = ("data", "qa")
    head = "qa"
    score_title = "SQuAD 2.0 scores (official script: exact match and F1, %)"
    score_columns = ("model", "exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1", "total")
    headline = {"exact": ("exact", "exact match"), "f1": ("f1", "F1")}
    headline_bars = ("SQuAD 2.0 scores", "score (%)", (0.0, 105.0), 1,
                     "SQuAD 2.0 exact match and F1 of every model.")

    def check(self, cfg: Any, specs: list[Any], note: Any) -> None:
        from miniature.zoo import check_given_head

        teachers = {source_index(cfg, i) for i, m in enumerate(cfg.models) if m.derived}
        for i, spec in enumerate(specs):  # a given model a variant distils from must have its head
            if not cfg.models[i].derived and is_given(cfg, i, self.name) and i in teachers:
                check_given_head(spec, "qa")
        note("data.dev", self.items(cfg))
        if any(not is_given(cfg, i, self.name) or m.derived for i, m in enumerate(cfg.models)):
            note("data.train", load_qa_dataset(cfg.data.train, cfg.data.train_split, cfg.data.train_limit))

    def train_data(self, cfg: Any) -> QADataset | None:
        return qa_train_data(cfg)

    def items(self, cfg: Any) -> QADataset:
        return load_qa_dataset(cfg.data.dev, cfg.data.dev_split, cfg.data.dev_limit)

    def weights(self, cfg: Any, i: int, specs: list[Any], train: Any, run: Any, progress: bool = False) -> Any:
        return qa_weights(cfg, i, specs, train, run, progress)

    def outputs(self, cfg: Any, spec: Any, weights: Any, items: QADataset, run: Any,
                progress: bool = False) -> Outputs:
        from miniature.tasks.qa import cached_predictions, read_predictions_folder

        path, ident = weights
        folder = cached_predictions(spec, path, ident, items, cfg.qa, run, progress)
        preds, na, windows, window_item = read_predictions_folder(folder, items)
        exact, _ = raw_scores(items, preds)
        ids = tuple(e.id for e in items.examples)
        return Outputs(ids, tuple(preds[q] for q in ids), np.array([exact[q] > 0 for q in ids], dtype=bool),
                       windows=windows, window_item=window_item,
                       extra={"no_answer_prob": np.array([na[q] for q in ids], dtype=np.float64)},
                       source=str(folder / "predictions.json"))

    def describe(self, items: QADataset, index: int) -> tuple[str, str]:
        e = items.examples[index]
        context = e.context if len(e.context) <= 200 else e.context[:200] + "..."
        return f"{e.question} | {context}", " / ".join(dict.fromkeys(a.text for a in e.answers)) or "(no answer)"

    def points(self, cfg: Any, limit: int | None = None) -> QADataset:
        return load_qa_dataset(cfg.data.dev, cfg.data.dev_split, limit or cfg.data.dev_limit)

    def encode(self, cfg: Any, tokenizer: Any, items: QADataset, text: str) -> Any:
        from miniature.tasks.embed import encode_points

        return encode_points(tokenizer, items.examples, text, cfg.qa.max_seq_length,  # type: ignore[arg-type]
                             cfg.qa.max_query_length)

    def embedding_fields(self, cfg: Any, text: str) -> dict[str, Any]:
        return {"text": text, "max_seq_length": cfg.qa.max_seq_length, "max_query_length": cfg.qa.max_query_length}

    def precision(self, cfg: Any) -> str:
        return str(cfg.qa.precision)

    def bank(self, cfg: Any, limit: int | None = None) -> QADataset:
        return load_qa_dataset(cfg.data.train, cfg.data.train_split, limit or cfg.data.train_limit)

    def read(self, cfg: Any, source: str, split: str, limit: int | None = None) -> QADataset:
        return load_qa_dataset(source, split, limit)

    def subset(self, items: QADataset, keep: Any, tag: str) -> QADataset:
        from miniature.data.squad import make_dataset

        return make_dataset([items.examples[i] for i in keep], f"{items.source}{tag}")

    def scores(self, items: QADataset, outputs: Outputs) -> dict[str, Any]:
        assert outputs.extra is not None
        preds = dict(zip(outputs.ids, outputs.predictions))
        na = {q: float(p) for q, p in zip(outputs.ids, outputs.extra["no_answer_prob"])}
        return squad_v2_scores(items, preds, na)
