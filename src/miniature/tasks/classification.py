"""Text classification: fine-tune with the HF Trainer (cached by content key) and batched class probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from miniature.config import ClassificationConfig
from miniature.data.text import TextDataset
from miniature.exceptions import DataError
from miniature.families import pad_token_id
from miniature.runs import RunDir, cached, content_key, meta_block
from miniature.tasks.training import (
    CPU_MAX_TOKENS,
    DONE,
    Checkpoint,
    autocast_dtype,
    model_keys,
    padded_batches,
    special_tokens,
    to_device,
    tqdm_wrap,
    train_and_save,
)
from miniature.zoo import ModelSpec, load_classifier, load_tokenizer


def check_labels(data: TextDataset, n_classes: int, model: str) -> None:
    """Refuse labels a model with `n_classes` outputs cannot predict."""
    bad = [e for e in data.examples if e.label >= n_classes]
    if bad:
        raise DataError(f"{data.source}: example {bad[0].id!r} has label {bad[0].label}, but model {model!r} has "
                        f"{n_classes} classes (0..{n_classes - 1}); fix the labels or set classification.num_labels")


def check_classes(train: TextDataset) -> None:
    """Training texts must show a classifier at least two classes."""
    labels = {e.label for e in train.examples}
    if len(labels) < 2:
        raise DataError(f"{train.source}: every training text has label {labels.pop()}; a classifier needs "
                        "texts of at least two classes (raise classification.train_limit or fix the labels)")


def encode_texts(tokenizer: Any, texts: Sequence[str], max_length: int, keys: set[str],
                 progress: bool = False, chunk: int = 1000) -> list[dict[str, list[int]]]:
    """Tokenise texts once, cut to `max_length`, in large batched calls (no padding: the collator pads)."""
    rows: list[dict[str, list[int]]] = []
    starts = range(0, len(texts), chunk)
    wrap = tqdm_wrap(progress, "tokenize")
    for s in wrap(starts) if wrap else starts:
        enc = tokenizer(list(texts[s : s + chunk]), truncation=True, max_length=max_length)
        names = [k for k in enc if k in keys]
        rows.extend({k: enc[k][i] for k in names} for i in range(len(enc["input_ids"])))
    return rows


def classifier_key(spec: ModelSpec, train: TextDataset, cfg: ClassificationConfig, n_labels: int) -> str:
    return content_key({"task": "classification", "model": spec.identity(), "data": train.fingerprint,
                        "hp": cfg.training_fields(), "labels": n_labels})


def labelled_rows(tokenizer: Any, train: TextDataset, max_length: int, keys: set[str],
                  progress: bool = False) -> list[dict[str, Any]]:
    """Training rows: each text tokenised once (cut to `max_length`) with its label."""
    rows = encode_texts(tokenizer, [e.text for e in train.examples], max_length, keys, progress)
    return [{**r, "labels": e.label} for r, e in zip(rows, train.examples)]


def finetune_classifier(spec: ModelSpec, train: TextDataset, cfg: ClassificationConfig, run: RunDir,
                        progress: bool = False, save_steps: int = 500) -> Checkpoint:
    """Fine-tune `spec` for text classification on `train`, or return the cached checkpoint.

    The checkpoint lives at `run/checkpoints/cls-<name>-<key>`, the key hashing the model, the
    training data's fingerprint and every training knob; a killed run resumes from the last
    Trainer checkpoint in `run/work/cls/<key>`.
    """
    n_labels = cfg.num_labels or train.n_labels
    check_classes(train)
    check_labels(train, n_labels, spec.name)
    key = classifier_key(spec, train, cfg, n_labels)
    final = run.path("checkpoints", f"cls-{spec.name}-{key}")
    what = f"fine-tune {spec.name} for classification on {len(train)} texts"

    def train_it() -> Checkpoint:
        from transformers import set_seed

        set_seed(cfg.seed)  # before loading: the fresh head is initialised from the seed
        tokenizer = load_tokenizer(spec)
        model = load_classifier(spec, num_labels=n_labels)
        keys = model_keys(model)
        rows = labelled_rows(tokenizer, train, cfg.max_length, keys, progress)
        done = meta_block(key=key, model=spec.identity(), name=spec.name, train=train.source,
                          train_fingerprint=train.fingerprint, num_labels=n_labels,
                          hyperparameters=cfg.training_fields())
        train_and_save(model, tokenizer, rows, cfg, run.work("cls", key), final, done, progress, save_steps)
        return Checkpoint(final, key, trained=True)

    return cached("classifier checkpoint", final, what, train_it, lambda: Checkpoint(final, key, trained=False),
                  marker=final / DONE)


def predict_probs(model: Any, sequences: Sequence[Sequence[int]], pad_id: int, batch_size: int = 64,
                  max_tokens: int | None = None, precision: str = "auto") -> np.ndarray:
    """Class probabilities (float64) of token-id sequences (special tokens included), in
    length-sorted batches under a token budget, dynamically padded, in inference mode."""
    import torch

    device = next(model.parameters()).device
    if max_tokens is None and device.type == "cpu":
        max_tokens = CPU_MAX_TOKENS
    dtype = autocast_dtype(precision, device.type)
    out = np.empty((len(sequences), model.config.num_labels), dtype=np.float64)
    model.eval()
    with torch.inference_mode():
        for idx, ids, mask in padded_batches(sequences, pad_id, batch_size, max_tokens, device):
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                logits = model(input_ids=ids, attention_mask=mask).logits
            out[idx] = torch.softmax(logits.double(), dim=-1).cpu().numpy()
    return out


class Classifier:
    """A target of the attack: a classifier, its tokenizer and window, scoring word sequences.

    A text is a list of words (whitespace-split, as BERT-Attack does); each word's token ids are
    computed once and sequences are built by joining them, so nothing is re-tokenised while an
    attack searches.
    """

    def __init__(self, model: Any, tokenizer: Any, max_length: int = 512, batch_size: int = 64,
                 max_tokens: int | None = None, precision: str = "auto", name: str = "target") -> None:
        self.model = to_device(model)
        self.tokenizer = tokenizer
        self.name = name
        self.n_classes = int(model.config.num_labels)
        self.prefix, self.suffix = special_tokens(tokenizer)
        self.room = max_length - len(self.prefix) - len(self.suffix)  # word tokens that fit
        self.batch_size, self.max_tokens, self.precision = batch_size, max_tokens, precision
        self.pad_id = pad_token_id(tokenizer)
        self.unk_id = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else self.pad_id
        self._ids: dict[tuple[str, bool], list[int]] = {}
        self.queries = 0  # texts scored so far

    def word_ids(self, word: str, first: bool = False) -> list[int]:
        """The word's token ids as it reads inside a text (a leading space unless it comes first)."""
        key = (word, first)
        if key not in self._ids:
            self._ids[key] = self.tokenizer(word if first else " " + word, add_special_tokens=False)["input_ids"]
        return self._ids[key]

    def text_ids(self, words: Sequence[str]) -> list[list[int]]:
        return [self.word_ids(w, i == 0) for i, w in enumerate(words)]

    def probs(self, bodies: Sequence[Sequence[int]]) -> np.ndarray:
        """Class probabilities of word-token sequences, cut to the window, special tokens added."""
        seqs = [[*self.prefix, *b[: self.room], *self.suffix] for b in bodies]
        self.queries += len(seqs)
        return predict_probs(self.model, seqs, self.pad_id, self.batch_size, self.max_tokens, self.precision)
