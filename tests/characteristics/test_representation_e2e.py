"""Representation from a config on tiny models: before and after fine-tuning, cached, shared checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest

import miniature
from miniature.config import parse_config
from miniature.exceptions import ConfigError
from miniature.zoo import resolve_model
from tests.conftest import DEV, TRAIN, need_shared

pytestmark = pytest.mark.slow
QA = {"max_steps": 3, "batch_size": 8, "max_seq_length": 128, "doc_stride": 48, "eval_batch_size": 32}


def _config(tmp_path, tiny_model, **rep):
    return parse_config({
        "run_dir": str(tmp_path / "run"),
        "models": [{"name": str(tiny_model("bert", 0)), "label": "big"},
                   {"name": str(tiny_model("distilbert", 0)), "label": "distil"},
                   {"name": str(tiny_model("bert", 1)), "label": "small"}],
        "data": {"train": str(TRAIN), "train_limit": 24, "dev": str(DEV), "dev_limit": 60},
        "qa": QA,
        "representation": {"ks": [1, 5, 10, 20], **rep},
    })


def test_before_and_after_from_a_config_then_all_cached(tmp_path, tiny_model, monkeypatch):
    need_shared(TRAIN, DEV)
    cfg = _config(tmp_path, tiny_model)
    res = miniature.representation(cfg, out=tmp_path / "out")
    assert res.phases == ("before", "after") and res.names == ("big", "distil", "small")
    rows = res.rows()
    assert [(r["model_i"], r["model_j"]) for r in rows] == [("big", "distil"), ("big", "small"), ("distil", "small")]
    for r in rows:
        for col in ("before_mean", "before_variance", "after_mean", "after_variance"):
            assert 0.0 <= r[col] <= 1.0
    for f in ("representation.md", "representation.csv", "representation.json", "representation_sweep.csv",
              "representation_sweep.json", "representation_k_sweep.png"):
        assert (tmp_path / "out" / f).stat().st_size > 0, f
    doc = json.loads((tmp_path / "out" / "representation.json").read_text())
    assert doc["k"] == 10 and doc["meta"]["representation"]["pooling"] == "cls"
    assert len(json.loads((tmp_path / "out" / "representation_sweep.json").read_text())["rows"]) == 2 * 3 * 4
    assert (tmp_path / "out" / "representation_k_sweep.png").read_bytes()[:4] == b"\x89PNG"

    # "after" reads the QA checkpoints the errors characteristic trains: one per model, shared
    run = tmp_path / "run"
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert len(ckpts) == 3
    metas = [json.loads(p.read_text()) for p in (run / "embeddings").glob("*.json")]
    assert len(metas) == 6
    after = {m["model"]: m["checkpoint"] for m in metas if m["phase"] == "after"}
    assert all(c.startswith(str(run / "checkpoints")) for c in after.values())
    name = resolve_model(cfg.models[0].name).name
    big = {m["phase"]: np.load(run / "embeddings" / f"{name}-{m['phase']}-{m['key']}.npy")
           for m in metas if m["model"] == name}
    assert len(big) == 2 and not np.allclose(big["before"], big["after"])  # fine-tuning moved the vectors

    # the errors characteristic reuses the same checkpoints
    import miniature.characteristics.representation as rep
    import miniature.tasks.qa as qa

    def refuse(*a, **kw):
        raise AssertionError("recomputed a cached artifact")

    monkeypatch.setattr(rep, "embed_to_npy", refuse, raising=False)
    monkeypatch.setattr("miniature.tasks.embed.embed_to_npy", refuse)
    monkeypatch.setattr(qa, "Trainer", refuse, raising=False)
    monkeypatch.setattr("transformers.Trainer", refuse)
    again = miniature.representation(cfg, out=tmp_path / "out2")
    assert again.sweep == res.sweep
    miniature.errors(cfg, out=tmp_path / "errors")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ckpts

    # a changed knob recomputes only what depends on it: mean pooling of the same checkpoints
    monkeypatch.undo()
    miniature.representation(_config(tmp_path, tiny_model, pooling="mean", phases=["after"]))
    assert len(list((run / "embeddings").glob("*.json"))) == 9
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ckpts


def test_finetuned_models_have_no_before(tmp_path, tiny_model):
    cfg = parse_config({"run_dir": str(tmp_path), "models": [{"name": str(tiny_model("bert")), "finetuned": True},
                                                             str(tiny_model("bert", 1))]})
    with pytest.raises(ConfigError, match="no 'before' embeddings"):
        miniature.representation(cfg)
