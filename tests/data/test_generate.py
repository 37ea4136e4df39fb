"""The offline data generator: valid SQuAD/JSONL files, seeded, in and out of distribution, learnable reviews."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

from miniature.data.generate import generate_qa, generate_reviews, write_quickstart_data
from miniature.data.squad import load_qa_dataset
from miniature.data.text import load_text_dataset
from miniature.exceptions import ConfigError

QA_FILES = ("squad_train", "squad_dev", "news_ood")


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> dict[str, Path]:
    return write_quickstart_data(tmp_path_factory.mktemp("full"), seed=0)


def _contexts(path: Path) -> list[str]:
    return sorted({e.context for e in load_qa_dataset(path).examples})


def _separability(a: list[str], b: list[str], seed: int = 0) -> float:
    """Held-out accuracy (5-fold) of a bag-of-words classifier telling texts of `a` from texts of `b`."""
    rng = np.random.default_rng(seed)
    n = min(len(a), len(b))
    texts = [a[i] for i in rng.choice(len(a), n, replace=False)] + [b[i] for i in rng.choice(len(b), n, replace=False)]
    labels = np.array([0] * n + [1] * n)
    order = rng.permutation(2 * n)
    model = make_pipeline(CountVectorizer(), LogisticRegression(max_iter=2000))
    return float(cross_val_score(model, [texts[i] for i in order], labels[order], cv=5).mean())


def test_qa_files_load_validate_and_have_the_promised_counts(full):
    sizes = {}
    for name in QA_FILES:
        ds = load_qa_dataset(full[name])  # make_dataset checks unique ids and answers where they say
        sizes[name] = len(ds)
        for ex in ds.examples:
            for a in ex.answers:
                assert ex.context[a.start : a.start + len(a.text)] == a.text
        impossible = sum(e.is_impossible for e in ds.examples) / len(ds)
        if name == "news_ood":
            assert impossible == 0
        else:
            assert 0.25 <= impossible <= 0.40, (name, impossible)
            raw = json.loads(full[name].read_text())
            assert raw["version"] == "v2.0"
            flags = [q["is_impossible"] for a in raw["data"] for p in a["paragraphs"] for q in p["qas"]]
            assert all(q["answers"] == [] for a in raw["data"] for p in a["paragraphs"] for q in p["qas"]
                       if q["is_impossible"]) and any(flags)
    assert 1400 <= sizes["squad_train"] <= 1600
    assert 450 <= sizes["squad_dev"] <= 550 and 450 <= sizes["news_ood"] <= 550
    all_ids = [i for name in QA_FILES for i in load_qa_dataset(full[name]).ids]
    assert len(all_ids) == len(set(all_ids))


def test_scale_multiplies_every_count(tmp_path):
    paths = write_quickstart_data(tmp_path, seed=3, scale=0.1)
    assert set(paths) == {"squad_train", "squad_dev", "news_ood", "reviews_train", "reviews_test"}
    assert 135 <= len(load_qa_dataset(paths["squad_train"])) <= 165
    assert 40 <= len(load_qa_dataset(paths["squad_dev"])) <= 60
    assert 40 <= len(load_qa_dataset(paths["news_ood"])) <= 60
    assert len(load_text_dataset(paths["reviews_train"])) == 80
    assert len(load_text_dataset(paths["reviews_test"])) == 30


def test_unanswerable_questions_are_about_the_passage():
    """An unanswerable question names someone or something the passage mentions (it is plausible)
    and is worded like the answerable ones."""
    doc = generate_qa(20, seed=5)
    asked = {False: set(), True: set()}
    for article in doc["data"]:
        for para in article["paragraphs"]:
            for q in para["qas"]:
                asked[q["is_impossible"]].add(re.sub(r"(?<=\s)[A-Z][\w,'-]*", "X", q["question"]))
                if q["is_impossible"]:
                    names = [w for w in q["question"].rstrip("?").split() if w[:1].isupper()][1:]
                    assert any(w.strip("'s") in para["context"] for w in names), q["question"]
    # same wording: most unanswerable questions, names masked, are also asked answerably
    assert len(asked[True] & asked[False]) >= 0.6 * len(asked[True])


def test_same_seed_same_bytes_other_seed_other_data(tmp_path, full):
    again = write_quickstart_data(tmp_path / "again", seed=0)
    other = write_quickstart_data(tmp_path / "other", seed=1)
    for name, path in full.items():
        assert again[name].read_bytes() == path.read_bytes(), name
        assert other[name].read_bytes() != path.read_bytes(), name
    assert generate_qa(3, 7, "news") == generate_qa(3, 7, "news")
    assert generate_reviews(10, 7) == generate_reviews(10, 7) != generate_reviews(10, 8)


def test_dev_is_in_distribution_and_news_is_not(full):
    train, dev, news = (_contexts(full[n]) for n in QA_FILES)
    assert not set(train) & set(dev) and not set(train) & set(news)
    titles = [{a["title"] for a in json.loads(full[n].read_text())["data"]} for n in ("squad_train", "squad_dev")]
    assert not titles[0] & titles[1]  # dev articles are about other people
    in_dist = _separability(train, dev)
    out_dist = _separability(train + dev, news)
    assert in_dist < 0.75, in_dist
    assert out_dist > 0.95, out_dist


def test_reviews_balanced_bounded_and_loadable(full):
    ids = []
    for name in ("reviews_train", "reviews_test"):
        ds = load_text_dataset(full[name])
        labels = [e.label for e in ds.examples]
        assert set(labels) == {0, 1} and labels.count(1) == len(labels) / 2
        assert all(25 <= len(e.text.split()) <= 80 for e in ds.examples)
        ids += ds.ids
    assert len(ids) == len(set(ids)) == 1100  # test ids never repeat training ids
    rows = [json.loads(line) for line in full["reviews_train"].read_text().splitlines()]
    assert rows[0]["id"].startswith("rev-") and set(rows[0]) == {"id", "text", "label"}


def test_reviews_learnable_but_not_trivial(full):
    train, test = (load_text_dataset(full[n]).examples for n in ("reviews_train", "reviews_test"))
    model = make_pipeline(CountVectorizer(), LogisticRegression(max_iter=2000))
    model.fit([e.text for e in train], [e.label for e in train])
    acc = model.score([e.text for e in test], [e.label for e in test])
    assert 0.75 <= acc <= 0.99, acc
    # no single word decides: the best one-word rule is far from the classifier
    vec = CountVectorizer(binary=True).fit([e.text for e in train])
    x, y = vec.transform([e.text for e in test]).toarray(), np.array([e.label for e in test])
    best = max(max((col == y).mean(), (col != y).mean()) for col in x.T)
    assert best < 0.8, best


def test_manifest_skips_rewrites_until_seed_changes(tmp_path):
    first = write_quickstart_data(tmp_path, seed=0, scale=0.05)
    stamps = {n: p.stat().st_mtime_ns for n, p in first.items()}
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["scale"] == 0.05
    assert write_quickstart_data(tmp_path, seed=0, scale=0.05) == first
    assert {n: p.stat().st_mtime_ns for n, p in first.items()} == stamps
    before = first["squad_train"].read_bytes()
    write_quickstart_data(tmp_path, seed=1, scale=0.05)
    assert first["squad_train"].read_bytes() != before
    assert json.loads((tmp_path / "manifest.json").read_text())["seed"] == 1
    first["news_ood"].unlink()  # a missing file is written again even with a matching manifest
    write_quickstart_data(tmp_path, seed=1, scale=0.05)
    assert first["news_ood"].is_file()


def test_bad_arguments_are_one_line_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="style"):
        generate_qa(2, 0, style="poetry")
    with pytest.raises(ConfigError, match="scale"):
        write_quickstart_data(tmp_path, scale=0)
    with pytest.raises(ConfigError):
        generate_reviews(0, 0)
