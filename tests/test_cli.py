"""The CLI: each verb works, and every bad input gives one line, exit 2, no traceback, no files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from miniature.cli import main
from tests.conftest import DEV, PAPER_SETS, need_shared


def _fail(capsys, argv, message, out=None):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("miniature: error: "), err
    assert "Traceback" not in err
    assert message in lines[0], lines[0]
    if out is not None:
        assert not out.exists(), "a failed command left files behind"


def test_errors_from_error_sets_prints_and_writes(tmp_path, capsys):
    need_shared(PAPER_SETS)
    out = tmp_path / "o"
    args = ["errors", "--error-sets", str(PAPER_SETS / "bert_large.json"), str(PAPER_SETS / "bert_base.json"),
            "--names", "large", "base", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| large | base | 0.528 |" in printed
    doc = json.loads((out / "errors.json").read_text())
    assert doc["rows"][0]["jaccard"] == pytest.approx(2052 / 3885)
    assert [i["sha256"] for i in doc["meta"]["inputs"]]  # inputs and their hashes
    assert (out / "errors.csv").read_text().startswith("model_i,model_j,jaccard")
    assert json.loads((out / "error_sets" / "large.json").read_text())["errors"]


def test_score_and_errors_from_predictions(tmp_path, capsys):
    need_shared(DEV)
    from miniature.data import load_qa_dataset

    ds = load_qa_dataset(DEV)
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({q: "" for q in ds.ids}))
    gold = tmp_path / "gold.json"
    gold.write_text(json.dumps({e.id: (e.answers[0].text if e.answers else "") for e in ds.examples}))
    assert main(["score", "--gold", str(DEV), "--predictions", str(empty), "--out", str(tmp_path / "s.json")]) == 0
    assert json.loads(capsys.readouterr().out)["exact"] == pytest.approx(52.1224, abs=1e-4)
    assert json.loads((tmp_path / "s.json").read_text())["HasAns_total"] == 2910
    out = tmp_path / "cmp"
    assert main(["errors", "--predictions", str(empty), str(gold), "--gold", str(DEV), "--out", str(out)]) == 0
    row = json.loads((out / "errors.json").read_text())["rows"][0]
    # the gold predictions make no errors; the empty ones miss every answerable question
    assert (row["model_i"], row["size_i"], row["size_j"], row["jaccard"]) == ("empty", 2910, 0, 0.0)


def test_bad_inputs_one_line_exit_2_nothing_written(tmp_path, capsys):
    need_shared(DEV, PAPER_SETS)
    out = tmp_path / "out"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    stray = tmp_path / "stray.json"
    stray.write_text(json.dumps({"no-such-id": ""}))
    nofield = tmp_path / "nofield.json"
    nofield.write_text(json.dumps({"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "x"}]}]}]}))
    other = tmp_path / "other.json"
    other.write_text(json.dumps(["not-a-dev-id"]))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("models: [bert-huge]\n")
    cfg2 = tmp_path / "c2.yaml"
    cfg2.write_text("models: [minilm]\nqa: {learning_rat: 1}\n")

    _fail(capsys, ["score", "--gold", str(bad), "--predictions", str(empty)], "not valid JSON")
    _fail(capsys, ["score", "--gold", str(nofield), "--predictions", str(empty)], "missing field 'question'")
    _fail(capsys, ["score", "--gold", str(DEV), "--predictions", str(empty)], "holds no predictions")
    _fail(capsys, ["errors", "--predictions", str(stray), str(stray), "--gold", str(DEV), "--out", str(out)],
          "not in the gold file", out)
    _fail(capsys, ["errors", "--error-sets", str(PAPER_SETS / "bert_large.json"), str(other),
                   "--gold", str(DEV), "--out", str(out)], "not in the gold file", out)
    _fail(capsys, ["errors", "--config", str(cfg), "--out", str(out)], "unknown model 'bert-huge'", out)
    _fail(capsys, ["errors", "--config", str(cfg2), "--out", str(out)], "unknown config key 'qa.learning_rat'", out)
    _fail(capsys, ["errors", "--error-sets", str(bad), str(bad), "--out", str(out)], "not valid JSON", out)
    _fail(capsys, ["errors", "--predictions", str(empty), "--out", str(out)], "needs --gold", out)
    _fail(capsys, ["predict", "--model", "bert-huge", "--data", str(DEV), "--out", str(out)], "unknown model", out)


def test_predict_refuses_a_model_without_qa_head(tmp_path, capsys, tiny_model):
    need_shared(DEV)
    out = tmp_path / "p"
    _fail(capsys, ["predict", "--model", str(tiny_model("bert")), "--data", str(DEV), "--limit", "5",
                   "--out", str(out)], "no trained question-answering head", out)


def test_entry_point_exits_2_without_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "miniature.cli", "errors", "--error-sets",
                        str(tmp_path / "a.json"), str(tmp_path / "b.json")], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"miniature: error: {tmp_path / 'a.json'}: no such file"]


def test_list(capsys):
    assert main(["list", "models"]) == 0
    assert "bert-large" in capsys.readouterr().out
    assert main(["list", "characteristics"]) == 0
    assert "errors" in capsys.readouterr().out
