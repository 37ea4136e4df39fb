"""The public API: a whole study is `miniature.run` (study.py); here one characteristic of a config
by its registered name (`measure`), and SQuAD `score` and `predict`. Each registered
characteristic is also `miniature.<name>` (and `miniature.api.<name>`): its own function where its
file gives one (with file inputs), else `measure` under its name."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from miniature.characteristics import CHARACTERISTICS
from miniature.characteristics.errors import read_predictions
from miniature.config import QAConfig, StudyConfig, load_plugins
from miniature.data.squad import load_qa_dataset
from miniature.exceptions import ConfigError, DataError
from miniature.files import is_local_source
from miniature.runs import atomic_write_json, inputs_meta, meta_block, write_outputs
from miniature.scoring import squad_v2_scores
from miniature.tasks.qa import predict_qa
from miniature.tasks.training import to_device
from miniature.zoo import hf_quiet, load_qa_model, load_tokenizer, resolve_model


def _read_na_probs(path: str | Path) -> dict[str, float]:
    doc = read_predictions(path)  # same shape checks: a non-empty JSON object
    for q, v in doc.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise DataError(f"{path}: no-answer probability of {q!r} is {v!r:.40}, not a number; write a "
                            "probability in [0, 1]")
        if not 0.0 <= v <= 1.0:  # NaN fails too
            raise DataError(f"{path}: no-answer probability of {q!r} is {v!r}, outside [0, 1]; write a probability")
    return {q: float(v) for q, v in doc.items()}


def score(gold: str | Path, predictions: str | Path, na_probs: str | Path | None = None,
          na_prob_thresh: float = 1.0, out: str | Path | None = None) -> dict[str, float]:
    """Official SQuAD v2 figures of a predictions file; written as JSON to `out` where given."""
    dataset = load_qa_dataset(gold)
    preds = read_predictions(predictions)
    probs = _read_na_probs(na_probs) if na_probs else None
    figures = squad_v2_scores(dataset, preds, probs, na_prob_thresh)
    if out is not None:
        inputs = [gold, predictions] + ([na_probs] if na_probs else [])
        atomic_write_json(out, {"meta": meta_block(inputs=inputs_meta(inputs)), **figures})
    return figures


def predict(model: str, data: str | Path, out: str | Path, split: str | None = None, limit: int | None = None,
            qa: QAConfig | None = None, progress: bool = False) -> Path:
    """Predict with a model that has a trained QA head; write predictions.json and na_probs.json.
    `split` is a hub dataset's (default validation); a local file has none."""
    if split is not None and is_local_source(data):
        raise ConfigError(f"--split {split} names a split of a hub dataset, but {data} is a local file; "
                          "remove --split")
    spec = resolve_model(model)
    dataset = load_qa_dataset(data, split or "validation", limit)
    cfg = qa or QAConfig()
    hf_quiet(progress)
    tokenizer = load_tokenizer(spec)
    net = to_device(load_qa_model(spec, require_head=True))
    preds, na = predict_qa(net, tokenizer, dataset, cfg, progress)
    out = Path(out)
    write_outputs(out, lambda d: {"predictions": atomic_write_json(d / "predictions.json", preds),
                                  "na_probs": atomic_write_json(d / "na_probs.json", na)}, "predict")
    return out


def measure(name: str, config: str | Path | StudyConfig, *, knobs: dict[str, Any] | None = None,
            out: str | Path | None = None, overrides: Sequence[str] = (), progress: bool = False) -> Any:
    """One characteristic of a config, by its registered name: every model's artifacts (cached in
    the run folder), then the comparison, written into `out` if given. `knobs` replaces values of
    its own config section."""
    return CHARACTERISTICS.get(name).measure(config, knobs=knobs, out=out, overrides=overrides, progress=progress)


def characteristic_function(name: str) -> Any:
    """`miniature.<name>` of a registered characteristic (plug-ins loaded first); AttributeError if none."""
    load_plugins()
    if name.startswith("_") or name not in CHARACTERISTICS:
        raise AttributeError(f"module 'miniature' has no attribute {name!r}")
    return CHARACTERISTICS.get(name).function()


def __getattr__(name: str) -> Any:
    """`miniature.api.<characteristic>` (PEP 562)."""
    return characteristic_function(name)


__all__ = ["characteristic_function", "measure", "predict", "score"]
