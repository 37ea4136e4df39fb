"""BERT-Attack's search (Li et al., EMNLP 2020): word importance, then greedy substitution, one target at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal, Protocol

import numpy as np

from miniature.attack_words import Prepared, attackable, rebuild

Outcome = Literal["skipped", "failed", "succeeded", "over_budget"]
OUTCOMES: tuple[Outcome, ...] = ("skipped", "failed", "succeeded", "over_budget")


class Target(Protocol):
    """What the search needs of a target model (tasks.classification.Classifier is one)."""

    unk_id: int
    queries: int
    room: int | None  # word tokens the target reads (its window less special tokens); None: all

    def text_ids(self, words: Sequence[str]) -> list[list[int]]: ...
    def word_ids(self, word: str, first: bool = False) -> list[int]: ...
    def probs(self, bodies: Sequence[Sequence[int]]) -> np.ndarray: ...


@dataclass(frozen=True)
class AttackResult:
    """What the attack did to one example: the outcome, the texts, the changes, the cost."""

    id: str
    label: int
    outcome: Outcome
    pred_before: int
    pred_after: int
    gold_prob_before: float
    gold_prob_after: float
    n_words: int
    changes: tuple[tuple[int, str, str], ...]  # (word index, original word, substitute)
    queries: int  # texts the target scored for this example
    text: str
    adversarial_text: str

    @property
    def perturbed(self) -> float:
        """Share of the text's words changed."""
        return len(self.changes) / self.n_words if self.n_words else 0.0

    def to_json(self) -> dict:
        row = asdict(self)
        row["changes"] = [list(c) for c in self.changes]
        return row

    @classmethod
    def from_json(cls, row: dict) -> AttackResult:
        return cls(**{**row, "changes": tuple(tuple(c) for c in row["changes"])})


def importance(orig: np.ndarray, masked: np.ndarray, gold: int) -> np.ndarray:
    """BERT-Attack's word importance from the class probabilities of the original text and of
    each one-word-masked text: the drop of the gold probability, plus, where the masked text's
    prediction changes to class c, the rise of c's probability (p_masked[c] - p_orig[c])."""
    arg = masked.argmax(axis=1)
    flip = arg != gold
    return orig[gold] - masked[:, gold] + flip * (masked.max(axis=1) - orig[arg])


def max_changes(n_words: int, budget: float) -> int:
    """Most words a text of `n_words` words may have changed: floor(budget * n_words)."""
    return int(budget * n_words + 1e-9)


def _flat(parts: Iterable[list[int]]) -> list[int]:
    return [i for p in parts for i in p]


def attack_one(ex: Prepared, target: Target, orig: np.ndarray, top_words: int | None = 3,
               budget: float = 0.4, search_batch: int | None = None) -> AttackResult:
    """Attack one example whose original class probabilities `orig` the target gave.

    Skipped where the target already misclassifies it. Otherwise words (not stop words) are
    ranked by importance, and the `top_words` most important ones (all where None) are visited
    in that order; at each, every substitute is scored in one batch. The first substitute (in
    the source's order) that changes the prediction ends the attack with success; else the one
    that lowers the gold probability most is kept, if any does. At most floor(budget * words)
    words are changed: once they are, the attack stops over budget.

    `search_batch` scores a position's substitutes in chunks of that many, in order, stopping at
    the first chunk with a flip (the same outcome; fewer queries where the forward pass is
    compute-bound, as on a CPU). None: all in one pass.
    """
    start_queries = target.queries - 1  # the original text's query was batched before
    n, gold = len(ex.words), ex.label
    pred0 = int(orig.argmax())

    def result(outcome: Outcome, changes: dict[int, str], probs: np.ndarray) -> AttackResult:
        return AttackResult(ex.id, gold, outcome, pred0, int(probs.argmax()), float(orig[gold]), float(probs[gold]), n,
                            tuple((i, ex.words[i], s) for i, s in sorted(changes.items())),
                            target.queries - start_queries, ex.text, rebuild(ex.text, ex.spans, changes))

    if pred0 != gold:
        return result("skipped", {}, orig)
    ids = target.text_ids(ex.words)
    starts = np.cumsum([0] + [len(p) for p in ids[:-1]])
    # words past the target's window cannot change its output
    slots = [i for i in range(n) if attackable(ex.words[i]) and (target.room is None or starts[i] < target.room)]
    unk = [target.unk_id]
    masked = [_flat(unk if j == i else p for j, p in enumerate(ids)) for i in slots]
    scores = importance(orig, target.probs(masked), gold)
    order = [slots[j] for j in np.argsort(-scores, kind="stable")]  # ties: the earlier word first
    if top_words is not None:
        order = order[:top_words]
    cap = max_changes(n, budget)
    changes: dict[int, str] = {}
    probs, gold_prob = orig, orig[gold]
    for i in order:
        if len(changes) >= cap:
            return result("over_budget", changes, probs)
        subs = ex.candidates[i]
        if not subs:
            continue
        prefix, suffix = _flat(ids[:i]), _flat(ids[i + 1 :])
        step = search_batch or len(subs)
        parts = []
        for c in range(0, len(subs), step):  # one pass on GPU; on CPU a flip saves the later chunks
            part = target.probs([prefix + target.word_ids(s, i == 0) + suffix for s in subs[c : c + step]])
            parts.append(part)
            flips = np.flatnonzero(part.argmax(axis=1) != gold)
            if flips.size:
                j = int(flips[0])
                changes[i] = subs[c + j]
                return result("succeeded", changes, part[j])
        q = np.concatenate(parts)
        gaps = gold_prob - q[:, gold]
        j = int(np.argmax(gaps))  # the first of equal gaps
        if gaps[j] > 0:
            changes[i], ids[i] = subs[j], target.word_ids(subs[j], i == 0)
            probs, gold_prob = q[j], q[j, gold]
    return result("failed", changes, probs)


def usable(examples: Sequence[Prepared], target: Target) -> tuple[list[Prepared], float]:
    """The examples with every substitute the target reads as an unknown token dropped, and the
    share of distinct substitutes dropped (a high share: the attack model's vocabulary does not
    fit the target's)."""
    subs = {s for ex in examples for c in ex.candidates for s in c}
    unknown = {s for s in subs if target.unk_id in target.word_ids(s)}
    if not unknown:
        return list(examples), 0.0
    kept = [Prepared(ex.id, ex.text, ex.label, ex.words, ex.spans,
                     tuple(tuple(s for s in c if s not in unknown) for c in ex.candidates)) for ex in examples]
    return kept, len(unknown) / len(subs)


def attack_all(examples: Sequence[Prepared], target: Target, top_words: int | None = 3, budget: float = 0.4,
               on_result: Callable[[AttackResult], None] | None = None, progress: bool = False,
               chunk: int = 64, search_batch: int | None = None) -> list[AttackResult]:
    """Attack every example; the original texts are scored in batches of `chunk` first.

    `on_result` sees each result as it is made (the cache appends it to disk, so a killed run
    resumes where it stopped).
    """
    out: list[AttackResult] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(examples), desc="attack", leave=False)
    for s in range(0, len(examples), chunk):
        part = examples[s : s + chunk]
        orig = target.probs([_flat(target.text_ids(ex.words)) for ex in part])
        for ex, p in zip(part, orig):
            res = attack_one(ex, target, p, top_words, budget, search_batch)
            out.append(res)
            if on_result is not None:
                on_result(res)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return out
