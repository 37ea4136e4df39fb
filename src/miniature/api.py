"""The public API; every CLI verb `miniature <verb>` calls `miniature.<verb>()` here."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from miniature.characteristics.adversarial import (
    AdversarialResult,
    finish_adversarial,
    model_attacks,
)
from miniature.characteristics.distribution import (
    DistributionConfig,
    DistributionResult,
    Features,
    _compare_features,
    finish_distribution,
    model_features,
    subsample,
)
from miniature.characteristics.errors import (
    ErrorsResult,
    compare_errors,
    finish_errors,
    from_predictions,
    model_error_sets,
    read_error_set,
    read_predictions,
)
from miniature.characteristics.representation import (
    RepresentationConfig,
    RepresentationResult,
    compare_representations,
    finish_representation,
    load_embeddings,
    model_embeddings,
)
from miniature.config import QAConfig, StudyConfig, load_config
from miniature.data.squad import QADataset, load_qa_dataset
from miniature.exceptions import ConfigError, DataError, MismatchError
from miniature.files import is_local_source
from miniature.runs import (
    atomic_write_json,
    check_writable_dir,
    file_stamp,
    meta_block,
    sha256_file,
    write_outputs,
)
from miniature.scoring import squad_v2_scores
from miniature.tasks.qa import predict_qa
from miniature.tasks.training import to_device
from miniature.zoo import hf_quiet, load_qa_model, load_tokenizer, resolve_model

NAMES_WITH_CONFIG = ("--names labels --predictions or --error-sets files; a config's models are named by their "
                     "`label` (--set models.0.label=NAME)")


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


def _inputs_meta(paths: Sequence[str | Path]) -> list[dict]:
    return [{"path": str(p), "sha256": sha256_file(p)} for p in paths if Path(p).is_file()]


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
        atomic_write_json(out, {"meta": meta_block(inputs=_inputs_meta(inputs)), **figures})
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
    modes = sum([config is not None, bool(predictions), bool(error_sets)])
    if modes != 1:
        raise ConfigError("give exactly one of a config, --predictions or --error-sets")
    if n_questions is not None and not error_sets:
        raise ConfigError("--questions is for --error-sets; models and predictions are counted from their gold file")
    if n_questions is not None and gold is not None:
        raise ConfigError("give either a gold file or a question count: the gold file fixes the count")
    inputs = list(predictions or error_sets)
    if names and config is not None:
        raise ConfigError(NAMES_WITH_CONFIG)
    if names and len(names) != len(inputs):
        raise ConfigError(f"--names gives {len(names)} names for {len(inputs)} inputs")
    labels = list(names) or [Path(p).stem if Path(p).stem != "predictions" else Path(p).parent.name
                             for p in inputs]
    if config is not None:
        cfg = config if isinstance(config, StudyConfig) else load_config(config, list(overrides))
        generate_data(cfg)
        return finish_errors(cfg, model_error_sets(cfg, progress), out)
    dev: QADataset | None
    if predictions:
        if gold is None:
            raise ConfigError("--predictions needs --gold, the file they are scored against")
        dev = load_qa_dataset(gold)
        sets = [from_predictions(n, dev, read_predictions(p), str(p)) for n, p in zip(labels, inputs)]
        meta = meta_block(inputs=_inputs_meta([gold, *inputs]), dev_fingerprint=dev.fingerprint)
    else:
        dev = load_qa_dataset(gold) if gold is not None else None
        sets = [read_error_set(p, n) for n, p in zip(labels, inputs)]
        meta = meta_block(inputs=_inputs_meta(([gold] if gold else []) + inputs))
    result = compare_errors(sets, dev, n_questions)
    if out is not None:
        write_outputs(out, lambda d: result.write(d, meta), "errors")
    return result


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
    if config is not None:
        cfg = config if isinstance(config, StudyConfig) else load_config(config, list(overrides))
        generate_data(cfg)
        cfg = cfg.model_copy(update={"representation": _section(cfg.representation, knobs)})
        return finish_representation(cfg, model_embeddings(cfg, progress), out, progress)
    rcfg = _section(RepresentationConfig(), knobs)
    groups = {"before": list(embeddings), "after": list(after)} if after else {"embeddings": list(embeddings)}
    if embeddings and after and len(embeddings) != len(after):
        raise ConfigError(f"--embeddings gives {len(embeddings)} files, --after {len(after)}; one each per model")
    for phase, files in groups.items():
        if names and len(names) != len(files):
            raise ConfigError(f"--names gives {len(names)} names for {len(files)} {phase} files")
    files = next(f for f in groups.values() if f)
    labels = list(names) or [Path(p).stem for p in files]
    if len(set(labels)) != len(labels):
        raise ConfigError("two inputs share a name; give distinct --names")
    phases = {p: {n: load_embeddings(f) for n, f in zip(labels, fs)} for p, fs in groups.items() if fs}
    if after:
        n_before, n_after = (len(next(iter(phases[p].values()))) for p in ("before", "after"))
        if n_before != n_after:
            raise MismatchError(f"the --embeddings files hold {n_before} points, the --after files {n_after}; "
                                "both must embed the same points in the same order")
    meta = meta_block(inputs=_inputs_meta([*embeddings, *after]))
    result = compare_representations(phases, rcfg.ks, rcfg.table_k, rcfg.backend, progress)
    if out is not None:
        write_outputs(out, lambda d: result.write(d, meta), "representation")
    return result


def _section(section, knobs: dict):
    """A config section with the knobs given as arguments replaced, validated as the config's own
    values are (a bad one is a one-line error naming the key)."""
    if not knobs:
        return section
    try:
        return type(section).model_validate({**section.model_dump(), **knobs})
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{key} {err['input']!r}: {err['msg'].removeprefix('Value error, ')}") from None


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
    files = bool(bank or val or test)
    if (config is not None) == files:
        raise ConfigError("give exactly one of a config or --bank/--val/--test feature files")
    knobs = {key: v for key, v in (("k", k), ("ks", ks), ("tpr", tpr), ("alpha", alpha), ("index", index),
                                   ("backend", backend)) if v is not None}
    if config is not None:
        cfg = config if isinstance(config, StudyConfig) else load_config(config, list(overrides))
        generate_data(cfg)
        cfg = cfg.model_copy(update={"distribution": _section(cfg.distribution, knobs)})
        return finish_distribution(cfg, model_features(cfg, progress), out, progress)
    dcfg = _section(DistributionConfig(), knobs)
    if not (len(bank) == len(val) == len(test)):
        raise ConfigError(f"--bank, --val and --test give {len(bank)}, {len(val)} and {len(test)} files; "
                          "give one of each per model")
    if names and len(names) != len(bank):
        raise ConfigError(f"--names gives {len(names)} names for {len(bank)} models")
    labels = list(names) or [_strip_bank(Path(p).stem) for p in bank]
    if len(set(labels)) != len(labels):
        raise ConfigError("two models share a name; give distinct --names")
    features = {}
    for label, b, v, t in zip(labels, bank, val, test):
        arr = load_embeddings_any(b)
        keep = subsample(len(arr), dcfg.alpha, dcfg.seed)
        features[label] = Features(arr if len(keep) == len(arr) else arr[keep], load_embeddings_any(v),
                                   load_embeddings_any(t))
    named = {label: [str(b), str(v), str(t)] for label, b, v, t in zip(labels, bank, val, test)}
    meta = meta_block(inputs=_inputs_meta([*bank, *val, *test]), alpha=dcfg.alpha, seed=dcfg.seed)
    result = _compare_features(features, dcfg, None, progress, named)
    if out is not None:
        write_outputs(out, lambda d: result.write(d, meta), "distribution")
    return result


def _strip_bank(stem: str) -> str:
    """A model's label from its bank file: bert-base_bank.npy -> bert-base."""
    for suffix in ("_bank", "-bank", ".bank"):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return stem


def load_embeddings_any(path: str | Path) -> np.ndarray:
    """A feature file (.npy), memory-mapped; one point is enough (a bank may hold a single point)."""
    return load_embeddings(path, min_points=1)


def adversarial(config: str | Path | StudyConfig, *, out: str | Path | None = None, overrides: Sequence[str] = (),
                progress: bool = False) -> AdversarialResult:
    """BERT-Attack against every model of a config: Table 3, outcomes, and attack agreement.

    Every model is fine-tuned for classification on `adversarial.train` (unless `classifier:
    true`), then attacked on the same `adversarial.n_examples` texts with substitutes from
    `adversarial.attack_model`. Writes adversarial.md/.csv/.json (Table 3),
    adversarial_metrics.*, adversarial_agreement.*, attacked_sets.json and
    adversarial_examples/TARGET.jsonl into `out`, if given.
    """
    cfg = config if isinstance(config, StudyConfig) else load_config(config, list(overrides))
    generate_data(cfg)
    return finish_adversarial(cfg, model_attacks(cfg, progress), out)


__all__ = ["adversarial", "distribution", "errors", "model_attacks", "model_embeddings", "model_error_sets",
           "model_features", "predict", "representation", "score"]
