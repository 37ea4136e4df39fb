"""Which weights each model of a study uses per task and phase: fine-tuned, derived, or as given (all cached)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from miniature.config import ModelEntry, StudyConfig
from miniature.data.squad import QADataset, load_qa_dataset
from miniature.data.text import TextDataset, load_text_dataset
from miniature.exceptions import ConfigError, MiniatureError
from miniature.runs import RunDir
from miniature.zoo import ModelSpec, dequantized, resolve_model

Weights = tuple[Path | None, Any]  # (checkpoint folder, or None for the spec's own weights; the id in cache keys)


def source_index(cfg: StudyConfig, i: int) -> int:
    """The index of the model entry `i` is derived from (config validation put it earlier)."""
    labels = [m.display for m in cfg.models]
    source = cfg.models[i].from_
    assert source is not None, f"model {i} is not derived"
    return labels.index(source)


def root_entry(cfg: StudyConfig, i: int) -> ModelEntry:
    """The checkpoint at the start of a chain of derivations."""
    while cfg.models[i].derived:
        i = source_index(cfg, i)
    return cfg.models[i]


def study_models(cfg: StudyConfig) -> tuple[list[ModelSpec], list[str]]:
    """Every model of the config resolved (unknown names fail here, before any work), and its label.

    A derived model's spec is its source's, renamed (its tokenizer and architecture come from there).
    """
    specs: list[ModelSpec] = []
    for i, m in enumerate(cfg.models):
        if m.derived:
            src = specs[source_index(cfg, i)]
            specs.append(replace(src, name=f"{src.name}-{m.method}", description=f"{m.method} of {src.name}"))
        else:
            assert m.name is not None
            # a GGUF file is dequantized once into the run folder, then read like any checkpoint
            specs.append(dequantized(resolve_model(m.name, m.revision, m.trust_remote_code), cfg.run_dir))
    labels = [m.display for m in cfg.models]
    twice = [x for i, x in enumerate(labels) if x in labels[:i]]
    if twice:
        raise ConfigError(f"two models share the label {twice[0]!r}; give each a distinct `label`")
    return specs, labels


def check_derivations(cfg: StudyConfig, specs: list[ModelSpec]) -> None:
    """Every derived model's method and params checked before any work: their ranges, and against
    the architecture of the model they compress (built from its config on the meta device, no
    weights read). A variant of a variant is checked against the root's architecture only after
    its own derivation, so here its params alone."""
    from miniature.compress import METHODS, check_params, recovers
    from miniature.zoo import skeleton

    skeletons: dict[int, Any] = {}
    for i, entry in enumerate(cfg.models):
        if not entry.derived:
            continue
        j = source_index(cfg, i)
        model = None
        if not cfg.models[j].derived:
            if j not in skeletons:
                skeletons[j] = skeleton(specs[j])
            model = skeletons[j]
        assert entry.method is not None
        if entry.method not in METHODS:
            known = ", ".join(METHODS)
            raise ConfigError(f"model {entry.display!r}: unknown compression method {entry.method!r}; known: {known}")
        if (entry.recovery_steps or "recovery_learning_rate" in entry.model_fields_set) and not recovers(entry.method):
            takes = ", ".join(name for name in METHODS if recovers(name))
            raise ConfigError(f"model {entry.display!r}: {entry.method} has no recovery fine-tuning (only {takes} "
                              "do); remove recovery_steps and recovery_learning_rate from it")
        try:
            check_params(entry.method, entry.params, model)
        except MiniatureError as e:
            raise type(e)(f"model {entry.display!r}: {e}") from None


def qa_weights(cfg: StudyConfig, i: int, specs: list[ModelSpec], train: QADataset | None, run: RunDir,
               progress: bool = False) -> Weights:
    """Model `i` fine-tuned for QA on `train` (or as given with `finetuned: true`, or derived from
    its source's QA checkpoint)."""
    from miniature.tasks.qa import finetune_qa

    entry, spec = cfg.models[i], specs[i]
    if entry.derived:
        from miniature.tasks.qa_features import encode_train
        from miniature.tasks.training import model_keys

        def rows(tokenizer: Any, model: Any) -> list[dict]:
            assert train is not None
            q = cfg.qa
            return encode_train(tokenizer, train.examples, q.max_seq_length, q.doc_stride, q.max_query_length,
                                model_keys(model))

        return _derived("qa", qa_weights, cfg, i, specs, train, run, rows, progress)
    if "qa" in entry.given_tasks:
        return None, spec.identity()
    if train is None:
        raise ConfigError(f"model {entry.display!r} needs QA fine-tuning but no training data was loaded")
    ckpt = finetune_qa(spec, train, cfg.qa, run, progress)
    return ckpt.path, ckpt.key


def _derived(task: str, weights_of: Any, cfg: StudyConfig, i: int, specs: list[ModelSpec],
             train: QADataset | TextDataset | None, run: RunDir, rows: Any, progress: bool) -> Weights:
    """Model `i`'s variant of its source's `task` weights (`weights_of`: how the source gets them);
    distillation and recovery train on `rows` of `train`, where there is training data."""
    from miniature.tasks.derive import derived_checkpoint

    j = source_index(cfg, i)
    path, ident = weights_of(cfg, j, specs, train, run, progress)
    return derived_checkpoint(task, cfg.models[i], specs[j], path, ident, run, rows if train is not None else None,
                              train.fingerprint if train is not None else None, progress)


def pretrained_weights(cfg: StudyConfig, i: int, specs: list[ModelSpec], run: RunDir,
                       progress: bool = False) -> Weights:
    """Model `i` before fine-tuning: its pretrained weights, or its variant of its source's."""
    entry, spec = cfg.models[i], specs[i]
    if not entry.derived:
        return None, spec.identity()
    from miniature.tasks.derive import derived_checkpoint

    j = source_index(cfg, i)
    path, ident = pretrained_weights(cfg, j, specs, run, progress)
    return derived_checkpoint("base", entry, specs[j], path, ident, run, progress=progress)


def causal_lm_weights(cfg: Any, i: int, specs: list[Any], run: Any, progress: bool = False) -> tuple[Any, Any]:
    """Model `i` as a causal language model: as given, or derived from its source's weights; a
    distilled student learns its teacher's next-token distributions on `distil.text`."""
    entry = cfg.models[i]
    if not entry.derived:
        return None, specs[i].identity()
    from miniature.tasks.derive import derived_checkpoint

    j = source_index(cfg, i)
    path, ident = causal_lm_weights(cfg, j, specs, run, progress)
    rows, fingerprint = None, None
    d = entry.distil
    if entry.method == "distil" and d.text is not None:
        from miniature.data.corpus import load_corpus, token_windows
        from miniature.runs import content_key

        def rows(tokenizer: Any, model: Any) -> list[dict]:
            ids = token_windows(tokenizer, d.text, d.samples, d.seq_len, 0)
            return [{"input_ids": r, "labels": r} for r in ids]  # the model shifts the labels itself

        fingerprint = content_key({"text": load_corpus(d.text).fingerprint, "samples": d.samples,
                                   "seq_len": d.seq_len})
    return derived_checkpoint("causal_lm", entry, specs[j], path, ident, run, rows, fingerprint, progress)


def classification_trains(cfg: StudyConfig) -> bool:
    """Whether any model of the study trains (or distils) on the classification data: not in
    zero-shot classification, where language models are used as they are."""
    return not cfg.classification.zero_shot and any(not is_given(cfg, i, "classification") or m.derived
                                                    for i, m in enumerate(cfg.models))


def classifier_weights(cfg: StudyConfig, i: int, specs: list[ModelSpec], train: TextDataset | None, run: RunDir,
                       progress: bool = False) -> Weights:
    """Model `i` fine-tuned as a text classifier on `train` (or as given, or derived from its source's);
    in zero-shot classification, the language model as given (or derived from its source's)."""
    from miniature.tasks.classification import finetune_classifier, labelled_rows

    entry, spec = cfg.models[i], specs[i]
    if cfg.classification.zero_shot:
        return causal_lm_weights(cfg, i, specs, run, progress)
    if entry.derived:
        from miniature.tasks.training import model_keys

        def rows(tokenizer: Any, model: Any) -> list[dict]:
            assert train is not None
            return labelled_rows(tokenizer, train, cfg.classification.max_length, model_keys(model))

        return _derived("classification", classifier_weights, cfg, i, specs, train, run, rows, progress)
    if "classification" in entry.given_tasks:
        return None, spec.identity()
    if train is None:
        raise ConfigError(f"model {entry.display!r} needs classifier fine-tuning but no training data was loaded")
    ckpt = finetune_classifier(spec, train, cfg.classification, run, progress)
    return ckpt.path, ckpt.key


def is_given(cfg: StudyConfig, i: int, task: str) -> bool:
    """Whether model `i` (or the checkpoint its derivation starts from) is used as given for `task`
    (its entry's `finetuned_for`, or the older `finetuned`/`classifier` flags)."""
    return task in root_entry(cfg, i).given_tasks


def qa_train_data(cfg: StudyConfig) -> QADataset | None:
    """The QA training data, where any model of the study trains or distils on it."""
    needs = any(not is_given(cfg, i, "qa") or m.derived for i, m in enumerate(cfg.models))
    return load_qa_dataset(cfg.data.train, cfg.data.train_split, cfg.data.train_limit) if needs else None


def classification_samples(cfg: StudyConfig, needs_training: bool) -> tuple[TextDataset | None, TextDataset]:
    """The classifiers' training sample (where any model needs training) and the test texts compared
    and attacked: seeded random samples; from the same file and split, the test texts exclude the
    training ones."""
    ccfg = cfg.classification
    test = load_text_dataset(ccfg.test, ccfg.test_split)
    if not needs_training:
        return None, test.sample(ccfg.test_limit, ccfg.sample_seed)
    full = load_text_dataset(ccfg.train, ccfg.train_split)
    train = full.sample(ccfg.train_limit, ccfg.sample_seed)
    same = full.source == test.source  # one file (or hub split) for both: keep them apart
    return train, test.sample(ccfg.test_limit, ccfg.sample_seed, exclude=set(train.ids) if same else ())
