"""`miniature run`: every registered characteristic from one config, one shared cache, resume after SIGKILL."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from miniature.cli import main
from tests.conftest import DEV, NEWSQA, SHARED, TRAIN, need_shared

IMDB = SHARED / "imdb" / "imdb_test_25k.jsonl"
CHARACTERISTIC_FILES = {
    "errors": ["errors.csv", "errors.json", "scores.csv", "error_sets"],
    "representation": ["representation.csv", "representation_sweep.csv", "representation_k_sweep.png"],
    "distribution": ["distribution.csv", "distribution_detectors.csv", "distribution_sweep.csv", "ood_sets.json"],
    "adversarial": ["adversarial.csv", "adversarial_metrics.csv", "adversarial_agreement.csv",
                    "attacked_sets.json", "adversarial_examples"],
    "outputs": ["outputs.csv", "outputs_margins.csv", "outputs_classes.csv", "outputs_items.csv",
                "outputs_kl_cdf.png", "outputs_margin_risk.png"],
}
TABLES = ["table2.csv", "table3.csv"] + [f"{c}/{f}" for c, fs in CHARACTERISTIC_FILES.items() for f in fs
                                         if f.endswith(".csv")]


def study_config(tiny_model, run_dir: Path) -> dict:
    """Two tiny models (different widths), slices of the real data, every characteristic."""
    need_shared(DEV, TRAIN, NEWSQA, IMDB)
    large, small = str(tiny_model("bert", 1)), str(tiny_model("bert", 0))
    return {
        "run_dir": str(run_dir),
        "models": [{"name": large, "label": "large"}, {"name": small, "label": "small"}],
        "data": {"train": str(TRAIN), "train_limit": 40, "dev": str(DEV), "dev_limit": 30},
        "qa": {"max_steps": 3, "batch_size": 8, "max_seq_length": 96, "doc_stride": 32, "max_query_length": 24},
        "representation": {"ks": [1, 3, 5], "table_k": 3},
        "distribution": {"test": str(NEWSQA), "test_limit": 20, "k": 3, "ks": [1, 3, 5]},
        "classification": {"max_steps": 3, "batch_size": 8, "max_length": 48, "train": str(IMDB),
                           "train_limit": 24, "test": str(IMDB), "test_limit": 5},
        "adversarial": {"attack_model": large, "candidates": "embedding", "k": 6},
    }


def write_config(tmp_path: Path, cfg: dict, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def read_tables(run_dir: Path) -> dict[str, str]:
    return {t: (run_dir / t).read_text(encoding="utf-8") for t in TABLES}


@pytest.fixture(scope="module")
def finished(tiny_model, tmp_path_factory):
    """One uninterrupted run of the whole study: its config and the result `run` returned."""
    from miniature import run

    tmp = tmp_path_factory.mktemp("study")
    cfg = study_config(tiny_model, tmp / "run")
    return cfg, run(write_config(tmp, cfg))


@pytest.mark.slow
def test_run_writes_every_characteristic_and_the_report(finished):
    cfg, result = finished
    run_dir = Path(cfg["run_dir"])
    for name, files in CHARACTERISTIC_FILES.items():
        for f in files:
            assert (run_dir / name / f).exists(), f"{name}/{f} missing"
    for f in ["report.html", "report.md", "table2.csv", "table3.csv", "per_model.csv", "figure1.png", "results.json",
              "models_scores.png", "models_ood_auroc.png", "models_attack.png",
              *(f"heatmap_{c}.png" for c in ["errors", "representation_before", "representation_after",
                                             "distribution", "adversarial"])]:
        assert (run_dir / f).is_file(), f
    # every model fine-tuned once per task: 2 QA and 2 classifier checkpoints, no more
    kinds = [a.kind for a in result.computed]
    assert kinds.count("qa checkpoint") == 2 and kinds.count("classifier checkpoint") == 2
    # dev "after" embeddings are shared by representation and distribution: extracted once each
    dev_after = [a for a in result.computed if a.kind == "embeddings" and "-after-" in Path(a.path).name]
    assert len(dev_after) == 2 * 3  # 2 models x (dev, bank, test)
    assert len({a.path for a in result.activity if a.kind == "embeddings"}) == 2 * 4  # + dev before
    from miniature.characteristics import CHARACTERISTICS

    assert kinds.count("comparison") == len(list(CHARACTERISTICS)) and kinds.count("model card") == 1
    # Table 1: measured on the QA checkpoints; the larger model has more parameters, speed-up 1 for itself
    card = {r["model"]: r for r in json.loads((run_dir / "models" / "model_card.json").read_text())["rows"]}
    assert card["large"]["hidden_size"] == 48 and card["small"]["hidden_size"] == 32
    assert card["large"]["layers"] == card["small"]["layers"] == 2 and card["large"]["speedup"] == 1
    assert card["large"]["parameters_m"] > card["small"]["parameters_m"] > 0 and card["small"]["latency_ms"] > 0
    qa_dirs = sorted((run_dir / "checkpoints").glob("qa-*"))
    assert {round(r["size_mb"], 3) for r in card.values()} == {
        round(sum(p.stat().st_size for p in d.glob("*.safetensors")) / 1e6, 3) for d in qa_dirs}
    assert (run_dir / "table1.csv").is_file()
    # Table 2 is the characteristics' own values, pair by pair
    t2 = result.table2.iloc[0]
    errors = json.loads((run_dir / "errors" / "errors.json").read_text())["rows"][0]
    rep = json.loads((run_dir / "representation" / "representation.json").read_text())["rows"][0]
    dist = json.loads((run_dir / "distribution" / "distribution.json").read_text())["rows"][0]
    assert (t2["model_i"], t2["model_j"]) == ("large", "small")
    assert t2["prediction_errors"] == pytest.approx(errors["jaccard"])
    assert t2["representation_before_mean"] == pytest.approx(rep["before_mean"])
    assert t2["representation_after_variance"] == pytest.approx(rep["after_variance"])
    assert t2["distribution"] == pytest.approx(dist["jaccard"])
    # output agreement on both tasks of the study (QA's errors, the attack's classifiers); on real
    # outputs the error-set Jaccard is both-wrong / (both-wrong + flips), the errors' own value
    outs = {r["task"]: r for r in json.loads((run_dir / "outputs" / "outputs.json").read_text())["rows"]}
    assert set(outs) == {"qa", "classification"} and t2["output_agreement_qa"] == outs["qa"]["top1_agreement"]
    qa = outs["qa"]
    assert qa["error_jaccard"] == pytest.approx(errors["jaccard"])
    assert qa["correct_to_wrong"] + qa["wrong_to_correct"] == errors["union"] - errors["intersection"]
    exported = json.loads((run_dir / "results.json").read_text())["output_agreement"]
    assert [(r["task"], r["flip_rate"]) for r in exported] == [(t, outs[t]["flip_rate"]) for t in ("qa", "classification")]
    corrected = {r["model_i"] + r["model_j"]: r for r in csv.DictReader(open(run_dir / "table2_corrected.csv"))}
    kappa = corrected["largesmall"]["output_agreement_classification"]
    assert float(kappa or "nan") == pytest.approx(outs["classification"]["kappa"], abs=1e-9, nan_ok=True)
    assert list(result.table3["target_model"]) == ["large", "small"]
    assert set(result.tables) >= {"errors", "scores", "representation", "distribution", "adversarial"}
    meta = json.loads((run_dir / "results.json").read_text())["meta"]
    assert meta["config"]["models"][0]["label"] == "large" and meta["seeds"]["qa"] == 42
    assert meta["version"] and "git_commit" in meta
    from miniature.data.squad import load_qa_dataset

    assert meta["datasets"]["data.dev"]["fingerprint"] == load_qa_dataset(DEV, limit=30).fingerprint
    assert set(meta["datasets"]) == {"data.dev", "data.train", "distribution.test", "classification.test",
                                     "classification.train"}
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "large" in html and "small" in html and html.count("data:image/png;base64,") >= 9


@pytest.mark.slow
def test_second_run_recomputes_nothing(finished, capsys):
    from miniature import run

    cfg, first = finished
    run_dir = Path(cfg["run_dir"])
    before = read_tables(run_dir)
    stamps = {p: p.stat().st_mtime_ns for p in (run_dir / "checkpoints").rglob("*") if p.is_file()}
    again = run(as_config(cfg))
    assert again.computed == []
    assert {a.path for a in again.activity} == {a.path for a in first.activity}
    assert read_tables(run_dir) == before
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def as_config(cfg: dict):
    from miniature.config import parse_config

    return parse_config(cfg)


@pytest.mark.slow
def test_report_rebuilds_from_the_run_folder_alone(finished, capsys):
    cfg, _ = finished
    run_dir = Path(cfg["run_dir"])
    (run_dir / "report.html").unlink()
    (run_dir / "table2.csv").unlink()
    script = "import sys; from miniature.cli import main; sys.exit(main(['report', sys.argv[1]]))"
    code = subprocess.run([sys.executable, "-c", script, str(run_dir)], capture_output=True, text=True, check=False)
    assert code.returncode == 0, code.stderr
    assert (run_dir / "report.html").is_file() and (run_dir / "table2.csv").is_file()
    # the report path never imports torch or transformers: no model is touched
    script = ("import sys; from miniature.report.study import build_report; build_report(sys.argv[1]); "
              "print('torch' in sys.modules, 'transformers' in sys.modules)")
    probe = subprocess.run([sys.executable, "-c", script, str(run_dir)], capture_output=True, text=True, check=False)
    assert probe.stdout.split() == ["False", "False"], probe.stderr


@pytest.mark.slow
def test_killed_run_resumes_to_identical_tables(finished, tiny_model, tmp_path):
    """SIGKILL in the middle (after the first QA checkpoint is finished), rerun: same tables."""
    cfg, _ = finished
    cfg2 = {**cfg, "run_dir": str(tmp_path / "run")}
    path = write_config(tmp_path, cfg2)
    cmd = [sys.executable, "-m", "miniature.cli", "run", str(path), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    checkpoints = tmp_path / "run" / "checkpoints"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if any(checkpoints.glob("qa-*/miniature.json")):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "run" / "report.html").exists()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert read_tables(tmp_path / "run") == read_tables(Path(cfg["run_dir"]))


def test_bad_study_configs_fail_in_one_line(tiny_model, tmp_path, capsys):
    base = study_config(tiny_model, tmp_path / "run")

    def derived(method: str, params: dict) -> dict:
        return {"models": [base["models"][0], {"from": "large", "method": method, "params": params, "label": "v"}]}
    cases = [
        ({"colour": "red"}, "unknown config key 'colour'"),
        ({"qa": {"epoch": 2}}, "unknown config key 'qa.epoch'"),
        ({"models": [{"name": "bert-huge"}]}, "unknown model 'bert-huge'"),
        ({"data": {**base["data"], "dev": "squad3"}}, "unknown dataset 'squad3'"),
        ({"classification": {**base["classification"], "test": "reviews"}}, "unknown text dataset 'reviews'"),
        ({"distribution": {"k": 3}}, "characteristic 'distribution' needs an OOD test set"),
        ({"characteristics": ["errors", "speed"]}, "config key 'characteristics': unknown characteristic 'speed'; known: errors, "),
        ({"run_dir": str(tmp_path / "a-file" / "run")}, f"run folder {tmp_path / 'a-file' / 'run'} is not writable"),
        # compression recipes, checked against the source's architecture before anything is trained
        (derived("prune", {"sparsity": 1.0}), "model 'v': prune.sparsity must be a number in [0, 1), got 1.0"),
        (derived("prune", {"sparsity": -0.1}), "prune.sparsity must be a number in [0, 1)"),
        (derived("layers", {"keep": [0, 2]}), "model 'v': layers.keep names layer 2 but the model has 2 layers"),
        (derived("distil", {"layers": 2}), "model 'v': distil.layers is 2 but the teacher has 2 layers"),
        (derived("heads", {"share": 1.0}), "model 'v': heads.share"),
        (derived("int8", {"bits": 4}), "model 'v': unknown int8 parameter 'bits'"),
        (derived("sparsegpt", {}), "model 'v': unknown compression method 'sparsegpt'; known: heads, layers, distil, prune"),
        (derived("Int8", {}), "method 'Int8' is not a method's name; see `miniature list methods`"),
        # a model given as fine-tuned for QA that is a bare encoder: refused before the first is trained
        ({"models": [base["models"][0], {"name": str(tiny_model("bert", 1)), "finetuned": True}]},
         "is marked `finetuned: true` but is saved as BertModel, not a question-answering model"),
        # MLM substitutes asked of an attack model without an MLM head (found in its weights' header)
        ({"adversarial": {**base["adversarial"], "candidates": "mlm"}},
         ("is asked for `candidates: mlm` but its weights have no trained head for it (no cls.predictions.bias "
          "in model.safetensors); use `candidates: embedding`")),
        # a K sweep larger than the points searched (30 dev points, a bank of 40)
        ({"representation": {"ks": [1, 30]}}, "representation: K=30 needs more than 30 dev points"),
        ({"distribution": {**base["distribution"], "k": 41}}, "distribution: K=41 needs at least 41 bank points"),
    ]
    (tmp_path / "a-file").write_text("not a folder")
    for change, message in cases:
        path = write_config(tmp_path, {**base, **change})
        assert main(["run", str(path), "--quiet"]) == 2, change
        err = capsys.readouterr().err
        assert message in err, (change, err)
        assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # nothing was started
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such run folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "holds no characteristic results" in capsys.readouterr().err


@pytest.mark.slow
def test_a_subset_study_reuses_the_cache_and_reports_only_its_characteristics(finished, tmp_path):
    """errors + adversarial alone over the same run folder: nothing trained again, and the report
    leaves out the representation and distribution results an earlier study left there."""
    from miniature import run

    cfg, _ = finished
    result = run(as_config({**cfg, "characteristics": ["adversarial", "errors"]}))
    assert [a.kind for a in result.computed] == []
    assert list(result.table2.columns) == ["model_i", "model_j", "prediction_errors"]  # the chosen ones' columns
    assert len(result.table3) == 2
    assert set(result.report.agreement) == {"errors", "adversarial"}
    run(as_config(cfg))  # the whole study again, for the tests that follow


@pytest.mark.slow
def test_derived_models_run_through_every_characteristic(tiny_model, tmp_path, monkeypatch):
    """`from:` + `method:` models in a study: each derived once per task from its source's checkpoint
    (and once from its pretrained weights, for "before"), then measured like any model."""
    from miniature import run

    cfg = study_config(tiny_model, tmp_path / "run")
    source = cfg["models"][0]
    cfg["models"] = [source,
                     {"from": "large", "method": "int8", "label": "int8"},
                     {"from": "large", "method": "prune", "params": {"sparsity": 0.5}, "label": "pruned",
                      "recovery_steps": 2},
                     {"from": "large", "method": "layers", "params": {"keep": [1]}, "label": "top-layer"},
                     {"from": "large", "method": "distil", "params": {"layers": 1}, "label": "student",
                      "distil": {"max_steps": 3, "batch_size": 8}}]
    import miniature.compress.train as train_module

    saved = []
    save = train_module._save_state
    monkeypatch.setattr(train_module, "SAVE_STEPS", 1)  # resume points after every step, then removed
    monkeypatch.setattr(train_module, "_save_state", lambda work, *a: (saved.append(work), save(work, *a)))
    result = run(write_config(tmp_path, cfg))
    assert {w.parent for w in saved} == {Path(cfg["run_dir"]) / "work" / "derive"} and len(set(saved)) == 4
    assert not any((Path(cfg["run_dir"]) / "work" / "derive").iterdir())  # each removed once stored
    derived = [a for a in result.computed if a.kind == "derived model"]
    # 4 variants x (qa, base for "before", classification); the source is fine-tuned once per task
    assert len(derived) == 12
    assert [a.kind for a in result.computed].count("qa checkpoint") == 1
    assert [a.kind for a in result.computed].count("classifier checkpoint") == 1
    labels = ["large", "int8", "pruned", "top-layer", "student"]
    assert list(result.table3["target_model"]) == labels
    assert len(result.table2) == 10 and list(result.table2["model_j"][:4]) == labels[1:]
    card = {r["model"]: r for r in json.loads((Path(cfg["run_dir"]) / "models" / "model_card.json").read_text())["rows"]}
    assert card["pruned"]["sparsity"] == pytest.approx(0.5, abs=1e-3)  # recovery kept the zeros
    assert card["int8"]["size_mb"] < card["large"]["size_mb"]
    assert card["top-layer"]["layers"] == card["student"]["layers"] == 1 and card["large"]["layers"] == 2
    again = run(write_config(tmp_path, cfg))
    assert again.computed == []


def test_latency_is_timed_on_a_single_input():
    # a dev set of one question: Table 1 still times it (the warm-up shrinks, no empty median)
    import torch
    from transformers import BertConfig, BertModel

    from miniature.model_card import latency_ms

    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=16))
    calls = []
    model.register_forward_hook(lambda *a: calls.append(1))
    assert latency_ms(model, [{"input_ids": [1, 5, 7, 2]}]) > 0 and len(calls) == 1
    calls.clear()
    assert latency_ms(model, [{"input_ids": [1, 5, 2]}] * 5) > 0 and len(calls) == 2 + 5


def test_a_checkpoint_killed_mid_save_is_dropped_and_training_resumes_from_the_last_whole_one(tmp_path):
    from miniature.tasks.training import last_complete_checkpoint

    work = tmp_path / "work"
    assert last_complete_checkpoint(work) is None  # nothing trained yet
    whole = work / "checkpoint-500"
    whole.mkdir(parents=True)
    (whole / "trainer_state.json").write_text(json.dumps({"global_step": 500}))
    torn = work / "checkpoint-1000"  # killed after config.json: no trainer state yet
    torn.mkdir()
    (torn / "config.json").write_text("{}")
    cut = work / "checkpoint-1500"  # killed while writing the trainer state
    cut.mkdir()
    (cut / "trainer_state.json").write_text('{"global_st')
    assert last_complete_checkpoint(work) == str(whole)
    assert sorted(p.name for p in work.iterdir()) == ["checkpoint-500"]
    (whole / "trainer_state.json").unlink()  # none whole: from the start, nothing left
    assert last_complete_checkpoint(work) is None and not any(work.iterdir())


def test_temporaries_of_killed_processes_are_swept(tmp_path):
    from miniature.runs import atomic_dir, sweep_stale_temps, temp_prefix

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead = int(gone.stdout)
    (tmp_path / "embeddings").mkdir()
    stale_file = tmp_path / "embeddings" / f".m-after-1.npy.pid{dead}.x1y2.tmp.npy"
    stale_file.write_bytes(b"half")
    stale_dir = tmp_path / f".checkpoint.pid{dead}.abc.tmp"
    (stale_dir / "inner").mkdir(parents=True)
    ours = tmp_path / f"{temp_prefix('p.json')}q.tmp"  # this process's: in progress, kept
    ours.write_text("x")
    keep = [tmp_path / "embeddings" / "m-after-1.npy", tmp_path / ".hidden.tmp"]  # finished; not ours to judge
    for p in keep:
        p.write_text("y")
    removed = sweep_stale_temps(tmp_path)
    assert sorted(removed) == sorted([stale_file, stale_dir])
    assert not stale_file.exists() and not stale_dir.exists() and ours.exists() and all(p.exists() for p in keep)
    with atomic_dir(tmp_path / "final") as scratch:  # the library's own temporaries carry the tag
        assert scratch.name.startswith(f".final.pid{os.getpid()}.") and scratch.name.endswith(".tmp")


def test_outputs_are_written_all_or_none(tmp_path):
    from miniature.runs import atomic_write_text, write_outputs

    out = tmp_path / "out"
    out.mkdir()
    (out / "table.md").write_text("last run's")

    def write(stage):
        return {"table": atomic_write_text(stage / "table.md", "new"),
                "set": atomic_write_text(stage / "sets" / "a.json", "{}")}

    paths = write_outputs(out, write, "t")
    assert paths == {"table": out / "table.md", "set": out / "sets" / "a.json"}
    assert (out / "table.md").read_text() == "new" and (out / "sets" / "a.json").read_text() == "{}"
    assert sorted(p.name for p in out.iterdir()) == [".miniature-t-outputs.json", "sets", "table.md"]  # no staging

    def fails(stage):
        atomic_write_text(stage / "table.md", "half")
        atomic_write_text(stage / "sets" / "b.json", "{}")
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space"):
        write_outputs(out, fails, "t")
    assert (out / "table.md").read_text() == "new" and sorted(p.name for p in (out / "sets").iterdir()) == ["a.json"]
    assert sorted(p.name for p in out.iterdir()) == [".miniature-t-outputs.json", "sets", "table.md"]
    # a killed process's staging folder is swept by the next write into the folder
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    stale = out / f".outputs.pid{int(gone.stdout)}.k1.tmp"
    (stale / "sets").mkdir(parents=True)
    write_outputs(out, write, "t")
    assert not stale.exists()



def test_outputs_a_command_no_longer_writes_are_removed_and_nothing_else(tmp_path):
    from miniature.runs import atomic_write_text, write_outputs

    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("the user's")
    write_outputs(out, lambda d: {"a": atomic_write_text(d / "sets" / "a.json", "{}"),
                                  "b": atomic_write_text(d / "sets" / "b.json", "{}"),
                                  "t": atomic_write_text(d / "errors.md", "x")}, "errors")
    write_outputs(out, lambda d: {"r": atomic_write_text(d / "representation.md", "r")}, "representation")
    # the next errors run compares other models: b's set goes, a's is rewritten
    write_outputs(out, lambda d: {"a": atomic_write_text(d / "sets" / "a.json", "{1}"),
                                  "t": atomic_write_text(d / "errors.md", "y")}, "errors")
    visible = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if not p.name.startswith("."))
    assert visible == ["errors.md", "notes.txt", "representation.md", "sets", "sets/a.json"]
    # and one that writes no set at all leaves no empty sets/ behind
    write_outputs(out, lambda d: {"t": atomic_write_text(d / "errors.md", "z")}, "errors")
    visible = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if not p.name.startswith("."))
    assert visible == ["errors.md", "notes.txt", "representation.md"]


@pytest.mark.slow
def test_the_report_describes_each_characteristic_from_its_report_spec(finished):
    """The report reads no plug-in: each characteristic's title and description come from the
    report spec it wrote beside its tables (report.json), as the registry has them."""
    from miniature.characteristics import CHARACTERISTICS

    _, result = finished
    record = json.loads((result.run_dir / "study.json").read_text())
    assert record["titles"] == {n: CHARACTERISTICS.get(n).heading for n in record["characteristics"]}
    report = (result.run_dir / "report.md").read_text()
    for name in record["characteristics"]:
        spec = json.loads((result.run_dir / name / "report.json").read_text())
        c = CHARACTERISTICS.get(name)
        assert (spec["name"], spec["title"]) == (name, c.heading)
        text = spec["description"]  # the class's, or (errors) the one of the study's task
        assert text == c.description or name == "errors" and "SQuAD 2.0 questions" in text
        assert text[:1].upper() + text[1:] + "." in report
        assert f"## {c.heading}" in report
