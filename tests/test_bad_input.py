"""Bad input and file safety (issue 19): each kind of defect an audit found, through the CLI: exit
status 2, one line, no traceback, nothing left on disk; published files follow the umask."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from miniature.cli import main
from tests.conftest import DEV, PAPER_SETS, ROOT, SHARED, need_shared
from tests.conftest import cli_fails as fail

IMDB = SHARED / "imdb" / "imdb_test_25k.jsonl"


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def tiny_squad(path: Path, bom: bool = False) -> Path:
    doc = {"data": [{"title": "t", "paragraphs": [{"context": "Paris is in France.", "qas": [
        {"id": "q1", "question": "Where is Paris?", "answers": [{"text": "France", "answer_start": 12}]},
        {"id": "q2", "question": "Who?", "answers": [], "is_impossible": True}]}]}]}
    return write(path, (b"\xef\xbb\xbf" if bom else b"") + json.dumps(doc).encode())


def yaml_config(path: Path, cfg: dict) -> Path:
    return write(path, yaml.safe_dump(cfg))


def reviews(path: Path, rows: list[dict]) -> Path:
    return write(path, "".join(json.dumps(r) + "\n" for r in rows))


def adversarial_config(tiny_model, tmp_path: Path, **classification) -> dict:
    model = str(tiny_model("bert"))
    rows = [{"id": f"r{i}", "text": f"review number {i} is {'good' if i % 2 else 'bad'}", "label": i % 2}
            for i in range(12)]
    data = reviews(tmp_path / "reviews.jsonl", rows)
    return {"run_dir": str(tmp_path / "run"), "characteristics": ["adversarial"], "models": [model],
            "classification": {"train": str(data), "test": str(data), "train_limit": 6, "test_limit": 4,
                               **classification},
            "adversarial": {"attack_model": model, "candidates": "embedding"}}


# 1. tracebacks: text that is not UTF-8, a question count beyond memory


def test_files_that_are_not_utf8_are_one_line(tmp_path, capsys, tiny_model):
    bad = write(tmp_path / "bad.yaml", b"models: [minilm]\nrun_dir: \xff\xfe\n")
    fail(capsys, ["run", str(bad)], "bad.yaml: not UTF-8 text (byte 0xff at line 2)", tmp_path / "runs")
    for name, body in (("r.jsonl", b'{"text": "caf\xe9", "label": 1}\n'), ("r.csv", b"text,label\ncaf\xe9,1\n")):
        data = write(tmp_path / name, body)
        cfg = adversarial_config(tiny_model, tmp_path)
        cfg["classification"].update(train=str(data), test=str(data))
        fail(capsys, ["adversarial", "--config", str(yaml_config(tmp_path / "c.yaml", cfg))],
             f"{name}: not UTF-8 text (byte 0xe9 at line {1 if name.endswith('jsonl') else 2})", tmp_path / "run")


def test_a_huge_question_count_costs_what_the_sets_cost(tmp_path, capsys):
    need_shared(PAPER_SETS)
    sets = [str(PAPER_SETS / "bert_large.json"), str(PAPER_SETS / "bert_base.json")]
    start = time.perf_counter()
    assert main(["errors", "--error-sets", *sets, "--questions", str(10**18), "--out", str(tmp_path / "o")]) == 0
    assert time.perf_counter() - start < 30
    row = json.loads((tmp_path / "o" / "errors.json").read_text())["rows"][0]
    # 2,701 and 3,236 errors among 10^18 questions: chance expects a*b/n shared, about 1e-11 of the union
    assert 0 < row["chance_jaccard"] < 1e-11 and row["p_overlap"] == 0.0
    assert row["corrected_jaccard"] == pytest.approx(row["jaccard"], abs=1e-9)
    capsys.readouterr()
    fail(capsys, ["errors", "--error-sets", *sets, "--questions", str(10**20), "--out", str(tmp_path / "o2")],
         "the count must lie in [1, 4611686018427387904]", tmp_path / "o2")


# 2. published files follow the umask


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_published_outputs_follow_the_umask(tmp_path, capsys, mask, file_mode, dir_mode):
    need_shared(PAPER_SETS)
    from miniature.runs import atomic_dir, atomic_write_json

    old = os.umask(mask)
    try:
        out = tmp_path / "o"
        assert main(["errors", "--error-sets", str(PAPER_SETS / "bert_large.json"), str(PAPER_SETS / "bert_base.json"),
                     "--out", str(out)]) == 0
        with atomic_dir(tmp_path / "folder") as d:  # a characteristic's folder, a model checkpoint
            atomic_write_json(d / "x.json", {})
    finally:
        os.umask(old)
    published = [p for p in [out, *out.rglob("*"), tmp_path / "folder", *(tmp_path / "folder").rglob("*")]
                 if not p.name.startswith(".")]
    assert {p.name for p in published} >= {"o", "errors.csv", "errors.json", "error_sets", "bert_large.json", "folder"}
    for p in published:
        assert stat.S_IMODE(p.stat().st_mode) == (dir_mode if p.is_dir() else file_mode), p


# 3. special files are never replaced


def test_fifos_devices_and_folders_are_not_replaced(tmp_path, capsys):
    gold = tiny_squad(tmp_path / "gold.json")
    preds = write(tmp_path / "p.json", json.dumps({"q1": "France", "q2": ""}))
    fail(capsys, ["score", "--gold", str(gold), "--predictions", str(preds), "--out", "/dev/full"],
         "/dev/full: is not a regular file")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    fail(capsys, ["score", "--gold", str(gold), "--predictions", str(preds), "--out", str(fifo)],
         "fifo: is not a regular file")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    # a FIFO where one of a command's several outputs would go: none of them is published
    need_shared(PAPER_SETS)
    out = tmp_path / "o"
    out.mkdir()
    os.mkfifo(out / "errors.md")
    fail(capsys, ["errors", "--error-sets", str(PAPER_SETS / "bert_large.json"), str(PAPER_SETS / "bert_base.json"),
                  "--out", str(out)], "errors.md: is not a regular file", out / "errors.csv", out / "error_sets")
    assert stat.S_ISFIFO(os.stat(out / "errors.md").st_mode) and sorted(os.listdir(out)) == ["errors.md"]
    (out / "errors.md").unlink()
    (out / "errors.csv").mkdir()
    fail(capsys, ["errors", "--error-sets", str(PAPER_SETS / "bert_large.json"), str(PAPER_SETS / "bert_base.json"),
                  "--out", str(out)], "errors.csv: is a folder, where a file would be written", out / "errors.md")


# 4. a UTF-8 byte-order mark is accepted everywhere


def test_a_byte_order_mark_is_accepted_in_every_input(tmp_path, capsys):
    preds = {"q1": "France", "q2": "Paris"}
    plain = tiny_squad(tmp_path / "gold.json")
    bom = tiny_squad(tmp_path / "gold_bom.json", bom=True)
    rows = "".join(json.dumps({"id": q.id, "question": q.question, "context": q.context,
                               "answers": [{"text": a.text, "answer_start": a.start} for a in q.answers]}) + "\n"
                   for q in __import__("miniature").data.load_qa_dataset(plain).examples)
    jsonl = write(tmp_path / "gold_bom.jsonl", b"\xef\xbb\xbf" + rows.encode())
    p_plain = write(tmp_path / "p.json", json.dumps(preds))
    p_bom = write(tmp_path / "p_bom.json", b"\xef\xbb\xbf" + json.dumps(preds).encode())
    na_bom = write(tmp_path / "na_bom.json", b"\xef\xbb\xbf" + json.dumps({"q1": 0.1, "q2": 0.9}).encode())
    results = []
    for gold, p in ((plain, p_plain), (bom, p_bom), (jsonl, p_bom)):
        assert main(["score", "--gold", str(gold), "--predictions", str(p), "--na-probs", str(na_bom),
                     "--out", str(tmp_path / "s.json")]) == 0, capsys.readouterr().err
        results.append(json.loads(capsys.readouterr().out))
    assert results[0] == results[1] == results[2] and results[0]["exact"] == 50.0
    ids = write(tmp_path / "ids.json", b"\xef\xbb\xbf" + json.dumps(["q1"]).encode())
    assert main(["errors", "--error-sets", str(ids), str(ids), "--names", "a", "b", "--questions", "2",
                 "--out", str(tmp_path / "e")]) == 0


# 5. bad data is refused, not read silently


@pytest.mark.parametrize("value, shown", [
    ("NaN", "nan, outside [0, 1]"), ("Infinity", "inf, outside [0, 1]"), ("1.5", "1.5, outside [0, 1]"),
    ("-0.1", "-0.1, outside [0, 1]"), ("true", "True, not a number"), ('"0.5"', "'0.5', not a number"),
])
def test_no_answer_probabilities_must_be_probabilities(tmp_path, capsys, value, shown):
    gold = tiny_squad(tmp_path / "gold.json")
    preds = write(tmp_path / "p.json", json.dumps({"q1": "France", "q2": ""}))
    na = write(tmp_path / "na.json", f'{{"q1": 0.5, "q2": {value}}}')
    fail(capsys, ["score", "--gold", str(gold), "--predictions", str(preds), "--na-probs", str(na),
                  "--out", str(tmp_path / "s.json")], f"no-answer probability of 'q2' is {shown}", tmp_path / "s.json")


def test_a_key_given_twice_is_refused_in_json_and_yaml(tmp_path, capsys):
    gold = tiny_squad(tmp_path / "gold.json")
    preds = write(tmp_path / "p.json", '{"q1": "France", "q2": "", "q1": "Paris"}')
    fail(capsys, ["score", "--gold", str(gold), "--predictions", str(preds)], "key 'q1' appears twice")
    sets = write(tmp_path / "s.json", '{"errors": ["q1"], "n_questions": 2, "errors": ["q2"]}')
    fail(capsys, ["errors", "--error-sets", str(sets), str(sets), "--names", "a", "b", "--out", str(tmp_path / "o")],
         "key 'errors' appears twice", tmp_path / "o")
    nested = write(tmp_path / "g.json", '{"data": [{"paragraphs": [], "paragraphs": []}]}')
    fail(capsys, ["score", "--gold", str(nested), "--predictions", str(preds)], "key 'paragraphs' appears twice")
    cfg = write(tmp_path / "c.yaml", "models: [minilm]\nqa:\n  epochs: 1\n  epochs: 2\n")
    fail(capsys, ["run", str(cfg)], "c.yaml: not valid YAML (line 4, column 3: found key 'epochs' twice)")
    fail(capsys, ["run", str(write(tmp_path / "ok.yaml", "models: [minilm]\n")), "--set", "qa={a: 1, a: 2}"],
         "--set qa={a: 1, a: 2}: the value is not valid YAML")


def test_review_labels_classes_samples_and_splits(tmp_path, capsys, tiny_model):
    run = tmp_path / "run"

    def refused(cfg: dict, message: str) -> None:
        fail(capsys, ["adversarial", "--config", str(yaml_config(tmp_path / "c.yaml", cfg))], message, run)

    good = adversarial_config(tiny_model, tmp_path)
    booleans = reviews(tmp_path / "b.jsonl", [{"text": "fine film", "label": True}, {"text": "bad", "label": False}])
    refused({**good, "classification": {**good["classification"], "train": str(booleans), "test": str(booleans)}},
            "b.jsonl: line 1: label True is a boolean, not a class index; write 0 or 1")
    one = reviews(tmp_path / "one.jsonl", [{"id": f"o{i}", "text": f"fine film {i}", "label": 1} for i in range(6)])
    refused({**good, "classification": {**good["classification"], "train": str(one)}},
            "every training text has label 1; a classifier needs texts of at least two classes")
    refused({**good, "classification": {**good["classification"], "test_limit": 7}},
            "classification.test_limit is 7 but")
    refused({**good, "classification": {**good["classification"], "test_limit": 7}},
            "has 6 texts (those not in the training sample); lower it, e.g. --set classification.test_limit=6")
    refused({**good, "classification": {**good["classification"], "train_limit": 13}},
            "classification.train_limit is 13 but")
    refused({**good, "classification": {**good["classification"], "test_split": "test"}},
            "classification.test_split names a split of a hub dataset, but classification.test is the local file")
    need_shared(DEV)
    gold = str(DEV)
    fail(capsys, ["predict", "--model", str(tiny_model("bert")), "--data", gold, "--split", "train",
                  "--out", str(tmp_path / "p")], "--split train names a split of a hub dataset", tmp_path / "p")


def test_recovery_distil_and_params_only_where_they_mean_something(tmp_path, capsys, tiny_model):
    model = str(tiny_model("bert"))
    base = {"run_dir": str(tmp_path / "run"), "characteristics": ["errors"],
            "data": {"train": str(tiny_squad(tmp_path / "t.json")), "dev": str(tiny_squad(tmp_path / "d.json"))}}
    cases = [
        ({"from": "a", "method": "int8", "recovery_steps": 5},
         "model 'a-int8': int8 has no recovery fine-tuning (only heads, layers, prune, wanda do)"),
        ({"from": "a", "method": "distil", "params": {"layers": 1}, "recovery_learning_rate": 1e-4},
         "distil has no recovery fine-tuning"),
        ({"from": "a", "method": "prune", "params": {"sparsity": 0.5}, "distil": {"epochs": 2}},
         "the `distil` section is for `method: distil`"),
        ({"from": "a-int8", "method": "int8", "label": "a-int8"}, "'a-int8' is derived from itself"),
    ]
    for entry, message in cases:
        cfg = {**base, "models": [{"name": model, "label": "a"}, entry]}
        fail(capsys, ["run", str(yaml_config(tmp_path / "c.yaml", cfg))], message, tmp_path / "run")
    cfg = {**base, "models": [{"name": model, "recovery_steps": 5}]}
    fail(capsys, ["run", str(yaml_config(tmp_path / "c.yaml", cfg))], "`recovery_steps` is for a derived model")


# 6. messages that say what the path is


def test_folders_links_and_loops_given_for_files(tmp_path, capsys):
    gold = tiny_squad(tmp_path / "gold.json")
    preds = write(tmp_path / "p.json", json.dumps({"q1": "France", "q2": ""}))
    folder = tmp_path / "folder.json"
    folder.mkdir()
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    (tmp_path / "dangling.json").symlink_to(tmp_path / "gone.json")
    fail(capsys, ["score", "--gold", str(folder), "--predictions", str(preds)], "folder.json: is a folder, not a file")
    fail(capsys, ["score", "--gold", str(gold), "--predictions", str(tmp_path / "loop1")],
         "loop1: is a symbolic-link loop")
    fail(capsys, ["score", "--gold", str(tmp_path / "dangling.json"), "--predictions", str(preds)],
         f"dangling.json: is a symbolic link to {tmp_path / 'gone.json'}, which does not exist")
    fail(capsys, ["run", str(folder)], "folder.json: is a folder, not a config file")
    fail(capsys, ["run", str(tmp_path / "loop1")], "loop1: is a symbolic-link loop; point the link at a real config file")
    fail(capsys, ["report", str(tmp_path / "loop1")], "loop1: is a symbolic-link loop; point the link at a real run folder")
    fail(capsys, ["report", str(gold)], "gold.json: is a file, not a run folder")
    fail(capsys, ["representation", "--embeddings", str(folder), str(folder), "--names", "a", "b"],
         "folder.json: is a folder, not a .npy file")
    # a data source or model named by a link that leads nowhere (no suffix: it could have been a hub id)
    fail(capsys, ["predict", "--model", "minilm", "--data", str(tmp_path / "loop1"), "--out", str(tmp_path / "p")],
         "loop1: is a symbolic-link loop; point the link at a real data file", tmp_path / "p")
    (tmp_path / "model").symlink_to(tmp_path / "no-such-model")
    cfg = write(tmp_path / "c.yaml", f"models: [{tmp_path / 'model'}]\nrun_dir: {tmp_path / 'run'}\n")
    fail(capsys, ["run", str(cfg)], f"model: is a symbolic link to {tmp_path / 'no-such-model'}, which does not exist",
         tmp_path / "run")


def test_yaml_syntax_errors_give_line_and_column(tmp_path, capsys):
    cfg = write(tmp_path / "c.yaml", "models: [minilm]\nqa:\n  epochs: [1\n")
    line = fail(capsys, ["run", str(cfg)], "c.yaml: not valid YAML (line 4, column 1:")
    assert "expected ',' or ']'" in line


def test_a_full_disk_names_the_file(tmp_path, capsys, monkeypatch):
    gold = tiny_squad(tmp_path / "gold.json")
    preds = write(tmp_path / "p.json", json.dumps({"q1": "France", "q2": ""}))

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    out = tmp_path / "s.json"
    fail(capsys, ["score", "--gold", str(gold), "--predictions", str(preds), "--out", str(out)],
         f"No space left on device ({out}); check the path, its permissions and free space", out)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


# 7. checks before any work


def test_a_refused_run_leaves_no_generated_data(tmp_path, capsys, tiny_model):
    folder = tmp_path / "fresh" / "data"
    cfg = {"run_dir": str(tmp_path / "fresh" / "run"), "characteristics": ["representation"],
           "generate": {"folder": str(folder), "scale": 0.1}, "models": [str(tiny_model("bert"))],
           "data": {"train": str(folder / "squad_train.json"), "dev": str(folder / "squad_dev.json")},
           "representation": {"ks": [1, 1000]}}
    fail(capsys, ["run", str(yaml_config(tmp_path / "c.yaml", cfg))], "representation: K=1000 needs more than 1000",
         tmp_path / "fresh")
    # data that was there before stays as it was
    from miniature.data.generate import write_quickstart_data

    paths = write_quickstart_data(folder, 0, 0.1)
    before = {p: p.stat().st_mtime_ns for p in paths.values()}
    fail(capsys, ["run", str(yaml_config(tmp_path / "c.yaml", cfg))], "K=1000", tmp_path / "fresh" / "run")
    assert {p: p.stat().st_mtime_ns for p in paths.values()} == before


# 8. leftovers: signals clean up, stdout holds only results


SLOW_EMBED = """
import sys, time
import miniature.tasks.embed as embed
from miniature.runs import atomic_file

def slow(path, *args, **kwargs):
    with atomic_file(path, suffix=".tmp.npy") as tmp:
        tmp.write_bytes(b"half")
        print("writing", flush=True)
        time.sleep(120)

embed.embed_to_npy = slow
from miniature.cli import main
sys.exit(main(["representation", "--config", sys.argv[1], "--quiet"]))
"""


@pytest.mark.parametrize("sig, code, said", [(signal.SIGTERM, 143, "stopped by SIGTERM"),
                                             (signal.SIGHUP, 143, "stopped by SIGHUP"),
                                             (signal.SIGINT, 130, "interrupted")])
def test_a_signal_mid_write_leaves_no_temporary(tmp_path, tiny_model, sig, code, said):
    cfg = {"run_dir": str(tmp_path / "run"), "characteristics": ["representation"], "models": [str(tiny_model("bert"))],
           "data": {"train": str(tiny_squad(tmp_path / "t.json")), "dev": str(tiny_squad(tmp_path / "d.json"))},
           "representation": {"ks": [1], "table_k": 1, "phases": ["before"]}}
    path = yaml_config(tmp_path / "c.yaml", cfg)
    proc = subprocess.Popen([sys.executable, "-c", SLOW_EMBED, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "writing", proc.stderr.read()
        assert list((tmp_path / "run").rglob("*.tmp.npy"))  # the temporary exists mid-write
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1].startswith(f"miniature: {said}") and "Traceback" not in err
    assert not [p for p in (tmp_path / "run").rglob("*") if ".pid" in p.name]


@pytest.mark.slow
def test_training_logs_stay_off_stdout(tmp_path, capsys, tiny_model):
    need_shared(DEV)
    cfg = {"run_dir": str(tmp_path / "run"), "characteristics": ["errors"],
           "models": [str(tiny_model("bert")), str(tiny_model("bert", 1))],
           "data": {"train": str(DEV), "train_limit": 16, "dev": str(DEV), "dev_limit": 8},
           "qa": {"max_steps": 2, "batch_size": 8, "max_seq_length": 64, "doc_stride": 16, "max_query_length": 16}}
    assert main(["errors", "--config", str(yaml_config(tmp_path / "c.yaml", cfg))]) == 0  # progress on
    captured = capsys.readouterr()
    assert "train_runtime" not in captured.out and "train_runtime" in captured.err
    assert captured.out.startswith("Error-set sizes:")


def test_jsonl_lines_end_at_newlines_only(tmp_path):
    """Line separators Python's splitlines knows (U+2028, \\x85, \\r, form feed) are text inside a JSON
    string; only \\n ends a JSONL line (IMDB reviews hold them)."""
    from miniature.data.text import load_text_dataset

    texts = ["one\u2028two", "three\x85four", "five\x0csix", "seven\rs"]
    path = write(tmp_path / "r.jsonl", "".join(json.dumps({"text": t, "label": i % 2}, ensure_ascii=False) + "\r\n"
                                               for i, t in enumerate(texts)))
    assert [e.text for e in load_text_dataset(path).examples] == texts
