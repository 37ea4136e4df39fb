"""The adversarial characteristic: Table 3's formulas, text data, caching and resume, the whole path, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from miniature.attack_words import split_words
from miniature.bert_attack import AttackResult
from miniature.characteristics.adversarial import (
    attack_metrics,
    cached_attack,
    compare_attacks,
    read_jsonl_lines,
)
from miniature.cli import main
from miniature.data.text import load_text_dataset
from miniature.exceptions import DataError, MismatchError
from miniature.runs import RunDir
from tests.conftest import SHARED, need_shared
from tests.test_attack import TEXT, BagTarget, prepared

IMDB = SHARED / "imdb" / "imdb_test_25k.jsonl"


def outcome(i: int, kind: str, changes: int = 0, words: int = 10, queries: int = 5) -> AttackResult:
    return AttackResult(f"e{i}", 1, kind, 0 if kind == "skipped" else 1, 0 if kind in ("skipped", "succeeded") else 1,
                        0.9, 0.1, words, tuple((j, "a", "b") for j in range(changes)), queries, "t", "t")


def test_table3_formulas_on_hand_made_outcomes():
    # 10 examples: 1 already wrong, 6 fall, 3 resist -> original 0.9, after 0.3
    results = ([outcome(0, "skipped", queries=1)] + [outcome(i, "succeeded", changes=i % 3 + 1) for i in range(1, 7)]
               + [outcome(i, "failed") for i in range(7, 9)] + [outcome(9, "over_budget", changes=4)])
    m = attack_metrics(results)
    assert m["original_accuracy"] == pytest.approx(0.9)
    assert m["after_attack_accuracy"] == pytest.approx(0.3)
    assert m["absolute_change"] == pytest.approx(0.6)
    assert m["percent_change"] == pytest.approx(66.6667, abs=1e-4)
    assert m["success_rate"] == pytest.approx(6 / 9)
    assert m["mean_perturbed"] == pytest.approx((0.2 + 0.3 + 0.1 + 0.2 + 0.3 + 0.1) / 6)
    assert m["mean_queries"] == pytest.approx(5.0)
    assert (m["skipped"], m["succeeded"], m["failed"], m["over_budget"]) == (1, 6, 2, 1)


def test_paper_table3_row_follows_the_formulas():
    # the paper's BERT-large row: 0.943944 before, 0.5635 after -> 0.380444 and 40.30366 %
    orig, after = 0.943944, 0.5635
    assert orig - after == pytest.approx(0.380444, abs=1e-6)
    assert 100 * (orig - after) / orig == pytest.approx(40.30366, abs=1e-4)


def test_agreement_is_jaccard_of_successful_attacks():
    a = [outcome(i, k) for i, k in enumerate(["succeeded", "succeeded", "failed", "skipped"])]
    b = [outcome(i, k) for i, k in enumerate(["succeeded", "failed", "succeeded", "succeeded"])]
    result = compare_attacks({"large": a, "small": b}, "bert-base")
    (row,) = result.agreement_rows()
    assert row["jaccard"] == pytest.approx(1 / 4) and row["intersection"] == 1 and row["union"] == 4
    # chance, by hand: a random 2-set of the 3 texts large got right and a 3-set of the 4 small got
    # right share 1 or 2 (probability 1/2 each), Jaccard 1/4 or 2/3 -> 11/24; the observed 1/4 lies
    # below it: (1/4 - 11/24) / (13/24) = -5/13
    assert (row["n"], row["chance_jaccard"], row["corrected_jaccard"], row["p_overlap"]) == (
        4, pytest.approx(11 / 24), pytest.approx(-5 / 13), pytest.approx(1.0))
    # chance draws only from what each target got right: both right on texts 0 and 1 alone, one
    # success each -> the same text with probability 1/2 (not the 1/4 of drawing from all 4 texts)
    c = [outcome(i, k) for i, k in enumerate(["succeeded", "failed", "skipped", "skipped"])]
    d = [outcome(i, k) for i, k in enumerate(["failed", "succeeded", "skipped", "skipped"])]
    (row,) = compare_attacks({"c": c, "d": d}, "bert-base").agreement_rows()
    assert (row["jaccard"], row["chance_jaccard"], row["corrected_jaccard"]) == (0.0, pytest.approx(0.5),
                                                                               pytest.approx(-1.0))
    assert result.rows()[0]["attack_model"] == "bert-base"
    with pytest.raises(MismatchError, match="different examples"):
        compare_attacks({"large": a, "small": b[::-1]}, "bert-base")


def test_text_data_reading_and_disjoint_samples(tmp_path):
    path = tmp_path / "reviews.jsonl"
    path.write_text("".join(json.dumps({"id": f"r{i}", "text": f"review number {i}", "label": i % 2}) + "\n"
                            for i in range(30)))
    ds = load_text_dataset(path)
    assert len(ds) == 30 and ds.n_labels == 2
    train = ds.sample(10, 42)
    test = ds.sample(15, 42, exclude=set(train.ids))
    assert not set(train.ids) & set(test.ids) and len(test) == 15
    assert test.ids == ds.sample(15, 42, exclude=set(train.ids)).ids  # the same seed, the same texts
    csv = tmp_path / "reviews.csv"
    csv.write_text('text,label\n"good, very good",1\nbad,0\n')
    assert [(e.text, e.label) for e in load_text_dataset(csv).examples] == [("good, very good", 1), ("bad", 0)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "   ", "label": 0}) + "\n")
    with pytest.raises(DataError, match="line 1: empty text"):
        load_text_dataset(bad)
    bad.write_text(json.dumps({"text": "ok", "label": "positive"}) + "\n")
    with pytest.raises(DataError, match="not a class index"):
        load_text_dataset(bad)
    bad.write_text(json.dumps({"text": 12345, "label": 0}) + "\n")
    with pytest.raises(DataError, match="line 1: text is a int .12345., not a string"):
        load_text_dataset(bad)
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\ngood,1\nbad,\n")
    with pytest.raises(DataError, match="row 2: the label is missing"):
        load_text_dataset(bad)
    excel = tmp_path / "excel.csv"  # spreadsheets start a UTF-8 CSV with a byte-order mark
    excel.write_bytes("text,label\ngood,1\n".encode("utf-8-sig"))
    assert [(e.text, e.label) for e in load_text_dataset(excel).examples] == [("good", 1)]


def test_word_ids_join_to_the_tokenised_text(minilm_tokenizer):
    """The attack builds texts from per-word token ids: they must equal tokenising the text."""
    need_shared(IMDB)
    from transformers import BertConfig, BertForSequenceClassification

    from miniature.tasks.classification import Classifier

    clf = Classifier(BertForSequenceClassification(BertConfig(vocab_size=len(minilm_tokenizer), hidden_size=32,
                     num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)), minilm_tokenizer)
    for ex in load_text_dataset(IMDB).sample(50, 0).examples:
        joined = [i for p in clf.text_ids(split_words(ex.text)[0]) for i in p]
        assert joined == minilm_tokenizer(ex.text, add_special_tokens=False)["input_ids"]


def test_cached_attack_resumes_after_a_kill(tmp_path):
    weights = {"great": 4.0, "meh": 0.5, "awful": -4.0}
    exs = [prepared(TEXT, 1, {"great": ("meh", "awful")}, f"a{i}") if i % 2 else
           prepared("a great great film of great joy", 1, {"great": ("meh",)}, f"a{i}") for i in range(6)]

    class Dying(BagTarget):
        def probs(self, bodies):
            if self.calls >= 7:
                raise KeyboardInterrupt  # a kill in the middle of the fourth example
            return super().probs(bodies)

    whole = cached_attack(RunDir(tmp_path / "a"), "t", "k", exs, lambda: BagTarget(weights), None, 0.4, 0.2)
    run = RunDir(tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        cached_attack(run, "t", "k", exs, lambda: Dying(weights), None, 0.4, 0.2)
    partial = read_jsonl_lines(run.work("attack", "t-k.jsonl"))
    assert 0 < len(partial) < len(exs)
    fresh = BagTarget(weights)
    resumed = cached_attack(run, "t", "k", exs, lambda: fresh, None, 0.4, 0.2)
    assert resumed == whole
    assert fresh.calls < BagTarget(weights).calls + 3 * len(exs)  # finished examples were not attacked again
    done_ids = {json.loads(x)["id"] for x in partial}
    assert fresh.queries < sum(r.queries for r in whole if r.id not in done_ids) + 6
    again = cached_attack(run, "t", "k", exs, lambda: (_ for _ in ()).throw(AssertionError("recomputed")), None, 0.4, 0.2)
    assert again == whole


def _slice(tmp_path: Path, n: int = 40, max_words: int = 40) -> Path:
    need_shared(IMDB)
    rows = [json.loads(x) for x in read_jsonl_lines(IMDB)]
    neg = [r for r in rows if r["label"] == 0 and len(r["text"].split()) <= max_words][: n // 2]
    pos = [r for r in rows if r["label"] == 1 and len(r["text"].split()) <= max_words][: n // 2]
    path = tmp_path / "imdb_slice.jsonl"
    path.write_text("".join(json.dumps({k: r[k] for k in ("id", "text", "label")}) + "\n" for r in neg + pos))
    return path


def _config(tmp_path: Path, models: list, data: Path, train: str | None = None, test: str | None = None,
            **adv) -> Path:
    cfg = {"run_dir": str(tmp_path / "run"), "models": models,
           "classification": {"max_steps": 2, "max_length": 64, "batch_size": 8, "train": train or str(data),
                              "train_limit": 20, "test": test or str(data), "test_limit": 8},
           "adversarial": {"attack_model": "minilm", "candidates": "embedding", "k": 8, "top_words": None,
                           "max_length": 64, **adv}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.slow
def test_whole_path_from_a_config(tmp_path, tiny_model, monkeypatch, capsys):
    data = _slice(tmp_path)
    models = [{"name": str(tiny_model("bert", 0)), "label": "large"}, {"name": str(tiny_model("bert", 1)), "label": "small"}]
    config = _config(tmp_path, models, data)
    out = tmp_path / "out"
    assert main(["adversarial", "--config", str(config), "--out", str(out), "--quiet"]) == 0
    assert "Table 3" in capsys.readouterr().out
    for name in ("adversarial.md", "adversarial.csv", "adversarial.json", "adversarial_metrics.csv",
                 "adversarial_agreement.csv", "attacked_sets.json", "adversarial_examples/large.jsonl",
                 "adversarial_examples/small.jsonl"):
        assert (out / name).is_file(), name
    table = json.loads((out / "adversarial.json").read_text())
    train_ids = set(load_text_dataset(data).sample(20, 42).ids)
    for row in table["rows"]:
        lines = [json.loads(x) for x in read_jsonl_lines(out / "adversarial_examples" / f"{row['target_model']}.jsonl")]
        assert len(lines) == 8 and not {x["id"] for x in lines} & train_ids  # attacked texts never trained on
        orig = sum(x["pred_before"] == x["label"] for x in lines) / 8
        after = sum(x["pred_after"] == x["label"] for x in lines) / 8
        assert row["original_accuracy"] == pytest.approx(orig)
        assert row["after_attack_accuracy"] == pytest.approx(after)
        for x in lines:
            assert (x["outcome"] == "succeeded") == (x["pred_before"] == x["label"] != x["pred_after"])
            assert len(x["changes"]) <= int(0.4 * x["n_words"])
    # a second run recomputes nothing and gives the same tables
    import miniature.characteristics.adversarial as adv
    import miniature.tasks.classification as cls

    def boom(*a, **k):
        raise AssertionError("recomputed")

    monkeypatch.setattr(adv, "attack_all", boom)
    monkeypatch.setattr(adv, "prepare", boom)
    monkeypatch.setattr(cls, "train_and_save", boom)
    out2 = tmp_path / "out2"
    assert main(["adversarial", "--config", str(config), "--out", str(out2), "--quiet"]) == 0
    assert json.loads((out2 / "adversarial.json").read_text())["rows"] == table["rows"]
    assert (out2 / "adversarial_examples/small.jsonl").read_text() == (out / "adversarial_examples/small.jsonl").read_text()


def _tiny_classifier(folder: Path, tokenizer, labels: int = 2) -> Path:
    from transformers import BertConfig, BertForSequenceClassification

    cfg = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, num_labels=labels)
    BertForSequenceClassification(cfg).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_bad_input_is_one_line_exit_2(tmp_path, minilm_tokenizer, capsys):
    data = _slice(tmp_path, n=20)
    target = _tiny_classifier(tmp_path / "clf", minilm_tokenizer)
    models = [{"name": str(target), "label": "a", "classifier": True}]

    def err(config: Path) -> str:
        assert main(["adversarial", "--config", str(config), "--quiet"]) == 2
        msg = capsys.readouterr().err.strip()
        assert msg.count("\n") == 0 and "Traceback" not in msg
        return msg

    # an attack model without an MLM head, asked for MLM substitutes: the error names the alternative
    assert "embedding" in err(_config(tmp_path, models, data, candidates="mlm"))
    # labels outside the target's classes
    three = tmp_path / "three.jsonl"
    three.write_text("".join(json.dumps({"id": f"x{i}", "text": f"a fine film {i}", "label": i % 3}) + "\n"
                             for i in range(9)))
    assert "label 2" in err(_config(tmp_path, models, three, train=str(three)))
    # an empty text
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"text": "", "label": 1}) + "\n")
    assert "empty text" in err(_config(tmp_path, models, empty, train=str(empty)))
    # a target whose vocabulary cannot read the attack model's substitutes
    from transformers import BertTokenizerFast

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "film", "the", "good", "bad"]))
    small = _tiny_classifier(tmp_path / "small", BertTokenizerFast(vocab_file=str(vocab)))
    msg = err(_config(tmp_path, [{"name": str(small), "label": "s", "classifier": True}], data))
    assert "vocabularies differ" in msg
    # an unknown attack model name
    assert "unknown model" in err(_config(tmp_path, models, data, attack_model="no-such-model"))
    # a test label the classifiers fine-tuned on `data` will not have: refused before any training
    five = tmp_path / "five.jsonl"
    five.write_text(json.dumps({"id": "f", "text": "a fine film", "label": 5}) + "\n")
    trained = [{"name": "minilm", "label": "m"}]
    msg = err(_config(tmp_path, trained, data, test=str(five)))
    assert "label 5" in msg and "'m' has 2 classes" in msg
    assert not (tmp_path / "run" / "checkpoints").exists() and not (tmp_path / "run" / "work").exists()
    # `classifier: true` on a bare encoder (MiniLM is saved as BertModel): refused from its config,
    # before the model listed first is fine-tuned
    msg = err(_config(tmp_path, [*trained, {"name": "minilm", "label": "enc", "classifier": True}], data))
    assert "saved as BertModel, not a text classifier" in msg and "drop `classifier: true`" in msg
    assert not (tmp_path / "run" / "checkpoints").exists() and not (tmp_path / "run" / "work").exists()


@pytest.mark.slow
def test_real_minilm_classifier_loses_accuracy_under_attack(tmp_path):
    """MiniLM fine-tuned for a few steps on IMDB texts, attacked with embedding substitutes on 20 others."""
    need_shared(IMDB)
    from miniature import adversarial

    config = {"run_dir": str(tmp_path / "run"), "models": ["minilm"],
              "classification": {"max_steps": 40, "max_length": 128, "learning_rate": 1e-4, "train": str(IMDB),
                                 "train_limit": 640, "test": str(IMDB), "test_limit": 20},
              "adversarial": {"attack_model": "minilm", "candidates": "embedding"}}
    from miniature.config import parse_config

    result = adversarial(parse_config(config), out=tmp_path / "out")
    (row,) = result.metric_rows()
    assert row["original_accuracy"] >= 0.6  # it learned something
    assert row["after_attack_accuracy"] < row["original_accuracy"]
    assert row["succeeded"] >= 1
    lines = read_jsonl_lines(tmp_path / "out" / "adversarial_examples" / "minilm.jsonl")
    won = [json.loads(x) for x in lines if json.loads(x)["outcome"] == "succeeded"]
    assert all(w["adversarial_text"] != w["text"] and len(w["changes"]) <= 3 for w in won)
