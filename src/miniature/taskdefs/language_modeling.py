"""Language modelling (WikiText-2's `wiki.test.raw`, any text), zero-shot, for causal language
models, scored as llama.cpp's perplexity tool scores it (`miniature.tasks.lm`): the text cut into
windows of `n_ctx` tokens, the second half of each scored. Every scored token is an item: the
prediction is the model's top token, correct where it is the actual next token, and a compressed
model's outputs carry its exact per-token KL divergence from the study's first model, run in
lockstep with it (the output agreement's "same top token", KL and change of the actual token's
probability, within llama.cpp's `--kl-divergence` definitions)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field

from miniature.config import Section
from miniature.data.corpus import load_corpus
from miniature.exceptions import ConfigError, DataError
from miniature.runs import RunDir, atomic_file, cached, content_key
from miniature.taskdefs.base import Outputs, register
from miniature.taskdefs.zero_shot import ZeroShotTask


class LanguageModelingConfig(Section):
    """Perplexity of causal language models, as llama.cpp's `llama-perplexity` computes it."""

    data: str = "wikitext2"  # a text file (WikiText-2's wiki.test.raw) or wikitext2 (the hub's)
    split: str | None = None  # of the hub's copy (None: test)
    n_ctx: int = Field(512, ge=8)  # tokens a window (llama.cpp's -c)
    chunks: int | None = Field(None, gt=0)  # the first N windows (llama.cpp's --chunks); None: all
    batch: int = Field(4, gt=0)  # windows a forward pass
    # lockstep: each compressed model runs beside the first model, its per-token KL exact over the
    # vocabulary; top_k: no second run, every pair's KL a lower bound from the top-K summaries
    kl: Literal["lockstep", "top_k"] = "lockstep"
    top_k: int = Field(64, ge=1)  # each position's top-K kept (pairs lockstep does not cover)


@dataclass(frozen=True)
class TokenItems:
    """The text's scored tokens, as the study's first model's tokenizer reads it."""

    windows: np.ndarray  # (windows x n_ctx) token ids
    source: str
    fingerprint: str
    tokenizer: Any = None  # for `describe`

    @property
    def first(self) -> int:
        return self.windows.shape[1] // 2

    @property
    def ids(self) -> list[str]:
        n, n_ctx = self.windows.shape
        return [f"{w}:{p}" for w in range(n) for p in range(self.first + 1, n_ctx)]

    @property
    def targets(self) -> np.ndarray:
        return self.windows[:, self.first + 1 :].ravel()

    def __len__(self) -> int:
        n, n_ctx = self.windows.shape
        return n * (n_ctx - 1 - self.first)


_ITEMS: dict[tuple, TokenItems] = {}


def _token_items(text: Any, spec_key: str, spec: Any, n_ctx: int, chunks: int | None) -> TokenItems:
    from miniature.tasks.lm import adds_bos, llama_cpp_windows
    from miniature.zoo import load_tokenizer

    memo = (text.fingerprint, spec_key, n_ctx, chunks)
    if memo not in _ITEMS:
        tokenizer = load_tokenizer(spec)
        tokens = tokenizer(text.text, add_special_tokens=True, verbose=False)["input_ids"]
        windows = llama_cpp_windows(tokens, n_ctx, chunks, tokenizer.bos_token_id if adds_bos(tokenizer) else None)
        key = content_key({"text": text.fingerprint, "vocabulary": _vocabulary_key(tokenizer),
                           "windows": hashlib.sha256(windows.tobytes()).hexdigest()})
        _ITEMS[memo] = TokenItems(windows, f"{text.source}[{len(windows)} windows of {n_ctx}]", key, tokenizer)
    return _ITEMS[memo]


def _vocabulary_key(tokenizer: Any) -> str:
    return hashlib.sha256(repr(sorted(tokenizer.get_vocab().items())).encode()).hexdigest()[:16]


@register
class LanguageModeling(ZeroShotTask):
    name = "language_modeling"
    config = LanguageModelingConfig
    description = "language modelling (WikiText-2, any text): perplexity as llama.cpp scores it, per-token outputs"
    items_noun = "scored tokens"
    sections = ("language_modeling",)
    score_title = "Perplexity (llama.cpp's windows: the second half of each scored)"
    score_columns = ("model", "ppl", "ppl_se", "nll", "top1_accuracy", "tokens", "windows")
    headline = {"ppl": ("ppl", "perplexity (lower is better)")}
    headline_bars = ("Perplexity", "perplexity", None, 2,
                     "Perplexity of every model over the same scored tokens (lower is better).")

    def check(self, cfg: Any, specs: list[Any], note: Any) -> None:
        c = cfg.language_modeling
        note("language_modeling.data", load_corpus(c.data, c.split))
        self.check_training(cfg)

    def items(self, cfg: Any) -> TokenItems:
        """The scored tokens, as the study's first model's tokenizer reads the text (tokenized once per
        process: Table 1 and every characteristic ask again)."""
        from miniature.checkpoints import study_models

        c = cfg.language_modeling
        text = load_corpus(c.data, c.split)
        spec = study_models(cfg)[0][0]
        return _token_items(text, content_key(spec.identity()), spec, c.n_ctx, c.chunks)

    def outputs(self, cfg: Any, spec: Any, weights: Any, items: TokenItems, run: RunDir,
                progress: bool = False) -> Outputs:
        from miniature.checkpoints import study_models

        path, ident = weights
        c = cfg.language_modeling
        specs, _ = study_models(cfg)
        ref_weights = self.weights(cfg, 0, specs, None, run, progress)
        is_ref = ref_weights[1] == ident
        lockstep = c.kl == "lockstep" and not is_ref
        key = content_key({"task": self.name, "checkpoint": ident, "items": items.fingerprint,
                           "reference": ref_weights[1] if lockstep else None, "top_k": c.top_k})
        file = run.path("predictions", f"{spec.name}-lm-{key}.npz")
        ref_tag = np.frombuffer(hashlib.sha256(repr(ref_weights[1]).encode()).digest(), dtype=np.uint8)

        def score_it() -> Outputs:
            from miniature.tasks.lm import score_windows
            from miniature.tasks.training import to_device
            from miniature.zoo import load_causal_lm, load_tokenizer

            tokenizer = load_tokenizer(spec, path)
            if items.tokenizer is not None and _vocabulary_key(tokenizer) != _vocabulary_key(items.tokenizer):
                raise DataError(f"model {spec.name!r}: its tokenizer's vocabulary differs from the first model's; "
                                "per-token outputs compare models that share a vocabulary")
            model = to_device(load_causal_lm(spec, path)).eval()
            reference = to_device(load_causal_lm(specs[0], ref_weights[0])).eval() if lockstep else None
            s = score_windows(model, items.windows, reference, c.batch, progress, top_k=c.top_k)
            assert s.top_ids is not None and s.top_logprobs is not None and s.tail is not None
            targets = items.targets
            top1 = s.top1.ravel()
            zeros = np.zeros(len(targets))
            out = Outputs(tuple(items.ids), tuple(str(int(t)) for t in top1), top1 == targets,
                          extra={"logprob": s.logprob.ravel(), "target": targets.astype(np.float64),
                                 "kl_ref": s.kl.ravel() if s.kl is not None else zeros,
                                 "kl_ref_reverse": s.kl_reverse.ravel() if s.kl_reverse is not None else zeros,
                                 "ref_tag": ref_tag.astype(np.float64), "is_reference": np.array([float(is_ref)]),
                                 "lockstep": np.array([float(lockstep)]),
                                 "top_ids": s.top_ids.reshape(len(targets), -1),
                                 "top_logprobs": s.top_logprobs.reshape(len(targets), -1),
                                 "tail": s.tail.ravel(), "vocab": np.array([float(model.config.vocab_size)])},
                          source=str(file))
            with atomic_file(file) as tmp:
                out.save(tmp)
            return out

        what = f"score {len(items)} tokens with {spec.name}" + (f" (and {specs[0].name} in lockstep)"
                                                                 if lockstep else "")
        return cached("language-model outputs", file, what, score_it, lambda: Outputs.load(file), marker=file)

    def card_inputs(self, cfg: Any, tokenizer: Any) -> list[dict]:
        windows = self.items(cfg).windows[:4]
        return [{"input_ids": w.tolist(), "attention_mask": [1] * len(w)} for w in windows]

    def scores(self, items: TokenItems, outputs: Outputs) -> dict[str, Any]:
        from miniature.tasks.lm import perplexity

        assert outputs.extra is not None
        ppl, se = perplexity(outputs.extra["logprob"])
        return {"ppl": ppl, "ppl_se": se, "nll": float(-outputs.extra["logprob"].mean()),
                "top1_accuracy": outputs.accuracy, "tokens": len(outputs.ids), "windows": int(items.windows.shape[0])}

    def describe(self, items: TokenItems, index: int) -> tuple[str, str]:
        per = items.windows.shape[1] - 1 - items.first
        w, p = divmod(index, per)
        p += items.first + 1
        before = items.windows[w, max(0, p - 24) : p].tolist()
        if items.tokenizer is None:
            return " ".join(map(str, before)), str(int(items.windows[w, p]))
        return "..." + items.tokenizer.decode(before), items.tokenizer.decode([int(items.windows[w, p])])

    def points(self, cfg: Any, limit: int | None = None) -> Any:
        raise ConfigError("the language-modelling task has no items to embed; set representation.task to "
                          "multiple_choice, qa or classification")

    def bank(self, cfg: Any, limit: int | None = None) -> Any:
        raise ConfigError("the language-modelling task has no items to embed; set representation.task to qa or "
                          "classification for the data distribution")
