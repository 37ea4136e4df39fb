"""What every task shares: device and precision rules, length-sorted batches, and the HF Trainer run."""

from __future__ import annotations

import inspect
import json
import re
import shutil
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from miniature.batching import attention_mask, length_batches, pad_rows
from miniature.runs import DONE, atomic_dir, atomic_write_json

CPU_MAX_TOKENS = 2048  # measured on 2 cores: batches past ~2k tokens run slower per token


class TrainKnobs(Protocol):
    """The fields QAConfig and ClassificationConfig share."""

    @property
    def seed(self) -> int: ...
    @property
    def epochs(self) -> float: ...
    @property
    def max_steps(self) -> int | None: ...
    @property
    def learning_rate(self) -> float: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def gradient_accumulation_steps(self) -> int: ...
    @property
    def warmup_ratio(self) -> float: ...
    @property
    def weight_decay(self) -> float: ...
    @property
    def precision(self) -> str: ...


def model_keys(model: Any) -> set[str]:
    """The input names the model's forward takes (DistilBERT and T5 take no token_type_ids)."""
    return set(inspect.signature(model.forward).parameters)


def special_tokens(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The special token ids a tokenizer puts before and after a single text ([CLS] and [SEP] for BERT)."""
    body = tokenizer("hello", add_special_tokens=False)["input_ids"]
    full = tokenizer("hello")["input_ids"]
    for s in range(len(full) - len(body) + 1):
        if full[s : s + len(body)] == body:
            return full[:s], full[s + len(body) :]
    return [], []


def tqdm_wrap(progress: bool, desc: str):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return lambda it: tqdm(it, desc=desc, leave=False)


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def to_device(model: Any) -> Any:
    """The GPU where there is one, else the CPU (where int8 dynamically quantized models must stay)."""
    if not cuda_available() or any("quantized" in type(m).__module__ for m in model.modules()):
        return model
    return model.to("cuda")


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


def padded_batches(seqs: Sequence[Sequence[int]], pad_id: int, batch_size: int, max_tokens: int | None,
                   device: Any) -> Iterator[tuple[np.ndarray, Any, Any]]:
    """Token-id sequences in length-sorted batches under a token budget, each padded to its
    longest: yields (indices, input_ids, attention_mask) with the tensors on `device`."""
    import torch

    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    for idx in length_batches(lengths, batch_size, max_tokens):
        ids = pad_rows([seqs[i] for i in idx], pad_id)
        mask = attention_mask(lengths[idx], ids.shape[1])
        yield idx, torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device)


@dataclass(frozen=True)
class Checkpoint:
    """A fine-tuned checkpoint folder, its cache key, and whether this call trained it."""

    path: Path
    key: str
    trained: bool


def _precision(cfg: TrainKnobs) -> dict[str, Any]:
    """The Trainer's mixed-precision flags, by the same rule as prediction."""
    import torch

    dtype = autocast_dtype(cfg.precision, "cuda" if cuda_available() else "cpu")
    return {"bf16": True} if dtype == torch.bfloat16 else {"fp16": True} if dtype == torch.float16 else {}


def _version_args(training_arguments: Any, cfg: TrainKnobs) -> dict[str, Any]:
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


class _Rows:
    """A list of feature dicts as a torch map-style dataset."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]


def last_complete_checkpoint(work: Path) -> str | None:
    """The newest Trainer checkpoint in `work` that was written to the end, or None.

    The Trainer writes `checkpoint-N` under its final name and its `trainer_state.json` last, so a
    kill mid-save leaves a folder without a readable one. Such folders are deleted (they are
    scratch), and training resumes from the newest whole one, or from the start."""
    if not work.is_dir():
        return None
    found = sorted((int(m.group(1)), p) for p in work.iterdir()
                   if p.is_dir() and (m := re.fullmatch(r"checkpoint-(\d+)", p.name)))
    for _, folder in reversed(found):
        try:
            json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))["global_step"]
            return str(folder)
        except (OSError, ValueError, KeyError, TypeError):
            shutil.rmtree(folder, ignore_errors=True)
    return None


def _stderr_progress() -> Any:
    """The Trainer's progress bar with its log lines ({'loss': ...}, {'train_runtime': ...}) on
    stderr beside the bar: transformers writes them on stdout, which a user pipes."""
    from transformers import ProgressCallback

    class StderrProgress(ProgressCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if state.is_world_process_zero and self.training_bar is not None and logs:
                shown = {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in logs.items() if k != "total_flos"}
                self.training_bar.write(str(shown), file=sys.stderr)

    return StderrProgress()


def train_and_save(model: Any, tokenizer: Any, features: list[dict[str, Any]], cfg: TrainKnobs, work: Path,
                   final: Path, done: dict[str, Any], progress: bool = False, save_steps: int = 500) -> None:
    """Train with the HF Trainer, resuming from the last checkpoint in `work`, then save model,
    tokenizer and the `done` record into `final` atomically and drop the scratch folder."""
    from transformers import (
        DataCollatorWithPadding,
        PrinterCallback,
        ProgressCallback,
        Trainer,
        TrainingArguments,
    )

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
        dataloader_pin_memory=cuda_available(),
        remove_unused_columns=False,
        **_precision(cfg),
        **_version_args(TrainingArguments, cfg),
    )
    trainer = Trainer(model=model, args=args, train_dataset=_Rows(features),
                      data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer)
    trainer.remove_callback(PrinterCallback)  # prints the logs on stdout, which is the user's
    if progress:
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(_stderr_progress())
    trainer.train(resume_from_checkpoint=last_complete_checkpoint(work))
    with atomic_dir(final) as tmp:
        trainer.save_model(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        atomic_write_json(tmp / DONE, done)
    shutil.rmtree(work, ignore_errors=True)
