"""Multiple choice by log-likelihood (ARC, HellaSwag, PIQA, BoolQ, MMLU and any JSONL of items) for causal language
models, with lm-evaluation-harness's semantics (`miniature.tasks.mc`). Models are used as they are
(no fine-tuning); a compressed variant is derived from its source's weights. Outputs: the chosen
option (`acc`'s or `acc_norm`'s, the config says), whether it is gold, and the distribution over the
options (the softmax of their log-likelihoods)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

import numpy as np
from pydantic import Field

from miniature.config import Section
from miniature.data.mc import MCDataset, load_mc_dataset, load_mc_sets, make_mc_dataset, set_of
from miniature.exceptions import ConfigError
from miniature.runs import RunDir, atomic_file, cached, content_key
from miniature.taskdefs.base import Outputs, register
from miniature.taskdefs.zero_shot import ZeroShotTask


class MultipleChoiceConfig(Section):
    """Multiple choice by log-likelihood of causal language models (zero-shot, lm-eval's semantics)."""

    # a local file or folder (ARC's or PIQA's or BoolQ's JSONL, HellaSwag's llama.cpp .txt, MMLU's folder or
    # a subject's .csv, a JSONL of {id, context, options, gold}), or arc_easy, arc_challenge, hellaswag,
    # piqa, boolq, mmlu (the hub's copies)
    data: str | list[str] = "arc_easy"  # several: pooled, each item's id prefixed with its set's name
    split: str | None = None  # of MMLU's folder or a hub dataset (None: its evaluation split)
    limit: int | None = Field(None, gt=0)  # the first N items (MMLU: of each subject, as lm-eval's --limit)
    # the data distribution's in-distribution bank (a file, name or list as `data`; the compared items left
    # out): Deep kNN needs reference points of the same distribution, and zero-shot tasks have no training data
    bank: str | list[str] | None = None
    shots: int = Field(0, ge=0, le=5)  # MMLU: answered dev questions before each (lm-eval's first_n)
    metric: Literal["acc", "acc_norm"] = "acc"  # the answer: the likeliest option, or per character (acc_norm)
    seed: int = 0  # which items a `limit` on embedded points draws


def _softmax_rows(logliks: list[np.ndarray]) -> np.ndarray:
    """Each item's distribution over its options, padded with zeros to the most options."""
    width = max(len(x) for x in logliks)
    out = np.zeros((len(logliks), width))
    for k, x in enumerate(logliks):
        z = np.exp(x - x.max())
        out[k, : len(x)] = z / z.sum()
    return out


@register
class MultipleChoice(ZeroShotTask):
    name = "multiple_choice"
    config = MultipleChoiceConfig
    description = ("multiple choice by log-likelihood (ARC, HellaSwag, PIQA, BoolQ, MMLU, any JSONL of items): causal "
                   "language models")
    items_noun = "multiple-choice items"
    sections = ("multiple_choice",)
    score_title = "Multiple-choice accuracy (acc: the likeliest option; acc_norm: per character)"
    score_columns = ("model", "acc", "acc_norm", "n", "truncated", "by_set")
    headline = {"mc_acc": ("acc", "multiple-choice accuracy (acc)"),
                "mc_acc_norm": ("acc_norm", "multiple-choice accuracy (acc_norm)")}
    headline_bars = ("Multiple-choice accuracy", "accuracy", (0.0, 1.05), 3,
                     "Multiple-choice accuracy of every model, by the likeliest option and per character.")

    def check(self, cfg: Any, specs: list[Any], note: Any) -> None:
        note("multiple_choice.data", self.items(cfg))
        self.check_training(cfg)

    def items(self, cfg: Any) -> MCDataset:
        c = cfg.multiple_choice
        return load_mc_sets(c.data if isinstance(c.data, list) else [c.data], c.split, c.limit, c.shots)

    def outputs(self, cfg: Any, spec: Any, weights: Any, items: MCDataset, run: RunDir,
                progress: bool = False) -> Outputs:
        path, ident = weights
        # both answers are kept (acc's and acc_norm's): the metric picks one after loading, so
        # changing it scores nothing again
        key = content_key({"task": self.name, "checkpoint": ident, "items": items.fingerprint})
        file = run.path("predictions", f"{spec.name}-mc-{key}.npz")

        def score_it() -> Outputs:
            from miniature.families import pad_token_id
            from miniature.tasks.mc import choices, encode_items, score_encoded
            from miniature.tasks.training import to_device
            from miniature.zoo import load_causal_lm, load_tokenizer

            tokenizer = load_tokenizer(spec, path)
            model = to_device(load_causal_lm(spec, path)).eval()
            scores = score_encoded(model, encode_items(tokenizer, items.examples), pad_token_id(tokenizer), progress)
            acc, norm = choices(items.examples, scores), choices(items.examples, scores, norm=True)
            gold = np.array([e.gold for e in items.examples], dtype=np.int64)
            out = Outputs(tuple(items.ids), tuple(str(int(c)) for c in acc), acc == gold,
                          _softmax_rows(list(scores.logliks)), gold,
                          extra={"acc_choice": acc.astype(np.float64), "norm_choice": norm.astype(np.float64),
                                 "truncated": np.full(len(items), float(scores.truncated))}, source=str(file))
            with atomic_file(file) as tmp:
                out.save(tmp)
            return out

        out = cached("multiple-choice outputs", file, f"score {len(items)} items' options with {spec.name}",
                     score_it, lambda: Outputs.load(file), marker=file)
        if cfg.multiple_choice.metric == "acc":
            return out
        assert out.extra is not None and out.labels is not None
        chosen = out.extra["norm_choice"].astype(np.int64)
        return replace(out, predictions=tuple(str(int(c)) for c in chosen), correct=chosen == out.labels)

    def card_inputs(self, cfg: Any, tokenizer: Any) -> list[dict]:
        return [{"input_ids": ids, "attention_mask": [1] * len(ids)}
                for ids in (tokenizer(e.context, add_special_tokens=False)["input_ids"]
                            for e in self.items(cfg).examples[:16])]

    def scores(self, items: MCDataset, outputs: Outputs) -> dict[str, Any]:
        assert outputs.extra is not None and outputs.labels is not None
        gold = outputs.labels
        acc, norm = outputs.extra["acc_choice"] == gold, outputs.extra["norm_choice"] == gold
        sets = np.array([set_of(i) for i in outputs.ids])
        by_set = "; ".join(f"{name}: acc {acc[sets == name].mean():.3f}, acc_norm {norm[sets == name].mean():.3f} "
                           f"(n {int((sets == name).sum())})" for name in dict.fromkeys(sets) if name)
        return {"acc": float(np.mean(acc)), "acc_norm": float(np.mean(norm)), "n": len(outputs.ids),
                "truncated": int(outputs.extra["truncated"][0]) if len(outputs.ids) else 0, "by_set": by_set}

    def describe(self, items: MCDataset, index: int) -> tuple[str, str]:
        e = items.examples[index]
        options = " / ".join(f"({k}) {o}" for k, o in enumerate(e.options))
        return f"{e.context} {options}", f"({e.gold}) {e.options[e.gold]}"

    # ---- what the embedding characteristics read: each item's context, its last token pooled

    def points(self, cfg: Any, limit: int | None = None) -> MCDataset:
        items = self.items(cfg)
        return items.sample(limit, cfg.multiple_choice.seed) if limit is not None else items

    def encode(self, cfg: Any, tokenizer: Any, items: MCDataset, text: str) -> Any:
        from miniature.tasks.embed import encode_texts

        return encode_texts(tokenizer, [e.context for e in items.examples], 512)

    def embedding_fields(self, cfg: Any, text: str) -> dict[str, Any]:
        return {"task": self.name, "text": "context", "max_length": 512}

    def bank(self, cfg: Any, limit: int | None = None) -> MCDataset:
        """`multiple_choice.bank`'s items less the compared ones (a seeded sample of `limit`)."""
        c = cfg.multiple_choice
        if c.bank is None:
            raise ConfigError("the data distribution needs in-distribution reference points and zero-shot multiple "
                              "choice has no training data: set multiple_choice.bank (e.g. the same file as data: "
                              "the items not compared are the bank)")
        compared = set(self.items(cfg).ids)
        pooled = load_mc_sets(c.bank if isinstance(c.bank, list) else [c.bank], c.split, None, c.shots)
        rest = [e for e in pooled.examples if e.id not in compared]
        if not rest:
            raise ConfigError("multiple_choice.bank holds no item besides the compared ones; give a larger set")
        bank = make_mc_dataset(rest, f"{pooled.source}[not compared]")
        return bank.sample(limit, c.seed) if limit is not None else bank

    def read(self, cfg: Any, source: str, split: str, limit: int | None = None) -> MCDataset:
        return load_mc_dataset(source, split, limit)

    def subset(self, items: MCDataset, keep: Any, tag: str) -> MCDataset:
        return make_mc_dataset([items.examples[i] for i in keep], f"{items.source}{tag}")
