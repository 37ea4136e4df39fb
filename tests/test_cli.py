"""The CLI: each verb works, and every bad input gives one line, exit 2, no traceback, no files."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from miniature.cli import main
from tests.conftest import DEV, PAPER_SETS, cli_fails, need_shared


def _fail(capsys, argv, message, out=None):
    cli_fails(capsys, argv, message, *([out] if out is not None else []))


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
    assert doc["rows"][0]["chance_jaccard"] is None  # the number of questions is not known
    # with it: the chance level, the corrected Jaccard and the overlap's p-value
    assert main([*args, "--questions", "11873"]) == 0
    assert re.search(r"\| large \| base \| 0\.528 \| 0\.5[01]\d \| 0\.5[45]\d \| 0\.142 \| 0\.450 \| <1e-300 \|",
                     capsys.readouterr().out)  # Jaccard, its 95% interval, chance, corrected, p
    row = json.loads((out / "errors.json").read_text())["rows"][0]
    assert (row["n"], round(row["chance_jaccard"], 3), round(row["corrected_jaccard"], 3)) == (11873, 0.142, 0.450)
    # the sets miniature wrote record their question count, so reading them back needs no --questions
    again = ["errors", "--error-sets", str(out / "error_sets" / "large.json"), str(out / "error_sets" / "base.json"),
             "--out", str(tmp_path / "again")]
    assert main(again) == 0
    assert re.search(r"\| large \| base \| 0\.528 \| [0-9.]+ \| [0-9.]+ \| 0\.142 \| 0\.450 \|", capsys.readouterr().out)


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
    large = str(PAPER_SETS / "bert_large.json")
    _fail(capsys, ["errors", "--error-sets", large, large, "--names", "a", "b", "--questions", "100", "--out", str(out)],
          "name 2701 distinct questions, more than the 100 scored", out)
    _fail(capsys, ["errors", "--error-sets", large, large, "--names", "a", "b", "--questions", "11873", "--gold", str(DEV),
                   "--out", str(out)], "either a gold file or a question count", out)
    _fail(capsys, ["errors", "--predictions", str(empty), "--gold", str(DEV), "--questions", "9", "--out", str(out)],
          "--questions is for --error-sets", out)
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
    from miniature.compress import METHODS

    assert main(["list", "methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(METHODS) and {"int8", "distil"} <= set(METHODS)


def test_representation_from_embedding_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    base = rng.normal(size=(120, 16)).astype(np.float32)
    files = {}
    for name, arr in {"large": base, "near": base + 0.3 * rng.normal(size=base.shape), "far": rng.normal(size=(120, 8)),
                      "large_ft": base * 2, "near_ft": base, "far_ft": rng.normal(size=(120, 8))}.items():
        files[name] = tmp_path / f"{name}.npy"
        np.save(files[name], arr.astype(np.float32))
    out = tmp_path / "rep"
    argv = ["representation", "--embeddings", str(files["large"]), str(files["near"]), str(files["far"]),
            "--after", str(files["large_ft"]), str(files["near_ft"]), str(files["far_ft"]),
            "--names", "L", "N", "F", "--ks", "1", "5", "10", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| L | N |" in printed and "before_mean" in printed and "after_variance" in printed
    rows = {(r["model_i"], r["model_j"]): r for r in json.loads((out / "representation.json").read_text())["rows"]}
    assert rows[("L", "N")]["after_mean"] == 1.0  # same vectors up to scale after "fine-tuning"
    assert rows[("L", "N")]["before_mean"] > rows[("L", "F")]["before_mean"]
    assert (out / "representation_k_sweep.png").is_file()


def test_representation_bad_inputs(tmp_path, capsys):
    ok = tmp_path / "ok.npy"
    np.save(ok, np.random.default_rng(1).normal(size=(50, 4)))
    flat, nan, short = tmp_path / "flat.npy", tmp_path / "nan.npy", tmp_path / "short.npy"
    np.save(flat, np.zeros(50))
    x = np.ones((50, 4))
    x[7, 2] = np.inf
    np.save(nan, x)
    np.save(short, np.ones((40, 4)))
    text = tmp_path / "text.npy"
    text.write_text("not numpy")
    out = tmp_path / "out"
    rep = ["representation", "--out", str(out), "--embeddings", str(ok)]
    _fail(capsys, rep + [str(flat)], "must be a 2-D array", out)
    _fail(capsys, rep + [str(nan)], "point 7 has a NaN or infinite value", out)
    _fail(capsys, rep + [str(short)], "different numbers of points (ok 50, short 40)", out)
    _fail(capsys, rep + [str(ok), "--names", "a", "b", "--ks", "50"], "K=50 needs more than 50 points", out)
    _fail(capsys, rep + [str(text)], "not a .npy file", out)
    _fail(capsys, rep + [str(ok), "--names", "a"], "--names gives 1 names for 2", out)
    _fail(capsys, rep + [str(ok), "--names", "a", "b", "--after", str(ok)], "--after 1", out)


def test_output_folders_are_checked_before_any_work(tmp_path, capsys):
    need_shared(PAPER_SETS)
    sets = [str(PAPER_SETS / "bert_large.json"), str(PAPER_SETS / "bert_base.json")]
    a_file = tmp_path / "file.json"
    a_file.write_text("{}")
    _fail(capsys, ["errors", "--error-sets", *sets, "--out", str(a_file)], "is a file, not a folder")
    _fail(capsys, ["errors", "--error-sets", *sets, "--out", str(a_file / "sub")], "cannot be made")
    _fail(capsys, ["score", "--gold", str(DEV), "--predictions", str(a_file), "--out", str(tmp_path)],
          "is a folder; give a file name")
    rep = ["representation", "--embeddings", str(a_file), str(a_file), "--out", str(a_file / "rep")]
    _fail(capsys, rep, "cannot be made")  # before the arrays are even read
    assert a_file.read_text() == "{}"


def test_labels_never_escape_the_output_folder(tmp_path, capsys):
    need_shared(PAPER_SETS)
    out = tmp_path / "deep" / "out"
    argv = ["errors", "--error-sets", str(PAPER_SETS / "bert_large.json"), str(PAPER_SETS / "bert_base.json"),
            "--names", "../../escaped", "google/base", "--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    assert sorted(p.name for p in (out / "error_sets").iterdir()) == ["_.._escaped.json", "google_base.json"]
    assert not (tmp_path / "escaped.json").exists() and not (tmp_path / "deep" / "escaped.json").exists()
    written = json.loads((out / "error_sets" / "_.._escaped.json").read_text())
    assert written["name"] == "../../escaped"  # the label itself is kept inside the file


def test_file_stems_are_safe_and_distinct():
    from miniature.runs import file_stems

    assert file_stems(["a/b", "a_b", "a?b", ".hidden", "", "x" * 300]) == [
        "a_b", "a_b-2", "a_b-3", "hidden", "model", "x" * 100]


def test_usage_errors_and_bad_numbers_are_one_line(tmp_path, capsys):
    ok = tmp_path / "ok.npy"
    np.save(ok, np.ones((20, 4), dtype=np.float32))
    _fail(capsys, ["representation", "--embeddings", str(ok), str(ok), "--ks", "0"], "0 must be 1 or more")
    _fail(capsys, ["predict", "--model", "m", "--data", "d", "--out", "o", "--limit", "-5"], "-5 must be 1 or more")
    _fail(capsys, ["predict", "--model", "m", "--data", "d", "--out", "o", "--batch-size", "0"], "must be 1 or more")
    _fail(capsys, ["score", "--gold", "g", "--predictions", "p", "--na-prob-thresh", "nan"], "must lie in [0, 1]")
    _fail(capsys, ["distribution", "--bank", str(ok), "--val", str(ok), "--test", str(ok), "--tpr", "nan"], "tpr")
    _fail(capsys, ["distribution", "--bank", str(ok), "--set", "distribution.k=3"], "needs --config")
    _fail(capsys, ["no-such-verb"], "invalid choice")
    assert main(["--version"]) == 0


def test_set_values_that_are_not_yaml_or_have_empty_keys(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("models: [minilm]\n")
    out = tmp_path / "out"
    _fail(capsys, ["errors", "--config", str(cfg), "--set", "models=[minilm", "--out", str(out)], "not valid YAML", out)
    _fail(capsys, ["errors", "--config", str(cfg), "--set", "run_dir=@x", "--out", str(out)], "not valid YAML", out)
    _fail(capsys, ["errors", "--config", str(cfg), "--set", "=5", "--out", str(out)], "the key has an empty part", out)
    _fail(capsys, ["errors", "--config", str(cfg), "--set", "qa.=5", "--out", str(out)], "the key has an empty part", out)


def test_embedding_files_npz_and_before_after_point_counts(tmp_path, capsys):
    a, b, short = tmp_path / "a.npy", tmp_path / "b.npy", tmp_path / "short.npy"
    rng = np.random.default_rng(2)
    np.save(a, rng.normal(size=(30, 4)))
    np.save(b, rng.normal(size=(30, 4)))
    np.save(short, rng.normal(size=(20, 4)))
    z = tmp_path / "z.npz"
    np.savez(z, x=np.ones((30, 4)))
    out = tmp_path / "out"
    _fail(capsys, ["representation", "--embeddings", str(a), str(z), "--out", str(out)], "an .npz archive", out)
    _fail(capsys, ["representation", "--embeddings", str(a), str(b), "--after", str(short), str(short),
                   "--out", str(out)], "the --embeddings files hold 30 points, the --after files 20", out)


def test_an_unforeseen_os_error_is_one_line(monkeypatch, capsys):
    from miniature import cli

    def full_disk(args):
        raise OSError(28, "No space left on device", "/data/x.json")

    monkeypatch.setattr(cli, "_cmd_list", full_disk)
    _fail(capsys, ["list", "models"], "No space left on device (/data/x.json)")


def test_all_zero_points_and_names_with_a_config(tmp_path, capsys):
    x = np.random.default_rng(3).normal(size=(30, 4))
    x[11] = 0.0
    a, z = tmp_path / "a.npy", tmp_path / "z.npy"
    np.save(a, np.random.default_rng(4).normal(size=(30, 4)))
    np.save(z, x)
    _fail(capsys, ["representation", "--embeddings", str(a), str(z)], "point 11 is all zeros")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"models: [minilm]\nrun_dir: {tmp_path / 'run'}\ncharacteristics: [errors]\n")
    _fail(capsys, ["errors", "--config", str(cfg), "--names", "x"], "named by their `label`")


def test_a_command_failing_while_writing_leaves_its_out_folder_as_it_was(tmp_path, capsys, monkeypatch):
    need_shared(PAPER_SETS)
    import miniature.characteristics.errors as errors_module

    out = tmp_path / "o"
    args = ["errors", "--error-sets", str(PAPER_SETS / "bert_large.json"), str(PAPER_SETS / "bert_base.json"),
            "--names", "large", "base", "--out", str(out)]

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(errors_module, "write_table", disk_full)  # after the error sets are written
    assert main(args) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert not out.exists()  # no error_sets/ without errors.md, and no folder it made
    monkeypatch.undo()
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == [".miniature-errors-outputs.json", "error_sets", "errors.csv",
                                                     "errors.json", "errors.md", "report.json"]


def test_every_registered_characteristic_has_a_verb_and_file_options_need_no_config(tmp_path, capsys):
    """The verbs come from the registry: each has --config (the only input of those without file
    options), and options for files are refused beside a config, in one line."""
    from miniature.characteristics import CHARACTERISTICS, Characteristic
    from miniature.cli import build_parser

    parser = build_parser()
    verbs = next(a for a in parser._actions if a.dest == "verb").choices
    assert set(CHARACTERISTICS) <= set(verbs)
    for name, c in CHARACTERISTICS.items():  # files or a config where it compares files, else a config
        usage = " ".join(verbs[name].format_usage().split())
        files = type(c).compare_files is not Characteristic.compare_files
        assert ("(--config CONFIG |" in usage) == files and "--config CONFIG" in usage, usage
    assert {n for n, c in CHARACTERISTICS.items() if type(c).compare_files is not Characteristic.compare_files} >= {
        "errors", "representation", "distribution"}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"models: [minilm]\nrun_dir: {tmp_path / 'run'}\n")
    a = tmp_path / "a.npy"
    np.save(a, np.random.default_rng(0).normal(size=(20, 3)))
    _fail(capsys, ["representation", "--config", str(cfg), "--after", str(a)], "--after and --names are for")
    _fail(capsys, ["distribution", "--config", str(cfg), "--test", str(a)], "are for --bank feature files")
    _fail(capsys, ["errors", "--config", str(cfg), "--gold", str(a)], "--gold is for --predictions")
    _fail(capsys, ["representation", "--after", str(a)], "one of the arguments --config --embeddings is required")
    _fail(capsys, ["cka", "--embeddings", str(a)], "the following arguments are required: --config")
