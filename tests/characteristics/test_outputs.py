"""The output-agreement characteristic: its pair rows against independent computations (sklearn's
Cohen's kappa, scipy's rel_entr and binomial test, loops over windows), the margin bins, per-class
changes and the most flipped items; bad outputs refused in one line."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import log_softmax, rel_entr
from scipy.stats import binomtest
from sklearn.metrics import cohen_kappa_score

from miniature.characteristics.outputs import TaskOutputs, compare_outputs
from miniature.exceptions import DataError
from miniature.taskdefs import Outputs


def _classifier_outputs(probs: np.ndarray, labels: np.ndarray) -> Outputs:
    pred = probs.argmax(1)
    return Outputs(tuple(f"t{i}" for i in range(len(labels))), tuple(str(int(c)) for c in pred), pred == labels,
                   probs, labels)


@pytest.fixture(scope="module")
def three_classifiers():
    rng = np.random.default_rng(0)
    n = 300
    labels = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3)) + 2.0 * np.eye(3)[labels]
    models = {}
    for name, noise in (("ref", 0.0), ("near", 0.4), ("far", 1.5)):
        z = logits + noise * rng.normal(size=logits.shape)
        models[name] = _classifier_outputs(np.exp(log_softmax(z, 1)), labels)
    return labels, models


def test_pair_rows_equal_independent_computations(three_classifiers):
    labels, models = three_classifiers
    result = compare_outputs([TaskOutputs("classification", None, models)], n_boot=500, seed=1)
    rows = {(r["model_i"], r["model_j"]): r for r in result.pairs}
    assert list(rows) == [("ref", "near"), ("ref", "far"), ("near", "far")]
    for (i, j), row in rows.items():
        a, b = models[i], models[j]
        cw = int(np.sum(a.correct & ~b.correct))
        wc = int(np.sum(~a.correct & b.correct))
        assert (row["correct_to_wrong"], row["wrong_to_correct"]) == (cw, wc)
        assert row["flip_rate"] == pytest.approx((cw + wc) / 300)
        assert row["negative_flip_impact"] == pytest.approx(cw / np.sum(~b.correct))
        assert row["mcnemar_p"] == pytest.approx(binomtest(cw, cw + wc, 0.5).pvalue if cw + wc else 1.0)
        same = np.mean([x == y for x, y in zip(a.predictions, b.predictions)])
        assert row["top1_agreement"] == pytest.approx(same) and row["churn"] == pytest.approx(1 - same)
        assert row["kappa"] == pytest.approx(cohen_kappa_score(a.predictions, b.predictions), abs=1e-12)
        kl = rel_entr(a.probs, b.probs).sum(1)
        assert row["kl_mean"] == pytest.approx(kl.mean()) and row["kl_max"] == pytest.approx(kl.max())
        assert row["kl_p99"] == pytest.approx(np.quantile(kl, 0.99))
        assert row["reverse_kl_mean"] == pytest.approx(rel_entr(b.probs, a.probs).sum(1).mean())
        d = b.probs[np.arange(300), labels] - a.probs[np.arange(300), labels]
        assert row["gold_change_mean"] == pytest.approx(d.mean()) and row["gold_change_p5"] == pytest.approx(
            np.quantile(d, 0.05))
        both_wrong = np.sum(~a.correct & ~b.correct)
        assert row["error_jaccard"] == pytest.approx(both_wrong / (both_wrong + cw + wc))
        assert row["accuracy_change_ci_low"] <= row["accuracy_change"] <= row["accuracy_change_ci_high"]
    # a noisier model is further from the reference on every view
    assert rows[("ref", "far")]["kl_mean"] > rows[("ref", "near")]["kl_mean"]
    assert rows[("ref", "far")]["top1_agreement"] < rows[("ref", "near")]["top1_agreement"]


def test_margin_bins_classes_and_flipped_items(three_classifiers):
    labels, models = three_classifiers
    describe = {"classification": lambda items, k: (f"text {k}", str(labels[k]))}
    result = compare_outputs([TaskOutputs("classification", None, models)], top_items=5, describe=describe)
    ref, far = models["ref"], models["far"]
    # margin bins: the reference's top-1 minus top-2, every item once per other model
    bins = [r for r in result.margins if r["model_j"] == "far"]
    assert sum(r["n"] for r in bins) == 300
    top = np.sort(ref.probs, 1)
    margin = top[:, -1] - top[:, -2]
    low = [r for r in bins if r["margin_high"] == 0.1][0]
    inside = margin < 0.1
    changed = np.array([x != y for x, y in zip(ref.predictions, far.predictions)])
    assert (low["n"], low["changed"]) == (int(inside.sum()), int(changed[inside].sum()))
    # low-margin items change more often than confident ones (Dutta et al.)
    high = [r for r in bins if r["margin_low"] == 0.8][0]
    assert low["change_rate"] > high["change_rate"]
    # per class: accuracy within each gold class
    for r in [r for r in result.classes if r["model_j"] == "far"]:
        at = labels == r["label"]
        assert r["accuracy_j"] == pytest.approx(far.correct[at].mean()) and r["n"] == int(at.sum())
    # flipped items: those flipped by both other models first, then by one, in item order
    flipped = (models["near"].correct != ref.correct).astype(int) + (far.correct != ref.correct)
    want = sorted((k for k in range(300) if flipped[k]), key=lambda k: (-flipped[k], k))[:5]
    assert [r["id"] for r in result.items] == [f"t{k}" for k in want]
    assert result.items[0]["text"] == f"text {want[0]}" and result.items[0]["flipped_by"] == flipped[want[0]]


def test_window_kl_of_extractive_qa_against_a_loop():
    """QA: per item, the start plus the end KL of each window, averaged over the item's windows."""
    rng = np.random.default_rng(2)
    window_item = np.array([0, 0, 1, 2, 2, 2])
    lengths = rng.integers(5, 12, len(window_item))
    offsets = np.concatenate([[0], np.cumsum(lengths)])

    def model(noise, base):
        return {name: (np.concatenate([log_softmax(base[name][w] + noise * rng.normal(size=lengths[w]))
                                       for w in range(len(lengths))]), offsets) for name in ("start", "end")}

    base = {name: [rng.normal(size=n) * 2 for n in lengths] for name in ("start", "end")}
    outs = {}
    for name, noise in (("ref", 0.0), ("cmp", 0.8)):
        outs[name] = Outputs(("q0", "q1", "q2"), ("a", "", "c"), np.array([True, False, True]),
                             windows=model(noise, base), window_item=window_item)
    row = compare_outputs([TaskOutputs("qa", None, outs)]).pairs[0]
    want = []
    for item in range(3):
        per = []
        for w in np.flatnonzero(window_item == item):
            per.append(sum(rel_entr(np.exp(outs["ref"].window(n, w)), np.exp(outs["cmp"].window(n, w))).sum()
                           for n in ("start", "end")))
        want.append(np.mean(per))
    assert row["kl_mean"] == pytest.approx(np.mean(want)) and row["kl_max"] == pytest.approx(max(want))
    assert math.isnan(row["gold_change_mean"])  # QA spans have no single gold outcome
    # another tokenizer (other window lengths): no KL, with the reason; flips still counted
    other = dict(outs["cmp"].windows)
    other["start"] = (other["start"][0], offsets + np.arange(len(offsets)))
    moved = Outputs(("q0", "q1", "q2"), ("a", "x", "c"), np.array([True, True, True]), windows=other,
                    window_item=window_item)
    row = compare_outputs([TaskOutputs("qa", None, {"ref": outs["ref"], "cmp": moved})]).pairs[0]
    assert math.isnan(row["kl_mean"]) and "different tokenizers" in row["kl_note"]
    assert row["wrong_to_correct"] == 1


def test_bad_outputs_are_one_line(three_classifiers):
    labels, models = three_classifiers
    ref = models["ref"]

    def pair(probs: np.ndarray) -> None:
        bad = Outputs(ref.ids, ref.predictions, ref.correct, probs, labels)
        compare_outputs([TaskOutputs("classification", None, {"ref": ref, "bad": bad})])

    unnormalised = ref.probs.copy()
    unnormalised[7] *= 0.5
    with pytest.raises(DataError, match="^outputs of bad: row 7 sums to 0.5, not 1"):
        pair(unnormalised)
    nan = ref.probs.copy()
    nan[3, 1] = math.nan
    with pytest.raises(DataError, match="^outputs of bad: row 3 holds NaN"):
        pair(nan)
    # another label set: KL refused with its reason in the row, flips still there
    two = np.exp(log_softmax(np.random.default_rng(0).normal(size=(300, 2)), 1))
    other = Outputs(ref.ids, ref.predictions, ref.correct, two, labels)
    row = compare_outputs([TaskOutputs("classification", None, {"ref": ref, "two": other})]).pairs[0]
    assert math.isnan(row["kl_mean"]) and "KL needs one shared label set" in row["kl_note"]
    assert row["flip_rate"] == 0.0 and row["top1_agreement"] == 1.0
    shifted = Outputs(ref.ids[1:] + ref.ids[:1], ref.predictions, ref.correct, ref.probs, labels)
    with pytest.raises(DataError, match="scored on different items"):
        compare_outputs([TaskOutputs("classification", None, {"ref": ref, "x": shifted})])
    with pytest.raises(DataError, match="needs two models at least"):
        compare_outputs([TaskOutputs("classification", None, {"ref": ref})])
