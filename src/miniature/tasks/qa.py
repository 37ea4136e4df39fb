"""Extractive QA: fine-tune with the HF Trainer (cached by content key) and fast batched prediction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from miniature.batching import length_batches, pad_rows
from miniature.config import QAConfig
from miniature.data.squad import QADataset
from miniature.families import pad_token_id
from miniature.runs import (
    RunDir,
    atomic_dir,
    atomic_write_json,
    cached,
    content_key,
    meta_block,
)
from miniature.tasks.qa_features import encode_eval, encode_train
from miniature.tasks.qa_postprocess import postprocess
from miniature.tasks.training import (
    CPU_MAX_TOKENS,
    DONE,
    Checkpoint,
    autocast_dtype,
    model_keys,
    to_device,
    tqdm_wrap,
    train_and_save,
)
from miniature.zoo import ModelSpec, load_qa_model, load_tokenizer


def checkpoint_key(spec: ModelSpec, train: QADataset, cfg: QAConfig) -> str:
    return content_key({"task": "qa", "model": spec.identity(), "data": train.fingerprint,
                        "hp": cfg.training_fields()})


def finetune_qa(spec: ModelSpec, train: QADataset, cfg: QAConfig, run: RunDir, progress: bool = False,
                save_steps: int = 500) -> Checkpoint:
    """Fine-tune `spec` for extractive QA on `train`, or return the cached checkpoint.

    The checkpoint lives at `run/checkpoints/qa-<name>-<key>`, the key hashing the model, the
    training data's fingerprint and every training knob, so the same request never trains
    twice. Trainer checkpoints go to `run/work/qa/<key>` every `save_steps` steps: a killed
    run resumes from the last one.
    """
    key = checkpoint_key(spec, train, cfg)
    final = run.path("checkpoints", f"qa-{spec.name}-{key}")
    what = f"fine-tune {spec.name} for QA on {len(train)} questions"

    def train_it() -> Checkpoint:
        from transformers import set_seed

        set_seed(cfg.seed)  # before loading: the fresh QA head is initialised from the seed
        tokenizer = load_tokenizer(spec)
        model = load_qa_model(spec)
        features = encode_train(tokenizer, train.examples, cfg.max_seq_length, cfg.doc_stride,
                                cfg.max_query_length, model_keys(model), tqdm_wrap(progress, "tokenize"))
        done = meta_block(key=key, model=spec.identity(), name=spec.name, train=train.source,
                          train_fingerprint=train.fingerprint, hyperparameters=cfg.training_fields())
        train_and_save(model, tokenizer, features, cfg, run.work("qa", key), final, done, progress, save_steps)
        return Checkpoint(final, key, trained=True)

    return cached("qa checkpoint", final, what, train_it, lambda: Checkpoint(final, key, trained=False),
                  marker=final / DONE)


def predict_logits(model: Any, tokenizer: Any, inputs: list[dict[str, list[int]]], batch_size: int,
                   progress: bool = False, max_tokens: int | None = None,
                   precision: str = "auto") -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Start/end logits of every window: length-sorted batches under a token budget, dynamic
    padding, inference mode, autocast where `precision` asks for it (bf16/fp16 on GPU by default).
    """
    import torch

    device = next(model.parameters()).device
    if max_tokens is None and device.type == "cpu":
        max_tokens = CPU_MAX_TOKENS
    dtype = autocast_dtype(precision, device.type)
    pad = pad_token_id(tokenizer)
    lengths = np.array([len(x["input_ids"]) for x in inputs])
    starts: list[np.ndarray] = [None] * len(inputs)  # type: ignore[list-item]
    ends: list[np.ndarray] = [None] * len(inputs)  # type: ignore[list-item]
    batches = length_batches(lengths, batch_size, max_tokens)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="predict", leave=False)
    model.eval()
    with torch.inference_mode():
        for idx in batches:
            batch = {k: torch.from_numpy(pad_rows([inputs[i][k] for i in idx], pad if k == "input_ids" else 0))
                     .to(device) for k in inputs[idx[0]]}
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                out = model(**batch)
            s = out.start_logits.float().cpu().numpy()
            e = out.end_logits.float().cpu().numpy()
            for r, i in enumerate(idx):
                starts[i], ends[i] = s[r, : lengths[i]], e[r, : lengths[i]]
    return starts, ends


def predict_qa(model: Any, tokenizer: Any, dataset: QADataset, cfg: QAConfig,
               progress: bool = False) -> tuple[dict[str, str], dict[str, float]]:
    """Predictions `{id: text}` ("" for no answer) and no-answer probabilities for every question."""
    preds, na, _ = predict_qa_windows(model, tokenizer, dataset, cfg, progress)
    return preds, na


def predict_qa_windows(model: Any, tokenizer: Any, dataset: QADataset, cfg: QAConfig,
                       progress: bool = False) -> tuple[dict[str, str], dict[str, float], dict[str, np.ndarray]]:
    """`predict_qa`'s predictions and no-answer probabilities, and every window's answer start and
    end log-probabilities over its tokens (log-softmax of the logits, as the model's output
    distribution): {"start", "end": concatenated values, "offsets": window w's values are
    [offsets[w], offsets[w + 1]), "window_item": each window's question (dataset order)}."""
    feats = encode_eval(tokenizer, dataset.examples, cfg.max_seq_length, cfg.doc_stride,
                        cfg.max_query_length, model_keys(model), tqdm_wrap(progress, "tokenize"))
    s, e = predict_logits(model, tokenizer, feats.inputs, cfg.eval_batch_size, progress,
                          cfg.eval_max_tokens, cfg.precision)
    preds, na = postprocess(dataset.examples, feats.example_index, s, e, feats.starts, feats.ends,
                            cfg.n_best_size, cfg.max_answer_length, cfg.null_score_diff_threshold)

    def log_softmax(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float64)
        top = x.max()
        return (x - top - np.log(np.exp(x - top).sum())).astype(np.float32)

    offsets = np.zeros(len(s) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(w) for w in s])
    windows = {"start": np.concatenate([log_softmax(w) for w in s]) if s else np.zeros(0, np.float32),
               "end": np.concatenate([log_softmax(w) for w in e]) if e else np.zeros(0, np.float32),
               "offsets": offsets, "window_item": np.asarray(feats.example_index, dtype=np.int64)}
    return preds, na, windows


def read_predictions_folder(folder: Path, dataset: QADataset) -> tuple[
        dict[str, str], dict[str, float], dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """A cached predictions folder: predictions, no-answer probabilities, and the windows' start
    and end log-probabilities as (values, offsets) with each window's question index."""
    from miniature.exceptions import DataError
    from miniature.runs import read_json_file

    preds, na = read_json_file(folder / "predictions.json"), read_json_file(folder / "na_probs.json")
    try:
        with np.load(folder / "logprobs.npz", allow_pickle=False) as z:
            offsets = z["offsets"]
            windows = {"start": (z["start"], offsets), "end": (z["end"], offsets)}
            window_item = z["window_item"]
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"{folder}: its logprobs.npz is unreadable ({e}); delete the folder to predict again") from None
    if window_item.size and window_item.max() >= len(dataset):
        raise DataError(f"{folder}: predictions of another dataset; delete the folder to predict again")
    return preds, na, windows, window_item


def prediction_key(checkpoint_id: Any, dev: QADataset, cfg: QAConfig) -> str:
    knobs = {k: getattr(cfg, k) for k in ("max_seq_length", "doc_stride", "max_query_length", "n_best_size",
                                          "max_answer_length", "null_score_diff_threshold", "precision")}
    # outputs 2: the folder holds the windows' log-probabilities too
    return content_key({"checkpoint": checkpoint_id, "dev": dev.fingerprint, "knobs": knobs, "outputs": 2})


def cached_predictions(spec: ModelSpec, checkpoint: Path | None, checkpoint_id: Any, dev: QADataset,
                       cfg: QAConfig, run: RunDir, progress: bool = False) -> Path:
    """Predict `dev` with a QA checkpoint unless the run folder has it; return the folder.

    The folder holds `predictions.json` and `na_probs.json` in the official format, and
    `logprobs.npz`, every window's answer start and end log-probabilities (`predict_qa_windows`).
    """
    folder = run.path("predictions", f"{spec.name}-{prediction_key(checkpoint_id, dev, cfg)}")
    what = f"predict {len(dev)} questions with {spec.name}"

    def predict_it() -> Path:
        with atomic_dir(folder) as tmp:
            tokenizer = load_tokenizer(spec, checkpoint)
            model = to_device(load_qa_model(spec, checkpoint, require_head=True))
            preds, na, windows = predict_qa_windows(model, tokenizer, dev, cfg, progress)
            atomic_write_json(tmp / "predictions.json", preds)
            atomic_write_json(tmp / "na_probs.json", na)
            with open(tmp / "logprobs.npz", "wb") as f:
                np.savez(f, start=windows["start"], end=windows["end"], offsets=windows["offsets"],
                         window_item=windows["window_item"])
            atomic_write_json(tmp / DONE, meta_block(model=spec.name, checkpoint=str(checkpoint or spec.source),
                                                     dev=dev.source, dev_fingerprint=dev.fingerprint))
        return folder

    return cached("predictions", folder, what, predict_it, lambda: folder, marker=folder / DONE)
