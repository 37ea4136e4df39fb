"""Training derived models: knowledge distillation of a student, and short recovery fine-tuning."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from miniature.batching import attention_mask, length_grouped_batches, pad_rows
from miniature.compress.arch import encoder_layers, prunable_linears
from miniature.compress.base import is_quantized, number
from miniature.exceptions import ConfigError, ModelError
from miniature.families import pad_token_id

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
LABELS = ("labels", "start_positions", "end_positions")
STATE = "state.pt"  # a training loop's resume point inside its work folder
SAVE_STEPS = 500


def _accepts(model: Any) -> set[str]:
    import inspect

    return set(inspect.signature(model.forward).parameters)


def collate(rows: Sequence[dict[str, Any]], pad_id: int, keys: Sequence[str]) -> dict[str, torch.Tensor]:
    """Pad a batch of feature dicts to its longest sequence (input_ids with `pad_id`, masks and
    segment ids with 0); labels become tensors; keys outside `keys` are dropped."""
    width = max(len(r["input_ids"]) for r in rows)
    batch: dict[str, torch.Tensor] = {}
    for key in keys:
        if key in LABELS:
            batch[key] = torch.tensor([r[key] for r in rows])
        elif key == "attention_mask" and "attention_mask" not in rows[0]:
            batch[key] = torch.from_numpy(attention_mask([len(r["input_ids"]) for r in rows], width))
        else:
            batch[key] = torch.from_numpy(pad_rows([r[key] for r in rows], pad_id if key == "input_ids" else 0, width))
    return batch


def kd_loss(student_logits: Sequence[torch.Tensor], teacher_logits: Sequence[torch.Tensor],
            temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(teacher/T) || softmax(student/T)) over the last axis, averaged over the rows
    of each logits tensor and then over the tensors (QA: start and end)."""
    losses = []
    for s, t in zip(student_logits, teacher_logits):
        s_log = F.log_softmax(s.float().reshape(-1, s.shape[-1]) / temperature, dim=-1)
        t_log = F.log_softmax(t.float().reshape(-1, t.shape[-1]) / temperature, dim=-1)
        losses.append(F.kl_div(s_log, t_log, log_target=True, reduction="batchmean"))
    return temperature**2 * torch.stack(losses).mean()


def _logits(output: Any) -> list[torch.Tensor]:
    return [output[k] for k in output if k.endswith("logits")]


def _check(model: Any, rows: Sequence[dict[str, Any]], batch_size: int, what: str) -> None:
    if is_quantized(model):
        raise ModelError(f"{what}: an int8-quantized model cannot be trained; train the fp32 model, then quantize")
    if not rows:
        raise ConfigError(f"{what}: no training rows; pass tokenized features with input_ids and labels")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"{what}: batch_size must be a positive integer, got {batch_size!r}")


def train_loop(model: Any, rows: Sequence[dict[str, Any]], tokenizer: Any,
               loss_fn: Callable[[dict[str, torch.Tensor]], torch.Tensor], *, steps: int, learning_rate: float,
               batch_size: int, seed: int, progress: bool, desc: str,
               after_step: Callable[[], None] | None = None, work: Path | None = None) -> Any:
    """AdamW with a linear decay to 0 over `steps` shuffled batches of rows of similar length,
    each padded to its longest (`length_grouped_batches`).

    With a `work` folder, every `SAVE_STEPS` (500) steps the weights, optimiser, schedule, step
    and random state are saved there (atomically), and a loop started again with the same folder
    resumes from the last save: same batches, same dropout, the same weights at the end as a run
    never stopped. The caller removes the folder once the model is stored."""
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(seed)  # dropout
    pad_id = pad_token_id(tokenizer)
    keys = [k for k in (*INPUTS, *LABELS) if k in _accepts(model) and (k in rows[0] or k == "attention_mask")]
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate)
    schedule = get_linear_schedule_with_warmup(optimizer, 0, steps)
    batches = length_grouped_batches([len(r["input_ids"]) for r in rows], batch_size, seed)
    start = _resume(work, model, optimizer, schedule, steps) if work is not None else 0
    for _ in range(start):  # the batches the saved steps consumed
        next(batches)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, initial=start, desc=desc, leave=False)
    model.train()
    for step in range(start, steps):
        batch = collate([rows[i] for i in next(batches)], pad_id, keys)
        loss = loss_fn({k: v.to(device) for k, v in batch.items()})
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        if after_step is not None:
            after_step()
        if work is not None and (step + 1) % SAVE_STEPS == 0 and step + 1 < steps:
            _save_state(work, step + 1, steps, model, optimizer, schedule)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}")
    if bar is not None:
        bar.close()
    return model.eval()


def _save_state(work: Path, step: int, steps: int, model: Any, optimizer: Any, schedule: Any) -> None:
    """The loop's resume point, written under a temporary name and renamed over the last one."""
    from miniature.runs import atomic_file

    with atomic_file(work / STATE) as tmp:
        torch.save({"step": step, "steps": steps, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(), "rng": torch.get_rng_state()}, tmp)


def _resume(work: Path, model: Any, optimizer: Any, schedule: Any, steps: int) -> int:
    """Load the last resume point in `work` into the loop's objects; the step it was saved at
    (0 where there is none, or one of another length of training)."""
    path = work / STATE
    if not path.is_file():
        return 0
    state = torch.load(path, map_location=next(model.parameters()).device, weights_only=True)
    if state.get("steps") != steps:
        return 0
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    torch.set_rng_state(state["rng"])
    return int(state["step"])


def distil_train(teacher: Any, student: Any, rows: list[dict[str, Any]], tokenizer: Any, *,
                 temperature: float = 2.0, alpha: float = 0.5, epochs: float = 1.0, max_steps: int | None = None,
                 learning_rate: float = 5e-5, batch_size: int = 16, seed: int = 42, progress: bool = False,
                 work: Path | None = None) -> Any:
    """Train `student` (in place, returned in eval mode) to match `teacher` on `rows`; resumable
    from `work` (`train_loop`).

    loss = alpha * the student's own loss from the labels + (1 - alpha) * T^2 * KL(teacher || student)
    on the temperature-softened distributions of every output ending in "logits" (QA: the mean of
    start and end). The teacher runs in eval mode without gradients. `max_steps`, when given,
    overrides `epochs`.
    """
    _check(student, rows, batch_size, "distil_train")
    number("distil_train", "temperature", temperature, 0.0, math.inf, low_open=True)
    number("distil_train", "alpha", alpha, 0.0, 1.0, high_open=False)
    if alpha > 0 and not any(k in rows[0] for k in LABELS):
        raise ConfigError("distil_train: rows carry no labels (labels or start/end_positions); add them or "
                          "set alpha=0 for distillation alone")
    steps = max_steps or math.ceil(epochs * math.ceil(len(rows) / batch_size))
    teacher.eval()
    t_keys = _accepts(teacher)
    t_device = next(teacher.parameters()).device

    def loss_fn(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.no_grad():
            t_out = teacher(**{k: v.to(t_device) for k, v in batch.items() if k in INPUTS and k in t_keys})
        s_out = student(**(batch if alpha > 0 else {k: v for k, v in batch.items() if k in INPUTS}))
        soft = kd_loss(_logits(s_out), [t.to(batch["input_ids"].device) for t in _logits(t_out)], temperature)
        return soft if alpha == 0 else alpha * s_out.loss + (1 - alpha) * soft

    return train_loop(student, rows, tokenizer, loss_fn, steps=steps, learning_rate=learning_rate,
                      batch_size=batch_size, seed=seed, progress=progress, desc="distil", work=work)


def recover(model: Any, rows: list[dict[str, Any]], tokenizer: Any, *, max_steps: int,
            learning_rate: float = 3e-5, batch_size: int = 16, seed: int = 42, progress: bool = False,
            work: Path | None = None) -> Any:
    """Short fine-tuning on the task loss after pruning or dropping (in place, returned in eval mode;
    resumable from `work`, `train_loop`).

    Every encoder Linear weight that is exactly zero before training is zeroed again after each
    optimizer step, so an unstructurally pruned model leaves with the sparsity it came with.
    """
    _check(model, rows, batch_size, "recover")
    if not any(k in rows[0] for k in LABELS):
        raise ConfigError("recover: rows carry no labels; add labels or start_positions/end_positions")
    if not isinstance(max_steps, int) or max_steps < 1:
        raise ConfigError(f"recover: max_steps must be a positive integer, got {max_steps!r}")
    encoder_layers(model)  # a ModelError for an unknown architecture
    linears: list[Any] = [m for _, m in prunable_linears(model)]
    masks = [(m.weight, m.weight.detach() == 0) for m in linears]
    masks = [(w, zero) for w, zero in masks if bool(zero.any())]

    def reapply() -> None:
        with torch.no_grad():
            for weight, zero in masks:
                weight.masked_fill_(zero, 0.0)

    return train_loop(model, rows, tokenizer, lambda batch: model(**batch).loss, steps=max_steps,
                      learning_rate=learning_rate, batch_size=batch_size, seed=seed, progress=progress,
                      desc="recover", after_step=reapply, work=work)
