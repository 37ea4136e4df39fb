"""End to end on tiny models: fine-tune, predict, score, compare; cached reruns train nothing."""

from __future__ import annotations

import json

import pytest

import miniature
from miniature.config import QAConfig, parse_config
from miniature.data import load_qa_dataset
from miniature.runs import RunDir
from miniature.scoring import normalize_answer, squad_v2_scores
from miniature.tasks.qa import cached_predictions, checkpoint_key, finetune_qa
from miniature.zoo import resolve_model
from tests.conftest import DEV, TRAIN, need_shared

pytestmark = pytest.mark.slow
QA = {"max_steps": 4, "batch_size": 8, "max_seq_length": 128, "doc_stride": 48, "eval_batch_size": 32}


def _config(tmp_path, tiny_model, **qa):
    return parse_config({
        "run_dir": str(tmp_path / "run"),
        "models": [{"name": str(tiny_model("bert", 0)), "label": "big"},
                   {"name": str(tiny_model("bert", 1)), "label": "small"}],
        "data": {"train": str(TRAIN), "train_limit": 48, "dev": str(DEV), "dev_limit": 40},
        "qa": {**QA, **qa},
    })


def test_two_tiny_models_end_to_end_and_cached(tmp_path, tiny_model, monkeypatch):
    need_shared(TRAIN, DEV)
    cfg = _config(tmp_path, tiny_model)
    first = miniature.errors(cfg, out=tmp_path / "out1")
    assert [(p.model_i, p.model_j) for p in first.pairs] == [("big", "small")]
    table = (tmp_path / "out1" / "errors.md").read_text()
    doc = json.loads((tmp_path / "out1" / "errors.json").read_text())
    assert doc["meta"]["version"] == miniature.__version__ and doc["rows"][0]["model_i"] == "big"
    assert len(list((tmp_path / "run" / "checkpoints").iterdir())) == 2

    # the error sets are those of the written predictions, recomputed here by brute force
    dev = load_qa_dataset(DEV, limit=40)
    for s in first.sets:
        preds = json.loads(open(s.source).read())
        assert set(preds) == set(dev.ids)
        wrong = set()
        for ex in dev.examples:
            golds = [normalize_answer(a.text) for a in ex.answers if normalize_answer(a.text)] or [""]
            if normalize_answer(preds[ex.id]) not in golds:
                wrong.add(ex.id)
        assert s.ids == wrong and s.n_questions == 40

    # a second identical call trains and predicts nothing, and gives the same table
    import transformers

    def boom(*a, **k):
        raise AssertionError("trained again")

    monkeypatch.setattr(transformers.Trainer, "train", boom)
    monkeypatch.setattr("miniature.tasks.qa.predict_qa_windows", boom)
    second = miniature.errors(cfg, out=tmp_path / "out2")
    assert second.rows() == first.rows()
    assert (tmp_path / "out2" / "errors.md").read_text() == table


def test_changed_knob_trains_anew(tmp_path, tiny_model):
    need_shared(TRAIN)
    spec = resolve_model(str(tiny_model("bert", 0)))
    train = load_qa_dataset(TRAIN, limit=24)
    run = RunDir(tmp_path)
    a = finetune_qa(spec, train, QAConfig(**QA), run)
    b = finetune_qa(spec, train, QAConfig(**QA), run)
    c = finetune_qa(spec, train, QAConfig(**{**QA, "learning_rate": 1e-4}), run)
    d = finetune_qa(spec, train, QAConfig(**{**QA, "seed": 7}), run)
    assert a.trained and not b.trained and c.trained and d.trained
    assert len({a.key, c.key, d.key}) == 3 and a.path == b.path
    # prediction knobs do not touch the checkpoint key
    assert finetune_qa(spec, train, QAConfig(**{**QA, "n_best_size": 5}), run).key == a.key


def test_killed_training_resumes_from_its_last_checkpoint(tmp_path, tiny_model, monkeypatch):
    need_shared(TRAIN)
    import transformers

    spec = resolve_model(str(tiny_model("bert", 0)))
    train = load_qa_dataset(TRAIN, limit=24)
    run = RunDir(tmp_path)
    cfg = QAConfig(**{**QA, "max_steps": 4})

    class Kill(transformers.TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 3:
                raise KeyboardInterrupt  # as if killed after step 3 (checkpoint at 2 saved)

    orig_init = transformers.Trainer.__init__

    def init_with_kill(self, *a, **k):
        orig_init(self, *a, **k)
        self.add_callback(Kill)

    monkeypatch.setattr(transformers.Trainer, "__init__", init_with_kill)
    with pytest.raises(KeyboardInterrupt):
        finetune_qa(spec, train, cfg, run, save_steps=2)
    monkeypatch.setattr(transformers.Trainer, "__init__", orig_init)
    work = run.work("qa", checkpoint_key(spec, train, cfg))
    assert (work / "checkpoint-2").is_dir()
    assert not list(tmp_path.glob("checkpoints/qa-*"))  # nothing half-finished taken as final

    steps = []
    orig_train = transformers.Trainer.train

    def spy(self, *a, **k):
        steps.append(k.get("resume_from_checkpoint"))
        return orig_train(self, *a, **k)

    monkeypatch.setattr(transformers.Trainer, "train", spy)
    ck = finetune_qa(spec, train, cfg, run, save_steps=2)
    assert ck.trained and steps and str(steps[0]).endswith("checkpoint-2")
    assert not work.exists()  # scratch space removed once the checkpoint is final


@pytest.mark.parametrize("family", ["t5", "distilbert", "roberta"])
def test_other_families_fine_tune_and_predict(tmp_path, tiny_model, family):
    need_shared(TRAIN, DEV)
    spec = resolve_model(str(tiny_model(family)))
    cfg = QAConfig(**{**QA, "max_steps": 2})
    run = RunDir(tmp_path)
    ck = finetune_qa(spec, load_qa_dataset(TRAIN, limit=16), cfg, run)
    dev = load_qa_dataset(DEV, limit=12)
    folder = cached_predictions(spec, ck.path, ck.key, dev, cfg, run)
    preds = json.loads((folder / "predictions.json").read_text())
    na = json.loads((folder / "na_probs.json").read_text())
    assert set(preds) == set(dev.ids) and set(na) == set(dev.ids)
    assert all(0.0 <= p <= 1.0 for p in na.values())
    contexts = {e.id: e.context for e in dev.examples}
    assert all(t == "" or t in contexts[q] for q, t in preds.items())  # spans come from the context
    assert squad_v2_scores(dev, preds)["total"] == 12
