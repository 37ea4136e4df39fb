"""Set agreement and the prediction-errors characteristic against the paper and brute force."""

from __future__ import annotations

import json
import random

import pytest

from miniature.agreement import containment, jaccard, pairwise_sets
from miniature.characteristics.errors import ErrorSet, compare_errors, read_error_set
from miniature.exceptions import DataError, MismatchError
from tests.conftest import PAPER_SETS, need_shared

PAPER_ORDER = ["bert_large", "bert_base", "distil_bert", "bert_medium", "bert_mini", "tiny_bert"]
# Table 2 "Prediction Errors", in the paper's row order
PAPER_COLUMN = [0.528, 0.41, 0.421, 0.317, 0.22, 0.487, 0.502, 0.37, 0.244, 0.566, 0.477, 0.297,
                0.47, 0.292, 0.487]
PAPER_SIZES = [2701, 3236, 4294, 4026, 5423, 6206]


def test_paper_table2_prediction_errors_column():
    need_shared(PAPER_SETS)
    sets = [read_error_set(PAPER_SETS / f"{n}.json") for n in PAPER_ORDER]
    assert [len(s.ids) for s in sets] == PAPER_SIZES
    result = compare_errors(sets)
    assert len(result.pairs) == 15
    assert [round(p.jaccard, 3) for p in result.pairs] == PAPER_COLUMN
    assert [(p.model_i, p.model_j) for p in result.pairs][:2] == [("bert_large", "bert_base"),
                                                                 ("bert_large", "distil_bert")]


def test_jaccard_and_containment_by_hand():
    a, b = {1, 2, 3, 4}, {3, 4, 5}
    assert jaccard(a, b) == pytest.approx(2 / 5)
    assert containment(a, b) == pytest.approx(2 / 4)
    assert containment(b, a) == pytest.approx(2 / 3)
    assert jaccard(set(), set()) == 1.0  # documented: two empty sets agree fully
    assert jaccard({1}, set()) == 0.0
    assert containment(set(), {1}) == 1.0


def test_pairwise_against_brute_force_and_properties():
    rng = random.Random(0)
    sets = {f"m{i}": {x for x in range(200) if rng.random() < 0.1 + 0.1 * i} for i in range(4)}
    for p in pairwise_sets(sets):
        a, b = sets[p.model_i], sets[p.model_j]
        inter = sum(1 for x in range(200) if x in a and x in b)
        union = sum(1 for x in range(200) if x in a or x in b)
        assert p.jaccard == pytest.approx(inter / union)
        assert (p.intersection, p.union, p.size_i, p.size_j) == (inter, union, len(a), len(b))
        assert p.jaccard == pytest.approx(jaccard(b, a))  # symmetric
        assert 0.0 <= p.jaccard <= 1.0
    assert jaccard(sets["m1"], sets["m1"]) == 1.0


def test_relation_names_subsets():
    r = compare_errors([ErrorSet("small", frozenset({"a"})), ErrorSet("big", frozenset({"a", "b"})),
                        ErrorSet("other", frozenset({"c"}))])
    rel = {(p.model_i, p.model_j): p.relation for p in r.pairs}
    assert rel[("small", "big")] == "small ⊆ big"
    assert rel[("small", "other")] == "overlap"


def test_different_universes_refused(tmp_path):
    a = ErrorSet("a", frozenset({"x"}), universe="u1", n_questions=10)
    b = ErrorSet("b", frozenset({"y"}), universe="u2", n_questions=10)
    with pytest.raises(MismatchError, match="different question universes"):
        compare_errors([a, b])


def test_error_set_files(tmp_path):
    (tmp_path / "ok.json").write_text(json.dumps(["a", "b"]))
    (tmp_path / "dup.json").write_text(json.dumps(["a", "a"]))
    (tmp_path / "num.json").write_text(json.dumps([1, 2]))
    assert read_error_set(tmp_path / "ok.json").ids == {"a", "b"}
    with pytest.raises(DataError, match="twice"):
        read_error_set(tmp_path / "dup.json")
    with pytest.raises(DataError, match="list of question ids"):
        read_error_set(tmp_path / "num.json")
    with pytest.raises(DataError, match="at least two"):
        compare_errors([read_error_set(tmp_path / "ok.json")])
