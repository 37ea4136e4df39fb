"""The public API: a whole study is `miniature.run` (study.py); here one characteristic of a config
(`measure`), the paper's four with their file inputs (`errors`, `representation`, `distribution`,
`adversarial`), and SQuAD `score` and `predict`."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from miniature.characteristics import CHARACTERISTICS
from miniature.characteristics.adversarial import AdversarialResult, model_attacks
from miniature.characteristics.distribution import DistributionResult, compare_feature_files, model_features
from miniature.characteristics.errors import (
    NAMES_WITH_CONFIG,
    ErrorsResult,
    compare_error_files,
    model_error_sets,
    read_predictions,
)
from miniature.characteristics.representation import (
    RepresentationResult,
    compare_embedding_files,
    model_embeddings,
)
from miniature.config import QAConfig, StudyConfig, load_config, with_values
from miniature.data.squad import load_qa_dataset
from miniature.exceptions import ConfigError, DataError
from miniature.files import is_local_source
from miniature.runs import (
    atomic_write_json,
    check_writable_dir,
    file_stamp,
    inputs_meta,
    meta_block,
    write_outputs,
)
from miniature.scoring import squad_v2_scores
from miniature.tasks.qa import predict_qa
from miniature.tasks.training import to_device
from miniature.zoo import hf_quiet, load_qa_model, load_tokenizer, resolve_model


def generate_data(cfg: StudyConfig) -> None:
    """Write the config's generated data (its `generate:` section, the quickstart's) unless the
    files are there already with the same seed and scale."""
    if cfg.generate is not None:
        from miniature.data.generate import write_quickstart_data

        check_writable_dir(cfg.generate.folder, "generated-data folder",
                           "choose another with --set generate.folder=PATH")
        write_quickstart_data(cfg.generate.folder, cfg.generate.seed, cfg.generate.scale)


@contextmanager
def generated_data(cfg: StudyConfig) -> Iterator[None]:
    """`generate_data` for a block that checks the config against the data (the preflight): if the
    block refuses the config, the files this call wrote are removed again, and the folders it made,
    so a refused config leaves nothing behind."""
    if cfg.generate is None:
        yield
        return
    folder = Path(cfg.generate.folder).absolute()
    top = folder
    while not top.parent.exists():
        top = top.parent
    made = None if top.exists() else top  # the outermost folder this call creates, if any
    before = {p: file_stamp(p) for p in folder.glob("*")} if folder.is_dir() else {}
    generate_data(cfg)
    try:
        yield
    except BaseException:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        else:
            for p in folder.glob("*"):
                if p.is_file() and file_stamp(p) != before.get(p):
                    p.unlink(missing_ok=True)
        raise


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
    characteristic = CHARACTERISTICS.get(name)
    cfg = config if isinstance(config, StudyConfig) else load_config(config, list(overrides))
    if knobs:
        cfg = cfg.model_copy(update={name: with_values(getattr(cfg, name), knobs)})
    generate_data(cfg)
    return characteristic.finish(cfg, characteristic.gather(cfg, progress), out, progress)


def errors(config: str | Path | StudyConfig | None = None, *, predictions: Sequence[str | Path] = (),
           gold: str | Path | None = None, error_sets: Sequence[str | Path] = (),
           names: Sequence[str] = (), n_questions: int | None = None, out: str | Path | None = None,
           overrides: Sequence[str] = (), progress: bool = False) -> ErrorsResult:
    """Compare the prediction errors of models, prediction files or error-set files.

    Exactly one of `config` (models fine-tuned and scored), `predictions` (with `gold`) or
    `error_sets` (JSON lists of ids; `gold`, if given, fixes their universe; else `n_questions`,
    the number of questions they were scored on, gives their chance levels). Writes
    errors.md/.csv/.json and the error sets into `out`, if given.
    """
    if sum([config is not None, bool(predictions), bool(error_sets)]) != 1:
        raise ConfigError("give exactly one of a config, --predictions or --error-sets")
    if config is None:
        return compare_error_files(predictions, gold, error_sets, names, n_questions, out)
    if n_questions is not None:
        raise ConfigError("--questions is for --error-sets; models and predictions are counted from their gold file")
    if names:
        raise ConfigError(NAMES_WITH_CONFIG)
    return measure("errors", config, out=out, overrides=overrides, progress=progress)


def representation(config: str | Path | StudyConfig | None = None, *, embeddings: Sequence[str | Path] = (),
                   after: Sequence[str | Path] = (), names: Sequence[str] = (), ks: Sequence[int] | None = None,
                   table_k: int | None = None, backend: str | None = None, out: str | Path | None = None,
                   overrides: Sequence[str] = (), progress: bool = False) -> RepresentationResult:
    """Compare the data representation of models by the agreement of their K-NN sets.

    Either `config` (every model embedded before and after fine-tuning, all cached) or
    `embeddings` (.npy files, one per model, rows = the same points in the same order; with
    `after`, a second set from the fine-tuned models, and `embeddings` count as "before").
    `ks`, `table_k` and `backend` override the config's representation section. Writes
    representation.md/.csv/.json, representation_sweep.* and representation_k_sweep.png into
    `out`, if given.
    """
    if (config is not None) == bool(embeddings or after):
        raise ConfigError("give exactly one of a config or --embeddings")
    knobs = {k: v for k, v in (("ks", ks), ("table_k", table_k), ("backend", backend)) if v is not None}
    if config is None:
        return compare_embedding_files(embeddings, after, names, knobs, out, progress)
    return measure("representation", config, knobs=knobs, out=out, overrides=overrides, progress=progress)


def distribution(config: str | Path | StudyConfig | None = None, *, bank: Sequence[str | Path] = (),
                 val: Sequence[str | Path] = (), test: Sequence[str | Path] = (), names: Sequence[str] = (),
                 k: int | None = None, ks: Sequence[int] | None = None, tpr: float | None = None,
                 alpha: float | None = None, index: str | None = None, backend: str | None = None,
                 out: str | Path | None = None, overrides: Sequence[str] = (),
                 progress: bool = False) -> DistributionResult:
    """Compare which test points each model's Deep kNN detector calls out of distribution.

    Either `config` (every model fine-tuned, its features of train/dev/test extracted, all
    cached) or feature files: `bank`, `val` and `test`, one .npy per model each, in the same
    model order (test rows = the same points for every model). The other arguments override the
    config's distribution section. Writes distribution.md/.csv/.json, distribution_detectors.*,
    distribution_sweep.*, distribution_k_sweep.png and ood_sets.json into `out`, if given.
    """
    if (config is not None) == bool(bank or val or test):
        raise ConfigError("give exactly one of a config or --bank/--val/--test feature files")
    knobs = {key: v for key, v in (("k", k), ("ks", ks), ("tpr", tpr), ("alpha", alpha), ("index", index),
                                   ("backend", backend)) if v is not None}
    if config is None:
        return compare_feature_files(bank, val, test, names, knobs, out, progress)
    return measure("distribution", config, knobs=knobs, out=out, overrides=overrides, progress=progress)


def adversarial(config: str | Path | StudyConfig, *, out: str | Path | None = None, overrides: Sequence[str] = (),
                progress: bool = False) -> AdversarialResult:
    """BERT-Attack against every model of a config: Table 3, outcomes, and attack agreement.

    Every model is fine-tuned for classification on `classification.train` (unless `classifier:
    true`), then attacked on the same `classification.test_limit` texts with substitutes from
    `adversarial.attack_model`. Writes adversarial.md/.csv/.json (Table 3),
    adversarial_metrics.*, adversarial_agreement.*, attacked_sets.json and
    adversarial_examples/TARGET.jsonl into `out`, if given.
    """
    return measure("adversarial", config, out=out, overrides=overrides, progress=progress)


__all__ = ["adversarial", "distribution", "errors", "measure", "model_attacks", "model_embeddings",
           "model_error_sets", "model_features", "predict", "representation", "score"]
