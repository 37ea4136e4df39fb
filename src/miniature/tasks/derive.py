"""Compressed variants of a study's models, derived per task from the source's checkpoint and cached."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from miniature.config import ModelEntry
from miniature.runs import RunDir, cached, content_key
from miniature.zoo import ModelSpec


def _recovering(entry: ModelEntry) -> bool:
    """Whether a recovery fine-tuning follows the entry's method (the preflight refuses steps on
    a method without one)."""
    from miniature.compress.base import recovers

    return bool(entry.recovery_steps) and recovers(entry.method or "")


def derive_key(task: str, entry: ModelEntry, source_id: Any, data_fingerprint: str | None) -> str:
    """Everything that determines a derived model: its source's weights, the method and its training."""
    from miniature.compress import METHODS

    trains = task != "base" and (entry.method == "distil" or _recovering(entry))
    inputs = METHODS.get(entry.method or "").inputs if entry.method in METHODS else None
    extra = {"inputs": inputs(entry.params or {})} if inputs is not None else {}  # absent: old keys stay
    return content_key({**extra, "task": task, "source": source_id, "method": entry.method, "params": entry.params,
                        "recovery_steps": entry.recovery_steps if trains else 0,
                        "recovery_learning_rate": (entry.recovery_learning_rate if trains and entry.recovery_steps
                                                   else None),
                        "distil": entry.distil.key_fields() if trains and entry.method == "distil" else None,
                        "data": data_fingerprint if trains else None, "version": 1})


def load_source(task: str, spec: ModelSpec, path: Path | None) -> Any:
    """The model a variant is derived from: a task checkpoint (or derived folder), or pretrained weights."""
    from miniature.zoo import load_causal_lm, load_classifier, load_encoder, load_qa_model

    if task == "causal_lm":
        return load_causal_lm(spec, path)
    if task == "qa":
        return load_qa_model(spec, path, require_head=path is not None)
    if task == "classification":
        return load_classifier(spec, path, require_head=path is not None)
    return load_encoder(spec, path)


def derived_checkpoint(task: str, entry: ModelEntry, spec: ModelSpec, source: Path | None, source_id: Any,
                       run: RunDir, rows: Callable[[Any, Any], list[dict]] | None = None,
                       data_fingerprint: str | None = None, progress: bool = False) -> tuple[Path, str]:
    """`entry`'s variant of its source model for `task` ("qa", "classification" or "base": the
    pretrained encoder, for embeddings before fine-tuning), derived unless cached.

    Args:
        source: the source's checkpoint folder for the task (None: its pretrained weights).
        rows: (tokenizer, model) -> the task's training features, for distillation and recovery.

    Returns the derived folder and its key (the id of its weights in later cache keys).
    """
    from miniature.compress import derive, distil_train, recover, save_derived

    key = derive_key(task, entry, source_id, data_fingerprint)
    final = run.path("checkpoints", f"{task}-{spec.name}-{entry.method}-{key}")
    what = f"derive {entry.display} ({entry.method}) from {entry.from_} for {task}"

    def derive_it() -> Path:
        from miniature.zoo import load_tokenizer

        tokenizer = load_tokenizer(spec, source)
        model = load_source(task, spec, source)
        assert entry.method is not None  # a derived entry (config validation)
        new = derive(model, entry.method, entry.params, tokenizer=tokenizer)
        training = rows is not None and task != "base"
        work = run.work("derive", final.name)  # resume points of the training, if it is stopped
        if training and entry.method == "distil":
            assert rows is not None
            d = entry.distil
            new = distil_train(model, new, rows(tokenizer, model), tokenizer, temperature=d.temperature,
                               alpha=d.alpha, epochs=d.epochs, max_steps=d.max_steps,
                               learning_rate=d.learning_rate, batch_size=d.batch_size, progress=progress,
                               work=work)
        elif training and _recovering(entry):
            assert rows is not None
            new = recover(new, rows(tokenizer, new), tokenizer, max_steps=entry.recovery_steps,
                          learning_rate=entry.recovery_learning_rate, progress=progress, work=work)
        save_derived(new, tokenizer, final, {"method": entry.method, "params": entry.params, "task": task,
                                             "source": str(source or spec.source), "key": key,
                                             "recovery_steps": entry.recovery_steps if training else 0})
        shutil.rmtree(work, ignore_errors=True)
        return final

    from miniature.compress.store import RECIPE

    return cached("derived model", final, what, derive_it, lambda: final, marker=final / RECIPE), key
