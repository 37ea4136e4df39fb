"""The model card table (the paper's Table 1) of every model in a study: size, sparsity, measured latency."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def count_parameters(model: Any) -> int:
    """Weights and biases, int8 dynamically quantized Linear layers counted like float ones."""
    total = sum(p.numel() for p in model.parameters())
    for m in model.modules():
        if "quantized" in type(m).__module__ and hasattr(m, "weight") and callable(m.weight):
            w, b = m.weight(), m.bias()
            total += w.numel() + (b.numel() if b is not None else 0)
    return total


def linear_sparsity(model: Any) -> float:
    """Share of exact zeros among the transformer layers' linear weights (float, int8, torchao's;
    GPT-2's Conv1D), counted as the compression methods count them (`compress.arch.sparsity`);
    for a family miniature does not know, every Linear under an encoder/transformer/layer name."""
    import torch

    from miniature.compress.arch import sparsity
    from miniature.exceptions import ModelError

    try:
        return sparsity(model)
    except (ModelError, ZeroDivisionError):
        pass
    zeros = count = 0
    for name, m in model.named_modules():
        w = None
        if isinstance(m, torch.nn.Linear):
            w = m.weight
        elif "quantized" in type(m).__module__ and hasattr(m, "weight") and callable(m.weight):
            w = m.weight().int_repr() - m.weight().q_zero_point() if m.weight().is_quantized else m.weight()
        if w is None or not any(part in name for part in ("encoder", "transformer", "layer")):
            continue
        zeros += int((w == 0).sum())
        count += w.numel()
    return zeros / count if count else 0.0


def folder_megabytes(folder: str | Path | None) -> float | None:
    """Size on disk of a checkpoint folder's weight files, in MB (10^6 bytes)."""
    if folder is None or not Path(folder).is_dir():
        return None
    return sum(p.stat().st_size for p in Path(folder).iterdir()
               if p.suffix in WEIGHT_SUFFIXES and p.name != "training_args.bin") / 1e6


def latency_ms(model: Any, inputs: Sequence[dict[str, list[int]]], warmup: int = 2) -> float:
    """Median milliseconds of one forward pass per example (batch 1) on the model's device."""
    import torch

    device = next(iter(model.parameters()), torch.empty(0)).device
    model.eval()
    times = []
    warmup = min(warmup, max(0, len(inputs) - 1))  # one input: timed, not only warmed up
    with torch.inference_mode():
        for n, row in enumerate(list(inputs[:warmup]) + list(inputs)):
            batch = {k: torch.tensor([v], device=device) for k, v in row.items()}
            start = time.perf_counter()
            model(**batch)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if n >= warmup:
                times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def card_row(name: str, model: Any, folder: str | Path | None, inputs: Sequence[dict[str, list[int]]]) -> dict:
    """One model's line of Table 1 (speed-up is filled in against the large model by `card_rows`)."""
    cfg = model.config
    layers = (getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layers", None)
              or getattr(cfg, "num_layers", None))
    hidden = getattr(cfg, "hidden_size", None) or getattr(cfg, "dim", None) or getattr(cfg, "d_model", None)
    return {"model": name, "layers": layers, "parameters_m": count_parameters(model) / 1e6, "hidden_size": hidden,
            "size_mb": folder_megabytes(folder), "sparsity": linear_sparsity(model),
            "latency_ms": latency_ms(model, inputs)}


def card_rows(rows: Sequence[dict]) -> list[dict]:
    """Speed-up of every model against the first (the large one): its latency over theirs."""
    base = rows[0]["latency_ms"] if rows else None
    return [{**r, "speedup": base / r["latency_ms"] if base and r["latency_ms"] else None} for r in rows]


def study_card(cfg: Any, progress: bool = False) -> list[dict]:
    """Table 1 of a study: every model as the characteristics used it (its QA checkpoint where the
    study has a QA characteristic, else its classifier), timed on the first 16 dev points (or texts)."""
    from miniature.characteristics import CHARACTERISTICS
    from miniature.checkpoints import (
        classification_samples,
        classification_trains,
        classifier_weights,
        qa_train_data,
        qa_weights,
        study_models,
    )
    from miniature.data.squad import load_qa_dataset
    from miniature.runs import RunDir
    from miniature.tasks.classification import encode_texts
    from miniature.tasks.embed import encode_points
    from miniature.tasks.training import model_keys, to_device
    from miniature.zoo import load_classifier, load_qa_model, load_tokenizer

    specs, labels = study_models(cfg)
    run = RunDir(cfg.run_dir)
    tasks = {t for n in cfg.characteristics for t in CHARACTERISTICS.get(n).task_names(cfg)}
    qa = "qa" in tasks  # else: classifiers, else the language models of multiple choice
    from miniature.taskdefs import TASKS

    causal = [t for t in TASKS if t in tasks and (TASKS.get(t).head == "causal_lm" or (
        t == "classification" and cfg.classification.zero_shot))]
    if not qa and ("classification" not in tasks or cfg.classification.zero_shot) and causal:
        return _language_model_card(cfg, causal[0], specs, labels, run, progress)
    if qa:
        train = qa_train_data(cfg)
        dev = load_qa_dataset(cfg.data.dev, cfg.data.dev_split, cfg.data.dev_limit)
    else:
        texts_train, texts = classification_samples(cfg, classification_trains(cfg))
    rows = []
    for i, (spec, label) in enumerate(zip(specs, labels)):
        if qa:
            path, _ = qa_weights(cfg, i, specs, train, run, progress)
            model = to_device(load_qa_model(spec, path, require_head=path is not None))
            enc = encode_points(load_tokenizer(spec, path), dev.examples[:16], "pair", cfg.qa.max_seq_length,
                                cfg.qa.max_query_length)
            inputs = [{k: v for k, v in r.items() if k in model_keys(model)} for r in _rows(enc)]
        else:
            path, _ = classifier_weights(cfg, i, specs, texts_train, run, progress)
            model = to_device(load_classifier(spec, path, require_head=path is not None))
            inputs = encode_texts(load_tokenizer(spec, path), [e.text for e in texts.examples[:16]],
                                  cfg.classification.max_length, model_keys(model))
        rows.append(card_row(label, model, path, inputs))
    return card_rows(rows)


def _language_model_card(cfg: Any, name: str, specs: list, labels: list[str], run: Any,
                         progress: bool) -> list[dict]:
    """Table 1 of a study of language models: each model timed on its task's sample inputs (the
    first items' contexts; the first windows of the text)."""
    from miniature.taskdefs import TASKS
    from miniature.tasks.training import to_device
    from miniature.zoo import load_causal_lm, load_tokenizer

    task = TASKS.get(name)
    rows = []
    for i, (spec, label) in enumerate(zip(specs, labels)):
        path, _ = task.weights(cfg, i, specs, None, run, progress)
        model = to_device(load_causal_lm(spec, path)).eval()
        inputs = task.card_inputs(cfg, load_tokenizer(spec, path))
        # a model as given is measured where it lies (a local folder, e.g. a dequantized GGUF's)
        rows.append(card_row(label, model, path or (spec.source if Path(spec.source).is_dir() else None), inputs))
    return card_rows(rows)


def _rows(encoded: Any) -> list[dict[str, list[int]]]:
    """Per-point input lists from encode_points' flat arrays."""
    out = []
    for i in range(len(encoded)):
        a, b = encoded.offsets[i], encoded.offsets[i + 1]
        row = {"input_ids": encoded.input_ids[a:b].tolist(), "attention_mask": [1] * int(b - a)}
        if encoded.token_type_ids is not None:
            row["token_type_ids"] = encoded.token_type_ids[a:b].tolist()
        out.append(row)
    return out
