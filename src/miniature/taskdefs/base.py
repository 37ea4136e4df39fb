"""The task plug-in: what a characteristic needs of a task (extractive QA, text classification, ...)
to fine-tune every model of a study for it and compare what the models output, item by item.

A task says where its items come from (its readers, configured in the study's sections), how a
model gets weights for it (fine-tuned, derived from its source's, or as given: a model entry's
`finetuned_for`), and what a model outputs on each item: its prediction, whether it is correct,
and its output distribution (class probabilities; QA's answer start and end log-probabilities
over each window's tokens). Errors and scores come from those outputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from miniature.config import TASK_NAMES, check_plugin_name, register_section
from miniature.exceptions import DataError
from miniature.registry import Registry


@dataclass(frozen=True)
class Outputs:
    """One model's outputs on a task's items, in the items' order.

    Attributes:
        ids: the items' ids.
        predictions: each prediction as text (the answer, "" for none; the class index).
        correct: whether each prediction is right (bool).
        probs: (items x classes) probabilities, where the task has a small label set.
        labels: the gold class of each item, where the task has classes.
        windows: ragged distributions over tokens, name -> (values, offsets): window w's values
            are values[offsets[w]:offsets[w + 1]] (QA: "start" and "end" log-probabilities).
        window_item: the item of each window (QA reads a long context in several windows).
        extra: other per-item numbers the task's scores need (QA: "no_answer_prob").
        source: where the outputs were read from (a cached file or folder), for provenance.
    """

    ids: tuple[str, ...]
    predictions: tuple[str, ...]
    correct: np.ndarray
    probs: np.ndarray | None = None
    labels: np.ndarray | None = None
    windows: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
    window_item: np.ndarray | None = None
    extra: dict[str, np.ndarray] | None = None
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.ids)
        if len(self.predictions) != n or self.correct.shape != (n,):
            raise ValueError("outputs: ids, predictions and correct must have one entry per item")
        if self.probs is not None and self.probs.shape[0] != n:
            raise ValueError("outputs: probs must have one row per item")

    @property
    def errors(self) -> frozenset[str]:
        """The ids of the items the model gets wrong."""
        return frozenset(i for i, ok in zip(self.ids, self.correct) if not ok)

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean()) if len(self.ids) else float("nan")

    def window(self, name: str, w: int) -> np.ndarray:
        """Window `w`'s distribution `name` (e.g. QA's "start" log-probabilities)."""
        assert self.windows is not None, "these outputs hold no per-window distributions"
        values, offsets = self.windows[name]
        return values[offsets[w] : offsets[w + 1]]

    def save(self, path: str | Path) -> Path:
        """As one .npz (no pickled objects): arrays as they are, ids and predictions as text."""
        arrays: dict[str, Any] = {"ids": np.array(self.ids, dtype=str), "correct": self.correct.astype(bool),
                                  "predictions": np.array(json.dumps(list(self.predictions), ensure_ascii=False))}
        if self.probs is not None:
            arrays["probs"] = self.probs
        if self.labels is not None:
            arrays["labels"] = self.labels
        for name, (values, offsets) in (self.windows or {}).items():
            arrays[f"window_{name}"], arrays[f"offsets_{name}"] = values, offsets
        if self.window_item is not None:
            arrays["window_item"] = self.window_item
        for name, values in (self.extra or {}).items():
            arrays[f"extra_{name}"] = values
        with open(path, "wb") as f:
            np.savez(f, **arrays)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> Outputs:
        try:
            with np.load(path, allow_pickle=False) as z:
                names = set(z.files)
                windows = {n.removeprefix("window_"): (z[n], z[f"offsets_{n.removeprefix('window_')}"])
                           for n in names if n.startswith("window_") and n != "window_item"}
                extra = {n.removeprefix("extra_"): z[n] for n in names if n.startswith("extra_")}
                return cls(tuple(str(i) for i in z["ids"]), tuple(json.loads(str(z["predictions"]))),
                           z["correct"].astype(bool), z["probs"] if "probs" in names else None,
                           z["labels"] if "labels" in names else None, windows or None,
                           z["window_item"] if "window_item" in names else None, extra or None, str(path))
        except (OSError, ValueError, KeyError) as e:
            raise DataError(f"{path}: not a miniature outputs file ({e}); delete it to compute it again") from None


class Task:
    """What the study needs of a task; subclasses set the class attributes.

    Attributes:
        name: its registry name (`errors.task`, a model entry's `finetuned_for`).
        description: one line for `miniature list tasks`.
        items_noun: what its items are, for sentences ("SQuAD 2.0 questions").
        sections: the config sections its weights and items depend on (cache keys).
        head: the head a model given for it must have (`zoo.check_given_head`'s kind).
        score_title, score_columns: the caption and columns of its per-model scores table.
        headline: per-model columns of the study's per-model table, from its scores: study column
            -> (scores column, legend); `headline_bars`: (title, ylabel, ylim, digits, caption) of
            their bar figure.
    """

    name: ClassVar[str]
    config: ClassVar[Any] = None  # its own config section (under its name), if the study's sections lack its knobs
    description: ClassVar[str]
    items_noun: ClassVar[str]
    sections: ClassVar[tuple[str, ...]]
    head: ClassVar[str]
    score_title: ClassVar[str]
    score_columns: ClassVar[tuple[str, ...]]
    headline: ClassVar[dict[str, tuple[str, str]]]
    headline_bars: ClassVar[tuple[str, str, tuple[float, float] | None, int, str]]

    def check(self, cfg: Any, specs: list[Any], note: Any) -> None:
        """Preflight: its data readable (recorded with `note`), given heads present."""

    def train_data(self, cfg: Any) -> Any:
        """Its training data, where any model of the study trains or distils on it; else None."""
        raise NotImplementedError

    def items(self, cfg: Any) -> Any:
        """The items every model's outputs are compared on (a dataset with `ids` and `fingerprint`)."""
        raise NotImplementedError

    def weights(self, cfg: Any, i: int, specs: list[Any], train: Any, run: Any, progress: bool = False) -> Any:
        """Model `i`'s weights for the task: (checkpoint folder or None for its own, id for cache keys)."""
        raise NotImplementedError

    def outputs(self, cfg: Any, spec: Any, weights: Any, items: Any, run: Any, progress: bool = False) -> Outputs:
        """A model's per-item outputs on `items` (cached in the run folder)."""
        raise NotImplementedError

    def scores(self, items: Any, outputs: Outputs) -> dict[str, Any]:
        """The task's own figures of one model (columns `score_columns`, less `model`)."""
        raise NotImplementedError

    def fine_tunes(self, cfg: Any) -> bool:
        """Whether the task fine-tunes its models (zero-shot tasks use them as they are: their
        weights before and after are the same, a derived variant's included)."""
        return True

    def card_inputs(self, cfg: Any, tokenizer: Any) -> list[dict]:
        """The inputs Table 1 times a language model on (a few items, as the model reads them)."""
        raise NotImplementedError

    def describe(self, items: Any, index: int) -> tuple[str, str]:
        """Item `index` for a person to read: its text (shortened) and its gold answer."""
        return str(items.ids[index]), ""

    # ---- what the embedding characteristics (representation, CKA) read of a task

    def points(self, cfg: Any, limit: int | None = None) -> Any:
        """The items whose embeddings are compared (at most `limit` of them)."""
        raise NotImplementedError

    def encode(self, cfg: Any, tokenizer: Any, items: Any, text: str) -> Any:
        """Every point tokenised once as the task's model reads it (`miniature.tasks.embed.Encoded`);
        `text` is the representation section's (QA: pair, question or context)."""
        raise NotImplementedError

    def embedding_fields(self, cfg: Any, text: str) -> dict[str, Any]:
        """What of the config determines `encode`'s tokens (part of the embeddings' cache key)."""
        raise NotImplementedError

    def precision(self, cfg: Any) -> str:
        """The precision its models run at (`auto`, `fp32`, `bf16`, `fp16`)."""
        raise NotImplementedError

    # ---- what the data distribution (Deep kNN) reads of a task

    def bank(self, cfg: Any, limit: int | None = None) -> Any:
        """The in-distribution reference points: its training data (at most `limit` of them)."""
        raise NotImplementedError

    def read(self, cfg: Any, source: str, split: str, limit: int | None = None) -> Any:
        """A dataset of the task's kind from a file or hub id (the OOD test set), at most `limit` items."""
        raise NotImplementedError

    def subset(self, items: Any, keep: Any, tag: str) -> Any:
        """The items at the indices `keep`, as a dataset of their own (`tag` added to its source)."""
        raise NotImplementedError


TASKS: Registry[Task] = Registry("task")


def register(cls: type[Task]) -> type[Task]:
    """Class decorator: register one instance of a task under its name (and make the name known
    to the config's checks)."""
    check_plugin_name(cls.name, "task")
    TASKS.add(cls.name, cls())
    TASK_NAMES.append(cls.name)
    if cls.config is not None:  # its own section, under its name
        register_section(cls.name, cls.config)
    return cls
