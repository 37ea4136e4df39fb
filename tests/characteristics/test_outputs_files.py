"""Output agreement of files other tools wrote: lm-evaluation-harness run for real (offline, two
tiny GPT-2 models, a local multiple-choice task) and its --log_samples output fed to `miniature
outputs`, checked against lm-eval's own accuracy and sums over its samples; plain per-item JSONL;
bad files in one line, exit 2."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.special import rel_entr, softmax
from scipy.stats import binomtest

from miniature.cli import main


def _fail(capsys, argv: list[str], message: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert message in err, err


def _samples(folder: Path) -> list[dict]:
    (path,) = folder.rglob("samples_*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_lm_eval_samples_round_trip(lm_eval_runs, tmp_path, capsys):
    outs, _ = lm_eval_runs
    out = tmp_path / "agreement"
    assert main(["outputs", "--lm-eval-samples", str(outs["base"]), str(outs["quant"]), "--names", "base", "quant",
                 "--out", str(out), "--bootstrap", "500"]) == 0
    (row,) = json.loads((out / "outputs.json").read_text())["rows"]
    assert (row["task"], row["model_i"], row["model_j"], row["n"]) == ("toy_mc", "base", "quant", 60)
    # accuracy as lm-eval itself reported it
    for name, column in (("base", "accuracy_i"), ("quant", "accuracy_j")):
        (results,) = outs[name].rglob("results_*.json")
        assert row[column] == pytest.approx(json.loads(results.read_text())["results"]["toy_mc"]["acc,none"])
    # flips, McNemar, agreement and KL over the options, from the samples by hand
    a, b = _samples(outs["base"]), _samples(outs["quant"])
    a, b = sorted(a, key=lambda r: r["doc_id"]), sorted(b, key=lambda r: r["doc_id"])
    ok_a, ok_b = np.array([r["acc"] for r in a]) > 0, np.array([r["acc"] for r in b]) > 0
    cw, wc = int(np.sum(ok_a & ~ok_b)), int(np.sum(~ok_a & ok_b))
    assert (row["correct_to_wrong"], row["wrong_to_correct"]) == (cw, wc) and cw + wc > 0
    assert row["mcnemar_p"] == pytest.approx(binomtest(cw, cw + wc, 0.5).pvalue)
    ll_a = np.array([[float(x[0]) for x in r["filtered_resps"]] for r in a])
    ll_b = np.array([[float(x[0]) for x in r["filtered_resps"]] for r in b])
    assert row["top1_agreement"] == pytest.approx(np.mean(ll_a.argmax(1) == ll_b.argmax(1)))
    kl = rel_entr(softmax(ll_a, 1), softmax(ll_b, 1)).sum(1)
    assert row["kl_mean"] == pytest.approx(kl.mean()) and row["kl_max"] == pytest.approx(kl.max())
    errors_a, errors_b = {r["doc_id"] for r in a if not r["acc"]}, {r["doc_id"] for r in b if not r["acc"]}
    assert row["error_jaccard"] == pytest.approx(len(errors_a & errors_b) / len(errors_a | errors_b))
    assert not math.isnan(row["error_jaccard_chance"]) and (out / "report.json").is_file()
    assert "toy_mc" in capsys.readouterr().out
    # our choice per item equals the one lm-eval scored, under acc and under acc_norm (its length
    # normalisation), for every document of both models
    from miniature.data.lmeval import read_lm_eval_samples, samples_files

    for name in ("base", "quant"):
        (path,) = samples_files(outs[name]).values()
        for metric in ("acc", "acc_norm"):
            records = read_lm_eval_samples(path, metric)
            assert len(records) == 60 and all((int(r.prediction) == r.label) == r.correct for r in records)


@pytest.mark.slow
def test_lm_eval_samples_that_do_not_match_are_refused(lm_eval_runs, tmp_path, capsys):
    outs, _ = lm_eval_runs
    base = str(outs["base"])
    _fail(capsys, ["outputs", "--lm-eval-samples", base, str(outs["other"])],
          "out_other holds samples of toy_other and out_base of toy_mc; give samples of the same tasks")
    # the same task over other documents (a changed document's hash)
    rows = _samples(outs["quant"])
    rows[5]["doc_hash"] = "0" * 64
    doc = rows[5]["doc_id"]
    changed = tmp_path / "changed" / "samples_toy_mc_2026-01-01T00-00-00.000000.jsonl"
    changed.parent.mkdir()
    changed.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _fail(capsys, ["outputs", "--lm-eval-samples", base, str(changed.parent)],
          f"toy_mc: document {doc} differs between out_base and changed (its doc_hash)")
    fewer = tmp_path / "fewer" / changed.name
    fewer.parent.mkdir()
    fewer.write_text("".join(json.dumps(r) + "\n" for r in _samples(outs["quant"])[:50]))
    _fail(capsys, ["outputs", "--lm-eval-samples", base, str(fewer.parent)],
          "toy_mc: fewer and out_base scored different items (50 and 60")
    rows = _samples(outs["quant"])
    rows[2]["filtered_resps"][1][0] = "nan"
    nan = tmp_path / "nan" / changed.name
    nan.parent.mkdir()
    nan.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _fail(capsys, ["outputs", "--lm-eval-samples", base, str(nan.parent)], "line 3: a log-likelihood is NaN")
    empty = tmp_path / "empty"
    empty.mkdir()
    _fail(capsys, ["outputs", "--lm-eval-samples", base, str(empty)], "no lm-eval samples files")


def test_lm_eval_filters_are_tasks_of_their_own_and_mutual_info_halves(tmp_path, capsys):
    """A task with two filters (lm-eval writes a row per filter and doc_id) gives a task per filter;
    acc_mutual_info's unconditional requests are left out of the options."""
    def write(folder: str, answers: dict[str, list[bool]]) -> Path:
        path = tmp_path / folder / "samples_gen_2026-01-01T00-00-00.000000.jsonl"
        path.parent.mkdir()
        rows = [{"doc_id": d, "filter": f, "target": "18", "filtered_resps": ["18" if ok else "7"],
                 "exact_match": float(ok)} for f, oks in answers.items() for d, ok in enumerate(oks)]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return path.parent

    a = write("a", {"strict": [True, True, False], "flex": [True, True, True]})
    b = write("b", {"strict": [True, False, False], "flex": [True, True, True]})
    out = tmp_path / "out"
    assert main(["outputs", "--lm-eval-samples", str(a), str(b), "--out", str(out)]) == 0
    capsys.readouterr()
    rows = {r["task"]: r for r in json.loads((out / "outputs.json").read_text())["rows"]}
    assert set(rows) == {"gen/strict", "gen/flex"}
    assert rows["gen/strict"]["correct_to_wrong"] == 1 and rows["gen/flex"]["correct_to_wrong"] == 0
    assert math.isnan(rows["gen/strict"]["kl_mean"])  # generated answers: flips, no distribution
    from miniature.data.lmeval import read_lm_eval_samples

    mi = tmp_path / "mi" / "samples_mc_2026-01-01T00-00-00.000000.jsonl"
    mi.parent.mkdir()
    mi.write_text(json.dumps({"doc_id": 0, "target": 1, "metrics": ["acc", "acc_mutual_info"], "acc": 1.0,
                              "filtered_resps": [["-3.0", "False"], ["-1.0", "False"], ["-0.5", "False"],
                                                 ["-9.0", "False"]]}) + "\n")
    (record,) = read_lm_eval_samples(mi)
    assert record.logliks.tolist() == [-3.0, -1.0] and record.prediction == "1" and record.label == 1


def test_plain_item_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    probs = {n: softmax(rng.normal(size=(30, 3)) * s, 1) for n, s in (("a", 2.0), ("b", 1.0))}
    labels = rng.integers(0, 3, 30)
    files = []
    for name, p in probs.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"id": f"x{i}", "correct": bool(p[i].argmax() == labels[i]),
                                            "probs": p[i].tolist(), "label": int(labels[i])}) + "\n"
                                for i in range(30)))
        files.append(str(path))
    out = tmp_path / "out"
    assert main(["outputs", "--items", *files, "--out", str(out)]) == 0
    capsys.readouterr()
    (row,) = json.loads((out / "outputs.json").read_text())["rows"]
    assert (row["model_i"], row["model_j"], row["task"]) == ("a", "b", "items")
    assert row["kl_mean"] == pytest.approx(rel_entr(probs["a"], probs["b"]).sum(1).mean())
    d = probs["b"][np.arange(30), labels] - probs["a"][np.arange(30), labels]
    assert row["gold_change_mean"] == pytest.approx(d.mean())
    bad = tmp_path / "bad.jsonl"
    lines = Path(files[1]).read_text().splitlines()
    wrong = json.loads(lines[4])
    wrong["probs"] = [0.5, 0.2, 0.2]
    bad.write_text("\n".join([*lines[:4], json.dumps(wrong), *lines[5:]]) + "\n")
    _fail(capsys, ["outputs", "--items", files[0], str(bad)], "bad's probabilities: row 4 sums to 0.9, not 1")
    nan = tmp_path / "nan.jsonl"
    nan.write_text(Path(files[1]).read_text().replace(json.dumps(probs["b"][0].tolist()), "[NaN, 0.5, 0.5]", 1))
    _fail(capsys, ["outputs", "--items", files[0], str(nan)], "nan.jsonl: line 1: probs: NaN")
    out_of_range = tmp_path / "range.jsonl"
    out_of_range.write_text(Path(files[1]).read_text().replace('"label": ' + str(int(labels[0])), '"label": 3', 1))
    _fail(capsys, ["outputs", "--items", files[0], str(out_of_range)], "has label 3, not one of its 3 classes")
    _fail(capsys, ["outputs", "--items", files[0]], "output agreement compares two inputs at least, got 1")
    _fail(capsys, ["outputs", "--items", files[0], files[1], "--names", "x"], "--names gives 1 names for 2 inputs")
