"""Zero-shot text classification by a causal language model: each class is a label word, and a
text's class probabilities are the softmax of the words' log-likelihoods after the prompt (as
lm-evaluation-harness scores its `sst2` task: "{sentence}\\nQuestion: Is this sentence positive
or negative?\\nAnswer:" and the words " negative", " positive"), scored with the multiple-choice
machinery (the prompt once, every word from its cache). `PromptClassifier` is the same
classifier as the adversarial attack's target."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from miniature.data.mc import MCItem
from miniature.families import pad_token_id
from miniature.tasks.mc import Encoded, encode_items, score_encoded


def prompted(prompt: str, text: str) -> str:
    return prompt.replace("{text}", text)


def prompt_items(ids: Sequence[str], texts: Sequence[str], prompt: str, label_words: Sequence[str]) -> list[MCItem]:
    """Each text as a multiple-choice item: the prompt around it, the label words as its options."""
    return [MCItem(i, prompted(prompt, t), tuple(label_words), 0) for i, t in zip(ids, texts)]


def softmax_rows(logliks: Sequence[np.ndarray]) -> np.ndarray:
    x = np.stack(logliks).astype(np.float64)
    z = np.exp(x - x.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def label_word_probs(model: Any, tokenizer: Any, items: Sequence[MCItem], progress: bool = False) -> np.ndarray:
    """(texts x classes) probabilities from the label words' log-likelihoods, lm-eval's encoding."""
    scores = score_encoded(model, encode_items(tokenizer, items), pad_token_id(tokenizer), progress)
    return softmax_rows(scores.logliks)


class PromptClassifier:
    """An attack target (`bert_attack.Target`): a language model classifying by label words.

    A text is a list of words; each word's tokens are computed once and a text's tokens are the
    prompt's tokens before the text, the words' tokens (cut to the window's room) and the prompt's
    tokens after it, so nothing is re-tokenised while the attack searches.
    """

    def __init__(self, model: Any, tokenizer: Any, prompt: str, label_words: Sequence[str], max_length: int = 512,
                 name: str = "target", batch_items: int = 32) -> None:
        from miniature.tasks.training import to_device

        self.model = to_device(model).eval()
        self.tokenizer = tokenizer
        self.name = name
        self.n_classes = len(label_words)
        before, after = prompt.split("{text}")
        self.bare_first = before == "" or before[-1].isspace()  # the text's first word: no space before it
        self.prefix = list(tokenizer(before, add_special_tokens=True)["input_ids"])  # BOS where the tokenizer adds it
        self.suffix = list(tokenizer(after, add_special_tokens=False)["input_ids"])
        self.options = tuple(tuple(tokenizer(" " + w, add_special_tokens=False)["input_ids"]) for w in label_words)
        self.room = max_length - len(self.prefix) - len(self.suffix) - max(len(o) for o in self.options)
        self.pad_id = pad_token_id(tokenizer)
        self.unk_id = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else self.pad_id
        self.batch_items = batch_items
        self._ids: dict[tuple[str, bool], list[int]] = {}
        self.queries = 0

    def word_ids(self, word: str, first: bool = False) -> list[int]:
        key = (word, first)
        if key not in self._ids:
            text = word if first and self.bare_first else " " + word
            self._ids[key] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self._ids[key]

    def text_ids(self, words: Sequence[str]) -> list[list[int]]:
        return [self.word_ids(w, i == 0) for i, w in enumerate(words)]

    def probs(self, bodies: Sequence[Sequence[int]]) -> np.ndarray:
        contexts = tuple(tuple(self.prefix + list(b[: self.room]) + self.suffix) for b in bodies)
        self.queries += len(contexts)
        encoded = Encoded(contexts, (self.options,) * len(contexts))
        return softmax_rows(score_encoded(self.model, encoded, self.pad_id, batch_items=self.batch_items).logliks)
