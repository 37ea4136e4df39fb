"""BERT-Attack's search against planted targets: the flipping substitute is found, limits hold."""

from __future__ import annotations

import numpy as np
import pytest

from miniature.attack_words import (
    STOP_WORDS,
    Prepared,
    attackable,
    is_stop_word,
    rebuild,
    split_words,
)
from miniature.bert_attack import attack_all, attack_one, importance, max_changes, usable
from miniature.candidates import prepare
from miniature.data.text import TextExample


class BagTarget:
    """A planted classifier: class 1's logit is the sum of its words' weights plus a bias, class 0's is 0.

    Token ids come from a dictionary grown as words are seen; an unknown marker word maps to UNK.
    """

    unk_id = 0
    room: int | None = None  # reads every word

    def __init__(self, weights: dict[str, float], bias: float = 0.1, unknown: set[str] = frozenset()) -> None:
        self.weights, self.bias, self.unknown = weights, bias, unknown
        self.vocab: dict[str, int] = {}
        self.queries = 0
        self.calls = 0

    def word_ids(self, word: str, first: bool = False) -> list[int]:
        if word in self.unknown:
            return [self.unk_id]
        return [self.vocab.setdefault(word, len(self.vocab) + 1)]

    def text_ids(self, words):
        return [self.word_ids(w, i == 0) for i, w in enumerate(words)]

    def probs(self, bodies):
        self.queries += len(bodies)
        self.calls += 1
        inv = {i: w for w, i in self.vocab.items()}
        s = np.array([sum(self.weights.get(inv.get(t, ""), 0.0) for t in b) + self.bias for b in bodies])
        p1 = 1 / (1 + np.exp(-s))
        return np.stack([1 - p1, p1], axis=1)


def prepared(text: str, label: int, subs: dict[str, tuple[str, ...]], ident: str = "x") -> Prepared:
    words, spans = split_words(text)
    return Prepared(ident, text, label, words, spans, tuple(subs.get(w, ()) if attackable(w) else () for w in words))


def run(ex: Prepared, target: BagTarget, **kw):
    orig = target.probs([[i for p in target.text_ids(ex.words) for i in p]])[0]
    return attack_one(ex, target, orig, **kw)


TEXT = "the plot was great and the cast was fine"


def test_planted_word_flip_is_found():
    target = BagTarget({"great": 4.0, "awful": -4.0})
    ex = prepared(TEXT, 1, {"great": ("good", "awful", "superb"), "plot": ("story",)})
    r = run(ex, target, top_words=3)
    assert r.outcome == "succeeded"
    assert r.changes == ((3, "great", "awful"),)
    assert r.adversarial_text == "the plot was awful and the cast was fine"
    assert r.pred_before == 1 and r.pred_after == 0
    # queries: the original, one masked text per attackable word (plot, great, cast, fine), 3 substitutes
    assert r.queries == 1 + 4 + 3
    # every substitute of the position went through one forward pass: original, importance, one search batch
    assert target.calls == 3


def test_greedy_keeps_the_best_non_flipping_substitute_then_flips_later():
    target = BagTarget({"great": 4.0, "ok": 1.0, "meh": 0.5, "awful": -4.0})
    subs = {"great": ("ok", "meh"), "fine": ("awful",)}
    r = run(prepared(TEXT, 1, subs), target, top_words=None)
    # great -> meh lowers p(1) most without flipping; plot and cast (importance 0, earlier words
    # first) have no substitutes; fine -> awful then flips (0.5 - 4 + 0.1 < 0)
    assert r.outcome == "succeeded"
    assert r.changes == ((3, "great", "meh"), (8, "fine", "awful"))
    assert r.adversarial_text == "the plot was meh and the cast was awful"


def test_top_words_limits_the_words_visited():
    target = BagTarget({"great": 4.0, "meh": 0.5, "awful": -4.0})
    subs = {"great": ("meh",), "fine": ("awful",)}
    r = run(prepared(TEXT, 1, subs), target, top_words=2)  # great, then plot: fine is never reached
    assert r.outcome == "failed"
    assert r.changes == ((3, "great", "meh"),)
    assert r.pred_after == 1


def test_budget_stops_the_attack():
    target = BagTarget({"great": 4.0, "meh": -2.0})
    text = "great great great great great"  # s = 20; each great -> meh lowers it by 6
    r = run(prepared(text, 1, {"great": ("meh",)}), target, top_words=None, budget=0.4)
    assert max_changes(5, 0.4) == 2
    assert r.outcome == "over_budget" and len(r.changes) == 2
    assert r.pred_after == 1


def test_already_wrong_is_skipped():
    target = BagTarget({"great": 4.0})
    r = run(prepared(TEXT, 0, {"great": ("awful",)}), target)
    assert r.outcome == "skipped" and r.changes == () and r.queries == 1
    assert r.adversarial_text == TEXT


def test_importance_formula_by_hand():
    orig = np.array([0.2, 0.7, 0.1])
    masked = np.array([[0.3, 0.6, 0.1],    # still class 1: 0.7 - 0.6
                       [0.5, 0.4, 0.1],    # flips to 0: 0.7 - 0.4 + (0.5 - 0.2)
                       [0.1, 0.3, 0.6]])   # flips to 2: 0.7 - 0.3 + (0.6 - 0.1)
    assert importance(orig, masked, 1) == pytest.approx([0.1, 0.6, 0.9])


def test_limits_hold_on_random_planted_targets():
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(40)] + ["the", "and", "of", "is"]
    for trial in range(60):
        weights = {w: float(rng.normal()) for w in vocab}
        words = list(rng.choice(vocab, size=int(rng.integers(3, 25))))
        text = " ".join(words)
        subs = {w: list(rng.choice(vocab, size=5, replace=False)) for w in set(words)}
        ex = prepare([TextExample(f"t{trial}", text, int(rng.integers(0, 2)))],
                     lambda texts, progress, subs=subs: [[subs[w] for w in ws] for ws in texts])[0]
        top = int(rng.integers(1, 6)) if trial % 2 else None
        target = BagTarget(weights, bias=float(rng.normal()))
        r = run(ex, target, top_words=top, budget=0.4)
        assert len(r.changes) <= max_changes(len(words), 0.4)
        if top is not None:
            assert len(r.changes) <= top
        assert all(not is_stop_word(old) for _, old, _ in r.changes)
        assert all(new not in STOP_WORDS for _, _, new in r.changes)
        assert r.adversarial_text.split() == [{i: n for i, _, n in r.changes}.get(i, w) for i, w in enumerate(words)]
        again = run(ex, BagTarget(weights, bias=target.bias), top_words=top, budget=0.4)
        assert again == r  # deterministic
        chunked = run(ex, BagTarget(weights, bias=target.bias), top_words=top, budget=0.4, search_batch=2)
        assert (chunked.outcome, chunked.changes, chunked.adversarial_text) == (r.outcome, r.changes,
                                                                                r.adversarial_text)
        assert chunked.queries <= r.queries


def test_attack_all_matches_one_by_one_and_reports_each_result():
    weights = {"great": 4.0, "awful": -4.0, "meh": -2.0}
    exs = [prepared(TEXT, 1, {"great": ("meh", "awful")}, "a"), prepared("awful plot", 0, {}, "b"),  # 2 words: a budget of 0 changes
           prepared("a great great film", 1, {"great": ("meh",)}, "c")]
    seen = []
    batch = attack_all(exs, BagTarget(weights), top_words=None, on_result=seen.append)
    single = [run(ex, BagTarget(weights), top_words=None) for ex in exs]
    assert [r.outcome for r in batch] == [r.outcome for r in single] == ["succeeded", "over_budget", "over_budget"]
    assert [(r.changes, r.queries) for r in batch] == [(r.changes, r.queries) for r in single]
    assert seen == batch


def test_unknown_substitutes_are_dropped_and_counted():
    target = BagTarget({"great": 4.0, "awful": -4.0}, unknown={"ghastly", "dire"})
    ex = prepared(TEXT, 1, {"great": ("ghastly", "awful"), "fine": ("dire",)})
    kept, share = usable([ex], target)
    assert share == pytest.approx(2 / 3)
    assert kept[0].candidates[3] == ("awful",) and kept[0].candidates[8] == ()


def test_words_split_and_rebuild_keep_the_text():
    text = "A  film,\nwith (great) acting!"
    words, spans = split_words(text)
    assert words == ("A", "film,", "with", "(great)", "acting!")
    assert rebuild(text, spans, {}) == text
    assert rebuild(text, spans, {1: "movie,", 3: "(awful)"}) == "A  movie,\nwith (awful) acting!"
    assert is_stop_word("The,") and is_stop_word("(not)") and not attackable("--") and attackable("film.")


def test_words_past_the_target_window_are_not_queried():
    target = BagTarget({"great": 4.0, "awful": -4.0})
    target.room = 4  # the target reads 4 word tokens: "the plot was great"
    r = run(prepared(TEXT, 1, {"great": ("awful",), "fine": ("awful",)}), target, top_words=None)
    # the original, masked plot and great (cast and fine lie past the window), one substitute
    assert r.queries == 1 + 2 + 1 and r.changes == ((3, "great", "awful"),)
