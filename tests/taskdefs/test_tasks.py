"""The task plug-ins: per-item outputs of QA and classification checked against plain forward passes
of the same checkpoints, errors of any task from a config line, and `finetuned_for`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from miniature.exceptions import ConfigError, DataError
from miniature.taskdefs import TASKS, Outputs, Task
from tests.conftest import DEV, TRAIN, cli_fails, need_shared
from tests.test_study import IMDB, study_config, write_config


def test_registry_and_protocol():
    assert list(TASKS)[:2] == ["qa", "classification"]
    for name, task in TASKS.items():
        assert isinstance(task, Task) and task.name == name and task.description and task.items_noun
        assert task.score_columns[0] == "model"
        assert all(source in task.score_columns for source, _ in task.headline.values())
        for method in ("train_data", "items", "weights", "outputs", "scores"):
            assert getattr(type(task), method) is not getattr(Task, method), (name, method)


def test_outputs_round_trip_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=5)
    labels = np.array([0, 1, 2, 1, 0])
    values = rng.normal(size=9).astype(np.float32)
    out = Outputs(("a", "b", "c", "d", "é"), tuple(str(int(p)) for p in probs.argmax(1)), probs.argmax(1) == labels,
                  probs, labels, {"start": (values, np.array([0, 4, 9]))}, np.array([0, 3]),
                  {"no_answer_prob": np.linspace(0, 1, 5)}, "here")
    back = Outputs.load(out.save(tmp_path / "o.npz"))
    assert back.ids == out.ids and back.predictions == out.predictions
    assert np.array_equal(back.correct, out.correct) and np.array_equal(back.probs, probs)
    assert np.array_equal(back.window("start", 1), values[4:9]) and np.array_equal(back.window_item, [0, 3])
    assert np.array_equal(back.extra["no_answer_prob"], np.linspace(0, 1, 5))
    assert back.errors == {i for i, p, y in zip(out.ids, probs.argmax(1), labels) if p != y}
    assert back.accuracy == pytest.approx(np.mean(probs.argmax(1) == labels))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a miniature outputs file"):
        Outputs.load(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="one entry per item"):
        Outputs(("a",), ("x", "y"), np.array([True]))


def _study(tiny_model, tmp_path, **changes):
    cfg = study_config(tiny_model, tmp_path / "run")
    cfg.update(changes)
    from miniature.config import parse_config

    return parse_config(cfg)


@pytest.mark.slow
def test_qa_outputs_are_the_models_log_probabilities(tiny_model, tmp_path):
    """QA outputs: the official post-processing's answers, exact match as correctness, and every
    window's start/end log-probabilities, equal to a plain forward pass of the checkpoint."""
    import torch

    from miniature.checkpoints import study_models
    from miniature.runs import RunDir
    from miniature.scoring import normalize_answer
    from miniature.tasks.qa_features import encode_eval
    from miniature.zoo import load_qa_model, load_tokenizer

    need_shared(DEV, TRAIN)
    cfg = _study(tiny_model, tmp_path)
    task = TASKS.get("qa")
    specs, _ = study_models(cfg)
    items, run = task.items(cfg), RunDir(cfg.run_dir)
    weights = task.weights(cfg, 0, specs, task.train_data(cfg), run)
    out = task.outputs(cfg, specs[0], weights, items, run)
    preds = json.loads(open(out.source).read())
    assert out.predictions == tuple(preds[e.id] for e in items.examples)
    for e, ok in zip(items.examples, out.correct):  # exact match by the official normalisation
        golds = [normalize_answer(a.text) for a in e.answers if normalize_answer(a.text)] or [""]
        assert ok == (normalize_answer(preds[e.id]) in golds)
    tokenizer, model = load_tokenizer(specs[0], weights[0]), load_qa_model(specs[0], weights[0]).eval()
    q = cfg.qa
    feats = encode_eval(tokenizer, items.examples[:3], q.max_seq_length, q.doc_stride, q.max_query_length,
                        {"input_ids", "attention_mask", "token_type_ids"})
    for w, inputs in enumerate(feats.inputs):
        with torch.no_grad():
            logits = model(**{k: torch.tensor([v]) for k, v in inputs.items()})
        assert out.window_item[w] == feats.example_index[w]
        for name in ("start", "end"):
            expected = torch.log_softmax(getattr(logits, f"{name}_logits")[0].double(), -1).numpy()
            assert np.allclose(out.window(name, w), expected, atol=1e-4)
            assert np.exp(out.window(name, w).astype(np.float64)).sum() == pytest.approx(1.0, abs=1e-4)
    assert task.scores(items, out)["exact"] == pytest.approx(100 * out.correct.mean())


@pytest.mark.slow
def test_errors_on_the_classification_task_are_a_config_line(tiny_model, tmp_path):
    """errors.task: classification: every model fine-tuned on the reviews, its error set the test
    texts whose argmax of a plain forward pass differs from the label; its accuracy in the scores,
    the per-model table and the report."""
    import torch

    from miniature import run
    from miniature.zoo import load_classifier, load_tokenizer, resolve_model

    need_shared(IMDB)
    cfg = study_config(tiny_model, tmp_path / "run")
    cfg.update(characteristics=["errors"], errors={"task": "classification"})
    result = run(write_config(tmp_path, cfg))
    assert {a.kind for a in result.computed} >= {"classifier checkpoint", "classifier outputs"}
    assert not any(a.kind in ("qa checkpoint", "predictions") for a in result.activity)
    sets = {s["name"]: s for s in json.loads((result.run_dir / "errors" / "errors.json").read_text())["sets"]}
    scores = {r["model"]: r for r in json.loads((result.run_dir / "errors" / "scores.json").read_text())["rows"]}
    from miniature.checkpoints import classification_samples
    from miniature.config import parse_config

    _, texts = classification_samples(parse_config(cfg), True)
    assert len(texts) == cfg["classification"]["test_limit"]
    for name, entry in (("large", cfg["models"][0]), ("small", cfg["models"][1])):
        spec = resolve_model(entry["name"])
        out = Outputs.load(next(a.path for a in result.activity if a.kind == "classifier outputs" and spec.name in a.path))
        folder = next(p for p in (result.run_dir / "checkpoints").iterdir() if p.name.startswith(f"cls-{spec.name}-"))
        tokenizer, model = load_tokenizer(spec, folder), load_classifier(spec, folder).eval()
        wrong = set()
        for e, p in zip(texts.examples, out.probs):
            enc = tokenizer(e.text, truncation=True, max_length=cfg["classification"]["max_length"],
                            return_tensors="pt")
            with torch.no_grad():
                probs = torch.softmax(model(**enc).logits[0].double(), -1).numpy()
            assert np.allclose(p, probs, atol=1e-5)
            if probs.argmax() != e.label:
                wrong.add(e.id)
        assert sets[name]["errors"] == len(wrong) and out.errors == wrong
        assert scores[name]["accuracy"] == pytest.approx(1 - len(wrong) / len(texts))
    per_model = {r["model"]: r for r in json.loads((result.run_dir / "per_model.json").read_text())["rows"]}
    assert per_model["large"]["accuracy"] == pytest.approx(scores["large"]["accuracy"])
    page = (result.run_dir / "report.html").read_text(encoding="utf-8")
    assert "Accuracy on the test texts" in page and "test texts each model gets wrong" in page
    assert run(write_config(tmp_path, cfg)).computed == []


def test_finetuned_for_names_known_tasks_and_not_on_derived_models(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(f"run_dir: {tmp_path / 'run'}\ncharacteristics: [errors]\n"
                    "models: [{name: minilm, finetuned_for: [qa, summarise]}]\n")
    cli_fails(capsys, ["run", str(path)], "config key 'models.0.finetuned_for.1': unknown task 'summarise'; known: "
                                          "qa, classification")
    from miniature.config import parse_config

    with pytest.raises(ConfigError, match="is derived: it takes `finetuned_for`"):
        parse_config({"models": ["minilm", {"from": "minilm", "method": "int8", "finetuned_for": ["qa"]}]})
    entry = parse_config({"models": [{"name": "minilm", "finetuned": True, "finetuned_for": ["classification"]}]})
    assert entry.models[0].given_tasks == {"qa", "classification"}
    path.write_text(f"run_dir: {tmp_path / 'run'}\ncharacteristics: [errors]\nmodels: [minilm]\n"
                    "errors: {task: sumarise}\n")
    cli_fails(capsys, ["run", str(path)], "config key 'errors.task': unknown task 'sumarise'; known: qa, classification")


@pytest.mark.slow
def test_representation_and_cka_on_the_classification_tasks_texts(tiny_model, tmp_path, capsys):
    """representation.task: classification: the test texts embedded (CLS of the last layer) by the
    pretrained model (before) and by the classifier's encoder (after), equal to a plain forward
    pass; CKA follows on the same cached embeddings; no QA model is trained."""
    import torch

    from miniature import run
    from miniature.characteristics.representation import model_embeddings
    from miniature.checkpoints import classification_samples
    from miniature.config import parse_config
    from miniature.zoo import load_encoder, load_tokenizer, resolve_model

    need_shared(IMDB)
    cfg = study_config(tiny_model, tmp_path / "run")
    cfg.update(characteristics=["representation", "cka"], cka={"k": 2},
               representation={"task": "classification", "ks": [1, 2], "table_k": 2})
    result = run(write_config(tmp_path, cfg))
    assert not any(a.kind in ("qa checkpoint", "predictions") for a in result.activity)
    embedded = [a for a in result.activity if a.kind == "embeddings"]
    assert [a.computed for a in embedded] == [True] * 4 + [False] * 4  # cka reused representation's four
    study = parse_config(cfg)
    phases, points = model_embeddings(study)
    _, texts = classification_samples(study, True)
    assert points.ids == texts.ids and len(points) == cfg["classification"]["test_limit"]
    spec = resolve_model(cfg["models"][1]["name"])
    folder = next(p for p in (result.run_dir / "checkpoints").iterdir() if p.name.startswith(f"cls-{spec.name}-"))
    for phase, path in (("before", None), ("after", folder)):
        tokenizer, model = load_tokenizer(spec, path), load_encoder(spec, path).eval()
        for row, e in zip(phases[phase]["small"], points.examples):
            enc = tokenizer(e.text, truncation=True, max_length=cfg["classification"]["max_length"],
                            return_tensors="pt")
            with torch.no_grad():
                cls = model(**enc).last_hidden_state[0, 0].numpy()
            assert np.allclose(row, cls, atol=1e-5), phase
    assert (result.run_dir / "cka" / "cka.json").is_file()
    assert run(write_config(tmp_path, cfg)).computed == []
    cfg["representation"]["text"] = "question"
    cli_fails(capsys, ["run", str(write_config(tmp_path, cfg, "bad.yaml"))],
              "representation.text chooses what of a QA point is read; a classification point is its text")


@pytest.mark.slow
def test_distribution_on_the_classification_tasks_texts(tiny_model, tmp_path):
    """representation.task: classification also moves the data distribution: the bank is the
    classifiers' training sample, validation the test texts, the OOD set a text file (news
    passages here); features are the classifier encoders' embeddings, and no QA model is trained."""
    import torch

    from miniature import run
    from miniature.characteristics.distribution import model_features
    from miniature.config import parse_config
    from miniature.data.squad import load_qa_dataset
    from miniature.zoo import load_encoder, load_tokenizer, resolve_model
    from tests.conftest import NEWSQA

    need_shared(IMDB, NEWSQA)
    news = tmp_path / "news.jsonl"
    stories = load_qa_dataset(NEWSQA, limit=200).examples
    contexts = list(dict.fromkeys(e.context[:400] for e in stories))[:12]
    news.write_text("".join(json.dumps({"id": f"n{i}", "text": c, "label": i % 2}) + "\n"
                            for i, c in enumerate(contexts)), encoding="utf-8")
    cfg = study_config(tiny_model, tmp_path / "run")
    cfg.update(characteristics=["distribution"], representation={"task": "classification"},
               distribution={"test": str(news), "k": 3, "ks": [1, 3]})
    result = run(write_config(tmp_path, cfg))
    assert not any(a.kind in ("qa checkpoint", "predictions") for a in result.activity)
    features, test = model_features(parse_config(cfg))
    assert test.ids == [f"n{i}" for i in range(len(contexts))]
    f = features["large"]
    assert (len(f.bank), len(f.val), len(f.test)) == (cfg["classification"]["train_limit"],
                                                      cfg["classification"]["test_limit"], len(contexts))
    spec = resolve_model(cfg["models"][0]["name"])
    folder = next(p for p in (result.run_dir / "checkpoints").iterdir() if p.name.startswith(f"cls-{spec.name}-"))
    tokenizer, model = load_tokenizer(spec, folder), load_encoder(spec, folder).eval()
    enc = tokenizer(contexts[0], truncation=True, max_length=cfg["classification"]["max_length"], return_tensors="pt")
    with torch.no_grad():
        assert np.allclose(f.test[0], model(**enc).last_hidden_state[0, 0].numpy(), atol=1e-5)
    rows = json.loads((result.run_dir / "distribution" / "distribution_detectors.json").read_text())["rows"]
    assert {r["model"] for r in rows} == {"large", "small"} and all(r["n_test"] == len(contexts) for r in rows)
    assert run(write_config(tmp_path, cfg)).computed == []
