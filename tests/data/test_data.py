"""The QA reader: real files, formats agreeing, and one-line errors naming the bad question."""

from __future__ import annotations

import json

import pytest

from miniature.data import load_qa_dataset
from miniature.exceptions import DataError
from tests.conftest import DEV, NEWSQA, TRAIN, need_shared


def test_real_files_counts():
    need_shared(DEV, TRAIN, NEWSQA)
    for path, n, impossible in [(DEV, 6078, 3168), (TRAIN, 4719, 348), (NEWSQA, 1000, 0)]:
        ds = load_qa_dataset(path)
        assert len(ds) == n
        assert sum(e.is_impossible for e in ds.examples) == impossible
    assert load_qa_dataset(DEV, limit=10).ids == load_qa_dataset(DEV).ids[:10]


def _squad(qas, context="Paris is the capital of France."):
    return {"version": "v2.0", "data": [{"title": "T", "paragraphs": [{"context": context, "qas": qas}]}]}


def _write(tmp_path, doc, name="d.json"):
    p = tmp_path / name
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return p


def test_jsonl_and_hub_style_answers_equal_squad_json(tmp_path):
    ctx = "Paris is the capital of France."
    qas = [{"id": "a", "question": "Capital?", "answers": [{"text": "Paris", "answer_start": 0}]},
           {"id": "b", "question": "Moon?", "answers": [], "is_impossible": True}]
    from_json = load_qa_dataset(_write(tmp_path, _squad(qas)))
    lines = [
        json.dumps({"id": "a", "question": "Capital?", "context": ctx, "title": "T",
                    "answers": {"text": ["Paris"], "answer_start": [0]}}),
        json.dumps({"id": "b", "question": "Moon?", "context": ctx, "answers": [], "title": "T"}),
    ]
    from_jsonl = load_qa_dataset(_write(tmp_path, "\n".join(lines) + "\n", "d.jsonl"))
    assert from_json.examples == from_jsonl.examples
    assert from_json.fingerprint == from_jsonl.fingerprint


@pytest.mark.parametrize(
    "qas, context, message",
    [
        ([{"question": "Q?", "answers": []}], "ctx", "missing field 'id'"),
        ([{"id": "q7", "answers": []}], "ctx", "question 'q7': missing field 'question'"),
        ([{"id": "a", "question": "Q", "answers": []}, {"id": "a", "question": "R", "answers": []}], "ctx",
         "'a' appears twice"),
        ([{"id": "q9", "question": "Q", "answers": [{"text": "Paris", "answer_start": 3}]}],
         "Paris is nice", "question 'q9': answer_start 3 points at"),
        ([{"id": "q1", "question": "Q", "answers": [{"text": "Paris"}]}], "Paris", "missing field 'answer_start'"),
    ],
)
def test_validation_errors_name_the_question(tmp_path, qas, context, message):
    with pytest.raises(DataError, match=message):
        load_qa_dataset(_write(tmp_path, _squad(qas, context)))


def test_missing_context_and_malformed_files(tmp_path):
    doc = {"data": [{"paragraphs": [{"qas": []}]}]}
    with pytest.raises(DataError, match="missing field 'context'"):
        load_qa_dataset(_write(tmp_path, doc))
    with pytest.raises(DataError, match="not valid JSON"):
        load_qa_dataset(_write(tmp_path, "{oops"))
    with pytest.raises(DataError, match="not SQuAD format"):
        load_qa_dataset(_write(tmp_path, [1, 2]))
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        load_qa_dataset(_write(tmp_path, '{"id": "a", "question": "q", "context": "c"}\n{x\n', "d.jsonl"))
    with pytest.raises(DataError, match="line 1 is a JSON list, not an object"):
        load_qa_dataset(_write(tmp_path, "[1, 2]\n", "f.jsonl"))
    with pytest.raises(DataError, match="line 1: missing field 'context'"):
        load_qa_dataset(_write(tmp_path, '{"id": "a", "question": "q"}\n', "e.jsonl"))
    with pytest.raises(DataError, match="no such file"):
        load_qa_dataset(tmp_path / "absent.json")
    with pytest.raises(DataError, match="holds no questions"):
        load_qa_dataset(_write(tmp_path, {"data": []}))
    with pytest.raises(DataError, match="unknown dataset 'nonsense'"):
        load_qa_dataset("nonsense")


def test_hub_dataset_rows_read_like_files(monkeypatch):
    """`squad_v2` goes through datasets.load_dataset; offline we hand it a real Dataset in the
    hub's column layout and check the adapter, the id it asks for, and the split."""
    import datasets

    ctx = "Paris is the capital of France."
    rows = datasets.Dataset.from_dict({
        "id": ["a", "b"], "title": ["T", "T"], "context": [ctx, ctx], "question": ["Capital?", "Moon?"],
        "answers": [{"text": ["Paris"], "answer_start": [0]}, {"text": [], "answer_start": []}],
    })
    asked = []

    def fake_load(hub_id, config=None, split=None):
        asked.append((hub_id, split))
        return rows

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    ds = load_qa_dataset("squad_v2", split="validation")
    assert asked == [("rajpurkar/squad_v2", "validation")]
    assert [e.id for e in ds.examples] == ["a", "b"]
    assert ds.examples[0].answers[0].text == "Paris" and ds.examples[1].is_impossible
    load_qa_dataset("someone/my-squad", split="train")
    assert asked[-1] == ("someone/my-squad", "train")

    def offline(*a, **k):
        raise ConnectionError("Couldn't reach the hub\nmore detail")

    # NewsQA on the hub comes in MRQA's layout: key, answers as strings, spans under labels
    story = "CNN -- The storm hit Miami on Monday, officials said."
    rows = datasets.Dataset.from_dict({
        "key": ["n1", "n2"], "context": [story, story], "question": ["Where?", "When?"],
        "answers": [["Miami"], ["Monday"]],
        "labels": [[{"start": [21], "end": [25]}], [{"start": [0], "end": [5]}]],  # n2's span is off
    })
    news = load_qa_dataset("newsqa", split="validation")
    assert asked[-1] == ("lucadiliello/newsqa", "validation")
    assert [e.id for e in news.examples] == ["n1", "n2"]
    assert [(a.text, a.start) for e in news.examples for a in e.answers] == [("Miami", 21), ("Monday", 30)]
    assert story[21:26] == "Miami" and story[30:36] == "Monday"

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError, match=r"could not load hub dataset 'rajpurkar/squad_v2' split 'train' "
                                        r"\(Couldn't reach the hub\)"):
        load_qa_dataset("squad_v2", split="train")


@pytest.mark.parametrize("label, ok", [("1", 1), (" 2 ", 2), ("²", None), ("٣", None), ("1.0", None), ("-1", None)])
def test_csv_labels_are_ascii_class_indices(tmp_path, label, ok):
    """A label is a whole number written in ASCII digits: '²' passes str.isdigit but is refused,
    in one line, like any other non-index (found by the CSV fuzz test)."""
    from miniature.data.text import load_text_dataset

    path = tmp_path / "r.csv"
    path.write_text(f"text,label\ngood film,{label.strip() if ok is None else label}\nbad film,0\n", encoding="utf-8")
    if ok is None:
        with pytest.raises(DataError, match="is not a class index"):
            load_text_dataset(path)
    else:
        assert [e.label for e in load_text_dataset(path).examples] == [ok, 0]
