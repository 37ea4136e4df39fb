"""Extractive QA: fine-tune with the HF Trainer (cached by content key) and fast batched prediction."""

from __future__ import annotations

import inspect
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from miniature.config import QAConfig
from miniature.data.squad import QADataset
from miniature.runs import RunDir, atomic_dir, atomic_write_json, content_key, meta_block
from miniature.tasks.qa_features import encode_eval, encode_train
from miniature.tasks.qa_postprocess import postprocess
from miniature.zoo import ModelSpec, load_qa_model, load_tokenizer

DONE = "miniature.json"  # written last into a finished checkpoint folder


def model_keys(model: Any) -> set[str]:
    """The input names the model's forward takes (DistilBERT and T5 take no token_type_ids)."""
    return set(inspect.signature(model.forward).parameters)


def _tqdm(progress: bool, desc: str):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return lambda it: tqdm(it, desc=desc, leave=False)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def to_device(model: Any) -> Any:
    """The GPU where there is one, else the CPU."""
    return model.to("cuda") if _cuda() else model


def autocast_dtype(precision: str, device_type: str) -> Any:
    """The reduced-precision dtype `precision` asks for on a device, or None for fp32.

    "auto": bf16 on a GPU that has it, else fp16 on GPU; fp32 on CPU.
    """
    import torch

    if precision == "bf16" or (precision == "auto" and device_type == "cuda" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    if precision == "fp16" or (precision == "auto" and device_type == "cuda"):
        return torch.float16
    return None


def _precision(cfg: QAConfig) -> dict[str, bool]:
    """The Trainer's mixed-precision flags, by the same rule as prediction."""
    import torch

    dtype = autocast_dtype(cfg.precision, "cuda" if _cuda() else "cpu")
    return {"bf16": True} if dtype == torch.bfloat16 else {"fp16": True} if dtype == torch.float16 else {}


def _version_args(training_arguments: Any, cfg: QAConfig) -> dict[str, Any]:
    """Warmup ratio and length grouping, spelled as the installed transformers spells them."""
    params = inspect.signature(training_arguments.__init__).parameters
    args: dict[str, Any] = {}
    if "warmup_ratio" in params:  # transformers 4
        args["warmup_ratio"] = cfg.warmup_ratio
    else:  # transformers 5: a float in [0, 1) is a ratio of total steps
        args["warmup_steps"] = cfg.warmup_ratio
    if "train_sampling_strategy" in params:  # less padding, same data
        args["train_sampling_strategy"] = "group_by_length"
    else:
        args["group_by_length"] = True
    return args


class _Features:
    """A list of feature dicts as a torch map-style dataset."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]


@dataclass(frozen=True)
class Checkpoint:
    """A QA checkpoint folder, its cache key, and whether this call trained it."""

    path: Path
    key: str
    trained: bool


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
    if (final / DONE).is_file():
        return Checkpoint(final, key, trained=False)

    from transformers import (
        DataCollatorWithPadding,
        PrinterCallback,
        Trainer,
        TrainingArguments,
        set_seed,
    )
    from transformers.trainer_utils import get_last_checkpoint

    set_seed(cfg.seed)  # before loading: the fresh QA head is initialised from the seed
    tokenizer = load_tokenizer(spec)
    model = load_qa_model(spec)
    features = encode_train(tokenizer, train.examples, cfg.max_seq_length, cfg.doc_stride,
                            cfg.max_query_length, model_keys(model), _tqdm(progress, "tokenize"))
    work = run.work("qa", key)
    args = TrainingArguments(
        output_dir=str(work),
        seed=cfg.seed,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        weight_decay=cfg.weight_decay,
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=1,
        logging_steps=50,
        report_to="none",
        disable_tqdm=not progress,
        dataloader_num_workers=0,
        dataloader_pin_memory=_cuda(),
        remove_unused_columns=False,
        **_precision(cfg),
        **_version_args(TrainingArguments, cfg),
    )
    trainer = Trainer(model=model, args=args, train_dataset=_Features(features),
                      data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer)
    if not progress:
        trainer.remove_callback(PrinterCallback)
    last = get_last_checkpoint(str(work)) if work.is_dir() else None
    trainer.train(resume_from_checkpoint=last)
    with atomic_dir(final) as tmp:
        trainer.save_model(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        atomic_write_json(tmp / DONE, meta_block(key=key, model=spec.identity(), name=spec.name,
                                                 train=train.source, train_fingerprint=train.fingerprint,
                                                 hyperparameters=cfg.training_fields()))
    shutil.rmtree(work, ignore_errors=True)
    return Checkpoint(final, key, trained=True)


CPU_MAX_TOKENS = 2048  # measured on 2 cores: batches past ~2k tokens run slower per token


def length_batches(lengths: np.ndarray, max_windows: int, max_tokens: int | None) -> list[np.ndarray]:
    """Windows sorted longest first, cut into batches of at most `max_windows` windows and at
    most `max_tokens` tokens once padded to the batch's longest window."""
    order = np.argsort(-lengths, kind="stable")  # longest first: memory trouble shows at once
    batches, start = [], 0
    while start < len(order):
        width = int(lengths[order[start]])  # the longest of the batch comes first
        size = max_windows if max_tokens is None else max(1, min(max_windows, max_tokens // width))
        batches.append(order[start : start + size])
        start += size
    return batches


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
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
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
            width = int(lengths[idx].max())
            batch = {}
            for k in inputs[idx[0]]:
                fill = pad if k == "input_ids" else 0
                arr = np.full((len(idx), width), fill, dtype=np.int64)
                for r, i in enumerate(idx):
                    arr[r, : lengths[i]] = inputs[i][k]
                batch[k] = torch.from_numpy(arr).to(device)
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
    feats = encode_eval(tokenizer, dataset.examples, cfg.max_seq_length, cfg.doc_stride,
                        cfg.max_query_length, model_keys(model), _tqdm(progress, "tokenize"))
    s, e = predict_logits(model, tokenizer, feats.inputs, cfg.eval_batch_size, progress,
                          cfg.eval_max_tokens, cfg.precision)
    return postprocess(dataset.examples, feats.example_index, s, e, feats.starts, feats.ends,
                       cfg.n_best_size, cfg.max_answer_length, cfg.null_score_diff_threshold)


def prediction_key(checkpoint_id: Any, dev: QADataset, cfg: QAConfig) -> str:
    knobs = {k: getattr(cfg, k) for k in ("max_seq_length", "doc_stride", "max_query_length", "n_best_size",
                                          "max_answer_length", "null_score_diff_threshold", "precision")}
    return content_key({"checkpoint": checkpoint_id, "dev": dev.fingerprint, "knobs": knobs})


def cached_predictions(spec: ModelSpec, checkpoint: Path | None, checkpoint_id: Any, dev: QADataset,
                       cfg: QAConfig, run: RunDir, progress: bool = False) -> Path:
    """Predict `dev` with a QA checkpoint unless the run folder has it; return the folder.

    The folder holds `predictions.json` and `na_probs.json` in the official format.
    """
    folder = run.path("predictions", f"{spec.name}-{prediction_key(checkpoint_id, dev, cfg)}")
    if (folder / DONE).is_file():
        return folder
    tokenizer = load_tokenizer(spec, checkpoint)
    model = to_device(load_qa_model(spec, checkpoint, require_head=True))
    preds, na = predict_qa(model, tokenizer, dev, cfg, progress)
    with atomic_dir(folder) as tmp:
        atomic_write_json(tmp / "predictions.json", preds)
        atomic_write_json(tmp / "na_probs.json", na)
        atomic_write_json(tmp / DONE, meta_block(model=spec.name, checkpoint=str(checkpoint or spec.source),
                                                 dev=dev.source, dev_fingerprint=dev.fingerprint))
    return folder
