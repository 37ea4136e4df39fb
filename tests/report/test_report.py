"""The study report: tables, matrices, figures and HTML built from a run folder's files, checked by hand."""

from __future__ import annotations

import base64
import csv
import html
import io
import itertools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from miniature.bert_attack import AttackResult
from miniature.characteristics.adversarial import compare_attacks
from miniature.characteristics.distribution import Features, compare_distributions
from miniature.characteristics.errors import ErrorSet, compare_errors
from miniature.characteristics.errors import report_spec as errors_spec
from miniature.characteristics.outputs import TaskOutputs, compare_outputs
from miniature.characteristics.representation import compare_representations
from miniature.exceptions import DataError
from miniature.report.study import build_report
from miniature.runs import atomic_write_json, meta_block
from miniature.tables import write_table
from miniature.taskdefs import TASKS, Outputs

# the third name holds HTML's special characters: the report must escape it everywhere
NAMES = ["bert-large", "bert-base", "tiny<&>bert"]
PAIRS = list(itertools.combinations(NAMES, 2))
K = 10
PNG = b"\x89PNG\r\n\x1a\n"


def _outcome(i: int, kind: str) -> AttackResult:
    return AttackResult(f"e{i}", 1, kind, 0 if kind == "skipped" else 1, 0 if kind in ("skipped", "succeeded") else 1,
                        0.9, 0.1, 10, ((0, "a", "b"),) if kind == "succeeded" else (), 5, "t", "t")


def synthetic(seed: int = 0) -> dict:
    """Inputs of every characteristic for three models whose agreement falls with their 'size'."""
    rng = np.random.default_rng(seed)
    qids = [f"q{i}" for i in range(120)]
    hard = rng.random(120)
    errors = {n: frozenset(q for q, h in zip(qids, hard) if h + 0.25 * s * rng.random() > 0.6)
              for s, n in enumerate(NAMES)}
    base = rng.normal(size=(80, 12))
    phases = {p: {n: base + (0.4 + 0.5 * s + 0.3 * (p == "after")) * rng.normal(size=base.shape)
                  for s, n in enumerate(NAMES)} for p in ("before", "after")}
    shift = np.r_[np.zeros((40, 8)), np.full((40, 8), 1.2)]
    feats = {n: Features(rng.normal(size=(200, 8)), rng.normal(size=(60, 8)),
                         rng.normal(size=(80, 8)) + shift + 0.3 * s * rng.normal(size=(80, 8)))
             for s, n in enumerate(NAMES)}
    kinds = ["skipped", "failed", "succeeded", "over_budget"]
    attacks = {n: [_outcome(i, kinds[int(rng.choice(4, p=[0.1, 0.5 - 0.15 * s, 0.35 + 0.15 * s, 0.05]))])
                   for i in range(40)] for s, n in enumerate(NAMES)}
    scores = [{"model": n, "exact": 80.0 - 9 * s, "f1": 83.5 - 8 * s, "HasAns_exact": 70.0, "HasAns_f1": 75.0,
               "NoAns_exact": 90.0, "NoAns_f1": 90.0, "total": 120} for s, n in enumerate(NAMES)]
    labels = rng.integers(0, 2, 90)
    logits = rng.normal(size=(90, 2)) + 1.5 * np.eye(2)[labels]
    outputs = {}
    for s, n in enumerate(NAMES):
        z = logits + 0.6 * s * rng.normal(size=logits.shape)
        probs = np.exp(z - z.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        pred = probs.argmax(1)
        outputs[n] = Outputs(tuple(f"t{i}" for i in range(90)), tuple(str(c) for c in pred), pred == labels, probs,
                             labels)
    return {"errors": errors, "phases": phases, "feats": feats, "attacks": attacks, "scores": scores,
            "outputs": outputs}


def make_run(root: Path, data: dict, parts=("errors", "representation", "distribution", "adversarial"),
             study: bool = True) -> Path:
    meta = meta_block()
    if "errors" in parts:
        sets = [ErrorSet(n, data["errors"][n], n_questions=120) for n in NAMES]
        compare_errors(sets).write(root / "errors", meta, errors_spec(TASKS.get("qa")))  # as a study of QA writes
        write_table(root / "errors", "scores", data["scores"], meta, digits=2)
    if "representation" in parts:
        compare_representations(data["phases"], ks=(1, 5, 10, 20), table_k=K).write(root / "representation", meta)
    if "distribution" in parts:
        compare_distributions(data["feats"], ks=(1, 5, 10, 20), table_k=K, tpr=0.9).write(root / "distribution", meta)
    if "adversarial" in parts:
        compare_attacks(data["attacks"], "bert-base").write(root / "adversarial", meta)
    if "outputs" in parts:
        compare_outputs([TaskOutputs("classification", None, data["outputs"])], n_boot=200).write(root / "outputs",
                                                                                                   meta)
    if study:
        models = [{"label": n, "name": n, "source": f"hub/{n}", "revision": f"rev{s}"} for s, n in enumerate(NAMES)]
        atomic_write_json(root / "study.json", {"meta": meta_block(
            config={"run_dir": str(root)}, models=models, datasets={"dev": "sha256:abc123"},
            seeds={"qa": 42}), "characteristics": list(parts)})
    return root


@pytest.fixture(scope="module")
def data() -> dict:
    return synthetic()


@pytest.fixture(scope="module")
def full(tmp_path_factory, data):
    root = make_run(tmp_path_factory.mktemp("run"), data)
    return root, build_report(root)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def rows_of(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["rows"]


def by_pair(rows: list[dict]) -> dict[frozenset, dict]:
    return {frozenset((r["model_i"], r["model_j"])): r for r in rows}


def brute_knn_jaccard(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Mean per-point Jaccard of cosine K-NN sets, by a full similarity matrix."""
    def sets(x):
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        sim = x @ x.T
        np.fill_diagonal(sim, -np.inf)
        return [set(np.argsort(-row, kind="stable")[:k]) for row in sim]
    return float(np.mean([len(p & q) / len(p | q) for p, q in zip(sets(a), sets(b))]))


def set_jaccard(a: set, b: set) -> float:
    return 1.0 if not a | b else len(a & b) / len(a | b)


def test_table2_equals_the_characteristic_files_and_a_brute_force(full, data):
    root, report = full
    t2 = read_csv(root / "table2.csv")
    assert [(r["model_i"], r["model_j"]) for r in t2] == PAIRS
    err = by_pair(rows_of(root / "errors" / "errors.json"))
    rep = by_pair(rows_of(root / "representation" / "representation.json"))
    dist = by_pair(rows_of(root / "distribution" / "distribution.json"))
    ood = json.loads((root / "distribution" / "ood_sets.json").read_text())["sets"]
    for row in t2:
        i, j = row["model_i"], row["model_j"]
        key = frozenset((i, j))
        assert float(row["prediction_errors"]) == pytest.approx(err[key]["jaccard"], abs=1e-12)
        assert float(row["prediction_errors"]) == pytest.approx(set_jaccard(data["errors"][i], data["errors"][j]))
        for phase in ("before", "after"):
            for stat in ("mean", "variance"):
                assert float(row[f"representation_{phase}_{stat}"]) == pytest.approx(rep[key][f"{phase}_{stat}"])
            brute = brute_knn_jaccard(data["phases"][phase][i], data["phases"][phase][j], K)
            assert float(row[f"representation_{phase}_mean"]) == pytest.approx(brute)
        assert float(row["distribution"]) == pytest.approx(dist[key]["jaccard"])
        assert float(row["distribution"]) == pytest.approx(set_jaccard(set(ood[i][str(K)]), set(ood[j][str(K)])))
    assert report.table2[["model_i", "model_j"]].values.tolist() == [list(p) for p in PAIRS]
    assert any(0 < float(r["distribution"]) < 1 for r in t2)  # the synthetic sets overlap, partly


def test_table3_and_per_model_rows_equal_hand_counts(full, data):
    root, report = full
    t3 = read_csv(root / "table3.csv")
    assert [r["target_model"] for r in t3] == NAMES
    for r in t3:
        res = data["attacks"][r["target_model"]]
        orig = sum(x.outcome != "skipped" for x in res) / len(res)
        after = sum(x.outcome in ("failed", "over_budget") for x in res) / len(res)
        assert r["attack_model"] == "bert-base"
        assert float(r["original_accuracy"]) == pytest.approx(orig)
        assert float(r["after_attack_accuracy"]) == pytest.approx(after)
        assert float(r["percent_change"]) == pytest.approx(100 * (orig - after) / orig)
    per = {r["model"]: r for r in read_csv(root / "per_model.csv")}
    detectors = [d for d in rows_of(root / "distribution" / "distribution_detectors.json") if d["k"] == K]
    for s in data["scores"]:
        m = per[s["model"]]
        assert (float(m["exact"]), float(m["f1"])) == (s["exact"], s["f1"])
    for d in detectors:
        assert float(per[d["model"]]["ood_auroc"]) == pytest.approx(d["auroc"])
        assert float(per[d["model"]]["share_flagged"]) == pytest.approx(d["share_flagged"])
    for r in t3:
        assert float(per[r["target_model"]]["after_attack_accuracy"]) == pytest.approx(float(r["after_attack_accuracy"]))
    assert report.models["model"].tolist() == NAMES


def test_agreement_matrices_are_the_pairwise_values(full, data):
    root, report = full
    agreement = json.loads((root / "results.json").read_text())["agreement"]
    assert list(agreement) == ["errors", "representation_before", "representation_after", "distribution", "adversarial"]
    attacked = {n: {x.id for x in rs if x.outcome == "succeeded"} for n, rs in data["attacks"].items()}
    rep = by_pair(rows_of(root / "representation" / "representation.json"))
    dist = by_pair(rows_of(root / "distribution" / "distribution.json"))
    truth = {
        "errors": lambda i, j: set_jaccard(data["errors"][i], data["errors"][j]),
        "representation_before": lambda i, j: rep[frozenset((i, j))]["before_mean"],
        "representation_after": lambda i, j: rep[frozenset((i, j))]["after_mean"],
        "distribution": lambda i, j: dist[frozenset((i, j))]["jaccard"],
        "adversarial": lambda i, j: set_jaccard(attacked[i], attacked[j]),
    }
    for name, agr in agreement.items():
        assert agr["models"] == NAMES
        m = np.array(agr["matrix"], dtype=float)
        assert m.shape == (3, 3)
        assert np.array_equal(m, m.T)
        assert np.all(np.diag(m) == 1.0)
        assert np.all((m >= 0) & (m <= 1))
        for a, b in PAIRS:
            assert m[NAMES.index(a), NAMES.index(b)] == pytest.approx(truth[name](a, b))
        np.testing.assert_allclose(report.agreement[name].loc[NAMES, NAMES].to_numpy(), m)


def test_results_json_carries_the_study_meta(full, tmp_path, data):
    root, _ = full
    results = json.loads((root / "results.json").read_text())
    study = json.loads((root / "study.json").read_text())
    assert results["meta"] == study["meta"]
    assert [m["revision"] for m in results["meta"]["models"]] == ["rev0", "rev1", "rev2"]
    assert set(results) >= {"meta", "table2", "table3", "models", "agreement"}
    # without study.json the meta block is the package's own
    bare = make_run(tmp_path / "bare", data, ("errors",), study=False)
    meta = json.loads((build_report(bare).paths["results"]).read_text())["meta"]
    assert meta["package"] == "miniature" and {"version", "git_commit", "time"} <= set(meta)


def figures_of(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*.png"))


def test_every_figure_is_a_real_png(full):
    from PIL import Image

    root, _ = full
    names = {p.name for p in figures_of(root)}
    assert names == {"figure1.png", "heatmap_errors.png", "heatmap_representation_before.png",
                     "heatmap_representation_after.png", "heatmap_distribution.png", "heatmap_adversarial.png",
                     "models_scores.png", "models_ood_auroc.png", "models_attack.png", "scorecard.png"}
    for p in figures_of(root):
        raw = p.read_bytes()
        assert raw.startswith(PNG) and len(raw) > 8_000, p.name
        with Image.open(io.BytesIO(raw)) as im:
            im.verify()
        with Image.open(io.BytesIO(raw)) as im:
            assert im.width >= 400 and im.height >= 300
            assert len(set(im.convert("RGB").getdata())) > 50, f"{p.name} looks blank"
    with Image.open(root / "figure1.png") as im:
        assert im.width > 2 * im.height  # three panels side by side


def test_html_is_self_contained_escaped_and_shows_the_values(full):
    root, _ = full
    page = (root / "report.html").read_text(encoding="utf-8")
    srcs = re.findall(r'\b(?:src|href)="([^"]*)"', page)
    assert srcs and all(s.startswith(("data:image/png;base64,", "#")) for s in srcs)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    imgs = re.findall(r'<img src="data:image/png;base64,([^"]+)"[^>]*data-name="([^"]+)"', page)
    assert sorted(n for _, n in imgs) == sorted(p.name for p in figures_of(root))
    for data64, name in imgs:
        assert base64.b64decode(data64) == (root / name).read_bytes()
    for name in NAMES:
        assert html.escape(name) in page
    assert "tiny<&>bert" not in page  # never raw
    for row in read_csv(root / "table2.csv") + read_csv(root / "table3.csv"):
        for col, v in row.items():
            if col not in ("model_i", "model_j", "attack_model", "target_model"):
                assert f">{float(v):.4f}<" in page, (col, v)
    assert "sha256:abc123" in page and "rev2" in page and "hub/bert-large" in page  # provenance
    md = (root / "report.md").read_text(encoding="utf-8")
    assert "![" in md and "figure1.png" in md and "| model_i | model_j |" in md


@pytest.mark.parametrize("study", [False, True])
def test_a_subset_leaves_the_other_parts_out(tmp_path, data, study):
    """Table 2 and the per-model table have the columns of the characteristics that ran; one the
    study chose that left no results is named as missing (without study.json nothing is known of it)."""
    root = make_run(tmp_path, data, ("errors", "adversarial"), study=study)
    if study:  # the study chose all four; two left no results
        record = json.loads((root / "study.json").read_text())
        record["characteristics"] = ["errors", "representation", "distribution", "adversarial"]
        record["titles"] = {"representation": "Data representation", "distribution": "Data distribution"}
        (root / "study.json").write_text(json.dumps(record))
    report = build_report(root)
    t2 = read_csv(root / "table2.csv")
    assert [(r["model_i"], r["model_j"]) for r in t2] == PAIRS
    assert list(t2[0]) == ["model_i", "model_j", "prediction_errors"]
    for r in t2:
        assert float(r["prediction_errors"]) == pytest.approx(set_jaccard(data["errors"][r["model_i"]],
                                                                          data["errors"][r["model_j"]]))
    assert list(report.table2.columns) == ["model_i", "model_j", "prediction_errors"]
    assert {p.name for p in figures_of(root)} == {"heatmap_errors.png", "heatmap_adversarial.png",
                                                   "models_scores.png", "models_attack.png", "scorecard.png"}
    assert set(report.agreement) == {"errors", "adversarial"}
    per = read_csv(root / "per_model.csv")
    assert list(per[0]) == ["model", "exact", "f1", "original_accuracy", "after_attack_accuracy"]
    assert all(r["original_accuracy"] != "" for r in per)
    page = (root / "report.html").read_text(encoding="utf-8")
    assert 'id="representation"' not in page and 'id="distribution"' not in page
    assert ("Not in this run: data representation, data distribution" in page) == study
    assert len(read_csv(root / "table3.csv")) == 3


def test_a_rebuild_drops_figures_of_results_now_gone(tmp_path, data):
    root = make_run(tmp_path, data, ("errors", "representation"))
    build_report(root)
    assert (root / "heatmap_representation_after.png").is_file()
    shutil.rmtree(root / "representation")
    build_report(root)
    assert not (root / "heatmap_representation_after.png").exists() and not (root / "figure1.png").exists()


def test_no_results_and_malformed_files_are_one_line_data_errors(tmp_path, data):
    with pytest.raises(DataError, match="holds no characteristic results; run `miniature run CONFIG` first"):
        build_report(tmp_path)
    with pytest.raises(DataError, match="no such run folder"):
        build_report(tmp_path / "absent")
    root = make_run(tmp_path / "run", data, ("errors", "distribution"))
    bad = root / "distribution" / "distribution.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(str(bad))):
        build_report(root)
    bad.write_text(json.dumps({"meta": {}, "rows": [{"model_i": "a", "model_j": "b", "jaccard": "high"}]}))
    with pytest.raises(DataError, match=re.escape(str(bad)) + ".*'jaccard' must be a number"):
        build_report(root)
    shutil.rmtree(root / "distribution")
    spec_path = root / "errors" / "report.json"
    good = json.loads(spec_path.read_text())
    for change, why in (({"format": 0}, "written in format 0"), ({"title": 3}, "'title' must be text"),
                        ({"colour": "red"}, "unknown field 'colour'"),
                        ({"blocks": [{"kind": "poem"}]}, "blocks\\[0\\] has kind 'poem'"),
                        ({"agreements": [{"name": "x"}]}, "agreements\\[0\\] lacks 'title'"),
                        ({"table2": [{"column": "c", "rows": {"file": "errors"}, "value": 1}]},
                         "table2\\[0\\].value must be text"),
                        ({"name": "other"}, "the report spec of 'other' lies in the folder errors/")):
        spec_path.write_text(json.dumps({**good, **change}))
        with pytest.raises(DataError, match=re.escape(str(spec_path)) + ".*" + why):
            build_report(root)
    assert not (root / "report.html").exists()


def test_building_a_report_loads_no_model_library(full):
    root, _ = full
    code = ("import sys; from miniature.report.study import build_report; build_report(sys.argv[1]); "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def chromium(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("no chromium to render the report: apt-get install chromium")
    return subprocess.run([exe, "--headless=new", "--no-sandbox", "--disable-gpu", *args],
                          check=False, capture_output=True, text=True, timeout=120)


def test_report_renders_in_headless_chromium(full, tmp_path):
    from PIL import Image

    root, _ = full
    page = root / "report.html"
    profile = f"--user-data-dir={tmp_path / 'profile'}"
    shot = tmp_path / "shot.png"
    done = chromium(profile, f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri())
    assert shot.is_file(), done.stderr[-2000:]
    with Image.open(shot) as im:
        assert im.size == (1280, 2400)
        px = np.asarray(im.convert("RGB"))
    assert (px.min(axis=2) < 235).mean() > 0.10  # a tenth of the page is not white
    assert len(np.unique(px.reshape(-1, 3), axis=0)) > 500  # figures, not flat boxes
    dom = chromium(profile, "--dump-dom", page.as_uri()).stdout
    source = page.read_text(encoding="utf-8")
    n_figures = len(figures_of(root))
    assert dom.count("<table") == source.count("<table") >= 8
    assert dom.count("<img ") == n_figures
    assert f'data-images-loaded="{n_figures}"' in dom  # every embedded PNG decoded in a real browser
    for name in NAMES:
        assert html.escape(name, quote=False) in dom
    assert "Scorecard: each compressed model's agreement with bert-large" in dom and "The verdict rule" in dom


def test_k_sweep_figures_draw_the_chance_levels(tmp_path, monkeypatch):
    """Figure 1 draws each pair's chance level dotted (one grey line where all pairs share it, as
    K-NN sets do), at the values the sweep rows carry."""
    from miniature import plots as figures

    drawn = []
    monkeypatch.setattr(figures, "_save", lambda plt, fig, path: drawn.append(fig) or Path(path))

    def rows(chances: dict) -> list[dict]:
        return [{"model_i": "L", "model_j": o, "k": k, "mean": 0.5, "chance": c[k]}
                for o, c in chances.items() for k in (1, 5)]

    shared = {1: 0.01, 5: 0.05}
    figures.plot_figure1(tmp_path / "f.png", {"knn": rows({"a": shared, "b": shared}),
                                              "ood": rows({"a": {1: 0.2, 5: 0.3}, "b": {1: 0.4, 5: 0.1}})}, "L")
    knn_ax, ood_ax = drawn[0].axes
    dotted = [[(tuple(line.get_xdata()), tuple(line.get_ydata())) for line in ax.get_lines()
               if line.get_linestyle() == ":"] for ax in (knn_ax, ood_ax)]
    assert dotted[0] == [((1, 5), (0.01, 0.05))]
    assert dotted[1] == [((1, 5), (0.2, 0.3)), ((1, 5), (0.4, 0.1))]
    colours = {line.get_label(): line.get_color() for line in ood_ax.get_lines() if line.get_linestyle() == "-"}
    assert [line.get_color() for line in ood_ax.get_lines() if line.get_linestyle() == ":"] == [colours["a"],
                                                                                               colours["b"]]


def test_overview_cards_give_the_mean_corrected_for_chance(full, data):
    """Each card's corrected mean is the mean over the large model's pairs of (J - chance) / (1 -
    chance), chance computed here from the error sets' sizes and the 120 questions."""
    from miniature.agreement import chance_jaccard

    root, _ = full
    large = NAMES[0]
    fixed = []
    for other in NAMES[1:]:
        a, b = data["errors"][large], data["errors"][other]
        j, chance = len(a & b) / len(a | b), chance_jaccard(len(a), len(b), 120)
        fixed.append((j - chance) / (1 - chance))
    md = (root / "report.md").read_text(encoding="utf-8")
    card = next(line for line in md.splitlines() if line.startswith("- **Prediction errors"))
    assert f"; {sum(fixed) / len(fixed):.3f} corrected for chance;" in card
    for title in ("Representation (before", "Representation (after", "Data distribution", "Adversarial"):
        assert "corrected for chance" in next(line for line in md.splitlines() if line.startswith(f"- **{title}"))


def test_table2_corrected_for_chance(full, data):
    """table2_corrected: Table 2's layout with (J - chance) / (1 - chance); the errors column
    recomputed here from the sets, the others taken from the characteristics' own files."""
    from miniature.agreement import chance_jaccard

    root, report = full
    rows = by_pair(read_csv(root / "table2_corrected.csv"))
    assert len(rows) == 3 and "table2_corrected_csv" in report.paths
    rep = by_pair(read_csv(root / "representation" / "representation.csv"))
    dist = by_pair(read_csv(root / "distribution" / "distribution.csv"))
    for key, row in rows.items():
        i, j = sorted(key)
        a, b = data["errors"][i], data["errors"][j]
        chance = chance_jaccard(len(a), len(b), 120)
        assert float(row["prediction_errors"]) == pytest.approx((len(a & b) / len(a | b) - chance) / (1 - chance))
        assert float(row["representation_after"]) == pytest.approx(float(rep[key]["after_corrected"]))
        assert float(row["distribution"]) == pytest.approx(float(dist[key]["corrected_jaccard"]))
    assert "Table 2 corrected for chance" in (root / "report.md").read_text(encoding="utf-8")


def _with_spec(root: Path, name: str, **change) -> Path:
    path = root / name / "report.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    return path


def test_specs_cannot_write_outside_or_over_the_reports_own_files(tmp_path, data):
    """A report spec's names are plain file names, its exports never replace the report's own files,
    its numbers are in range and its card texts name only their fields; two characteristics never
    claim the same output; the rows the study tables read hold model names and numbers. Each is a
    one-line DataError naming the file, and nothing is written."""
    root = make_run(tmp_path / "run", data, ("errors", "adversarial"))
    adv = json.loads((root / "adversarial" / "report.json").read_text())
    export = adv["exports"][0]
    for change, why in (({"exports": [{**export, "stem": "../evil"}]}, "not a plain file name"),
                        ({"exports": [{**export, "stem": "table2"}]}, "one of the report's own files"),
                        ({"bars": [{**adv["bars"][0], "name": "../x.png"}]}, "not a plain file name"),
                        ({"blocks": [{"kind": "figure", "name": "a/b.png", "caption": "c"}]}, "not a plain file"),
                        ({"blocks": [{**adv["blocks"][0], "digits": -1}]}, "digits -1 must lie in 0..12"),
                        ({"cards": [{**adv["cards"][0], "note": "lost by {x}"}]}, "{x} is not one of {reference}"),
                        ({"agreements": [{**adv["agreements"][0], "lower": 1.0}]}, "must be below 1")):
        path = _with_spec(root, "adversarial", **change)
        with pytest.raises(DataError, match=re.escape(str(path)) + ".*" + re.escape(why)):
            build_report(root)
        path.write_text(json.dumps(adv))
    errors = json.loads((root / "errors" / "report.json").read_text())
    _with_spec(root, "adversarial", agreements=adv["agreements"] + [{**errors["agreements"][0]}])
    with pytest.raises(DataError, match="both errors and adversarial report the agreement 'errors'"):
        build_report(root)
    (root / "adversarial" / "report.json").write_text(json.dumps(adv))
    doc = json.loads((root / "errors" / "errors.json").read_text())
    doc["rows"][0]["corrected_jaccard"] = "high"
    (root / "errors" / "errors.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match="errors.json: row 0 column 'corrected_jaccard' must be a number"):
        build_report(root)
    assert not (root / "report.html").exists() and not (tmp_path / "evil.md").exists()


def test_a_run_folder_from_before_report_specs_says_to_rerun(tmp_path, data):
    root = make_run(tmp_path / "run", data, ("errors",))
    (root / "errors" / "report.json").unlink()
    with pytest.raises(DataError, match="no report.json \\(written by an older miniature\\); run `miniature run "
                                        "CONFIG` again: only the comparisons are recomputed"):
        build_report(root)


def test_text_and_figure_blocks_of_a_spec_reach_the_report(tmp_path, data):
    """A characteristic's own figure (named in its spec) is copied to the top of the run folder as
    <characteristic>_<name> and shown with its caption; a text block is a paragraph."""
    from miniature.plots import plot_bars

    root = make_run(tmp_path / "run", data, ("errors",))
    plot_bars(root / "errors" / "sizes.png", NAMES, {"errors": [1.0, 2.0, 3.0]}, "sizes", "n")
    spec = json.loads((root / "errors" / "report.json").read_text())
    spec["blocks"] += [{"kind": "text", "text": "A note of its own."},
                       {"kind": "figure", "name": "sizes.png", "caption": "Error-set sizes."}]
    (root / "errors" / "report.json").write_text(json.dumps(spec))
    report = build_report(root)
    assert (root / "errors_sizes.png").read_bytes() == (root / "errors" / "sizes.png").read_bytes()
    md = (root / "report.md").read_text(encoding="utf-8")
    assert "A note of its own." in md and "Error-set sizes." in md and "errors_sizes.png" in md
    assert report.paths["errors_sizes"] == root / "errors_sizes.png"
    html = (root / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == len(figures_of(root))


def test_the_scorecard_gives_each_compressed_model_a_verdict_by_the_stated_rule(tmp_path, data):
    """Each row: a characteristic's chance-corrected agreement of a compressed model with the first,
    its 95% interval mapped through (x - chance) / (1 - chance) from the files' own interval, and the
    verdict by the rule the page states (>= 0.6 over the whole interval: a miniature)."""
    root = make_run(tmp_path / "run", data, ("errors", "representation", "distribution", "adversarial", "outputs"))
    build_report(root)
    results = json.loads((root / "results.json").read_text(encoding="utf-8"))
    got = {(r["model"], r["agreement"]): r for r in results["scorecard"]}
    ref = NAMES[0]

    def expect(model, name, row, value, lo, hi, chance):
        lo, hi = (lo - chance) / (1 - chance), (hi - chance) / (1 - chance)
        rule = "miniature" if lo >= 0.6 else "different" if hi < 0.6 else "undecided"
        r = got[(model, name)]
        assert r["corrected"] == pytest.approx(value) and r["reference"] == ref
        assert (r["ci_low"], r["ci_high"]) == (pytest.approx(lo), pytest.approx(hi)) and r["verdict"] == rule
        return rule

    verdicts = {m: [] for m in NAMES[1:]}
    for m in NAMES[1:]:
        key = frozenset((ref, m))
        for name in ("errors", "distribution"):
            r = by_pair(rows_of(root / name / f"{name}.json"))[key]
            verdicts[m].append(expect(m, name, r, r["corrected_jaccard"], r["jaccard_ci_low"], r["jaccard_ci_high"],
                                      r["chance_jaccard"]))
        r = by_pair(rows_of(root / "adversarial" / "adversarial_agreement.json"))[key]
        verdicts[m].append(expect(m, "adversarial", r, r["corrected_jaccard"], r["jaccard_ci_low"],
                                  r["jaccard_ci_high"], r["chance_jaccard"]))
        r = by_pair(rows_of(root / "representation" / "representation.json"))[key]
        for p in ("before", "after"):
            verdicts[m].append(expect(m, f"representation_{p}", r, r[f"{p}_corrected"], r[f"{p}_mean"] - r[f"{p}_ci95"],
                                      r[f"{p}_mean"] + r[f"{p}_ci95"], r["chance"]))
        r = by_pair(rows_of(root / "outputs" / "outputs.json"))[key]
        verdicts[m].append(expect(m, "outputs_classification", r, r["kappa"], r["top1_agreement_ci_low"],
                                  r["top1_agreement_ci_high"], r["chance_agreement"]))
    assert len(got) == 2 * 6
    for line in results["verdicts"]:
        mine = verdicts[line["model"]]
        assert (line["miniature"], line["different"], line["undecided"], line["of"]) == (
            mine.count("miniature"), mine.count("different"), mine.count("undecided"), 6)
        assert line["verdict"].startswith(f"a miniature of {ref} on {mine.count('miniature')} of 6 ")
        assert html.escape(line["verdict"], quote=False) in (root / "report.html").read_text(encoding="utf-8")
    assert len(read_csv(root / "scorecard.csv")) == 12 and (root / "scorecard.png").read_bytes()[:8] == PNG
    # the weaker model is never more of a miniature than the stronger one here
    assert verdicts[NAMES[2]].count("miniature") <= verdicts[NAMES[1]].count("miniature")
