"""One vector per data point: tokenise once into flat arrays, length-sorted batches, pooled, to .npy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from miniature.batching import attention_mask, length_batches, pad_rows
from miniature.data.squad import QAExample
from miniature.exceptions import ConfigError, ModelError
from miniature.families import Pooling, pad_token_id
from miniature.tasks.qa_features import truncate_questions
from miniature.tasks.training import CPU_MAX_TOKENS, autocast_dtype, model_keys

Text = Literal["pair", "question", "context"]
CHUNK = 2000  # examples tokenised per batched call


@dataclass
class Encoded:
    """Every point's tokens in flat int32 arrays: about 4 bytes a token, not a Python list each."""

    input_ids: np.ndarray  # all points' ids, concatenated
    token_type_ids: np.ndarray | None
    offsets: np.ndarray  # (n + 1,): point i is [offsets[i], offsets[i + 1])
    cls_position: np.ndarray  # (n,): position of the CLS token, -1 where there is none

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def point_texts(examples: Sequence[QAExample], text: Text) -> tuple[list[str], list[str] | None]:
    """What a data point reads: the question-context pair (as the QA model's first window), or one side."""
    if text == "question":
        return [e.question for e in examples], None
    if text == "context":
        return [e.context for e in examples], None
    return [e.question for e in examples], [e.context for e in examples]


def encode_points(tokenizer: Any, examples: Sequence[QAExample], text: Text = "pair",
                  max_seq_length: int = 384, max_query_length: int = 64) -> Encoded:
    """Tokenise every point once, in large batched calls.

    A pair is read as the QA model reads its first window: the question cut to
    `max_query_length` tokens, the context cut so the whole fits `max_seq_length`.
    """
    parts = []
    for s in range(0, len(examples), CHUNK):
        first, second = point_texts(examples[s : s + CHUNK], text)
        if second is not None:
            first = truncate_questions(tokenizer, first, max_query_length)
            parts.append(tokenizer(first, second, truncation="only_second", max_length=max_seq_length))
        else:
            parts.append(tokenizer(first, truncation=True, max_length=max_seq_length))
    return _encoded(tokenizer, parts)


def encode_texts(tokenizer: Any, texts: Sequence[str], max_length: int) -> Encoded:
    """Tokenise single texts once (a classifier's reading: cut to `max_length` tokens), in large batched calls."""
    return _encoded(tokenizer, [tokenizer(list(texts[s : s + CHUNK]), truncation=True, max_length=max_length)
                                for s in range(0, len(texts), CHUNK)])


def _encoded(tokenizer: Any, parts: Sequence[Any]) -> Encoded:
    """The tokenizer's batched outputs as flat arrays, with each point's CLS position."""
    ids: list[np.ndarray] = []
    types: list[np.ndarray] = []
    lengths, cls_pos = [], []
    cls_id = tokenizer.cls_token_id
    for enc in parts:
        for i, row in enumerate(enc["input_ids"]):
            ids.append(np.asarray(row, dtype=np.int32))
            if "token_type_ids" in enc:
                types.append(np.asarray(enc["token_type_ids"][i], dtype=np.int8))
            lengths.append(len(row))
            cls_pos.append(row.index(cls_id) if cls_id is not None and cls_id in row else -1)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Encoded(np.concatenate(ids) if ids else np.zeros(0, np.int32),
                   np.concatenate(types) if types else None, offsets, np.asarray(cls_pos, dtype=np.int64))


def effective_pooling(pooling: Pooling, encoded: Encoded) -> Pooling:
    """CLS pooling where every point has a CLS token; mean pooling for models without one (T5)."""
    return "mean" if pooling == "cls" and (encoded.cls_position < 0).any() else pooling


def encoder_of(model: Any) -> Any:
    """The part that reads the input: the encoder of an encoder-decoder (T5), else the model."""
    return model.get_encoder() if getattr(model.config, "is_encoder_decoder", False) else model


def hidden_layers(model: Any) -> int:
    cfg = model.config
    for name in ("num_hidden_layers", "num_layers", "n_layers"):
        if isinstance(getattr(cfg, name, None), int):
            return int(getattr(cfg, name))
    raise ModelError(f"cannot tell how many layers a {type(model).__name__} has")


def check_layer(layer: int, n_layers: int) -> int:
    """The hidden-states index of `layer`: 0 is the embedding output, n_layers (or -1) the last layer."""
    if not -(n_layers + 1) <= layer <= n_layers:
        raise ConfigError(f"layer {layer}: the model has {n_layers} layers; choose one in "
                          f"[{-(n_layers + 1)}, {n_layers}] (0 = embeddings, -1 = last)")
    return layer % (n_layers + 1)


def _batch(encoded: Encoded, idx: np.ndarray, keys: set[str], pad: int, device: Any) -> dict[str, Any]:
    import torch

    spans = [(encoded.offsets[i], encoded.offsets[i + 1]) for i in idx]
    ids = pad_rows([encoded.input_ids[a:b] for a, b in spans], pad)
    batch = {"input_ids": ids, "attention_mask": attention_mask(encoded.lengths[idx], ids.shape[1])}
    if encoded.token_type_ids is not None and "token_type_ids" in keys:
        batch["token_type_ids"] = pad_rows([encoded.token_type_ids[a:b] for a, b in spans], 0, ids.shape[1])
    return {k: torch.from_numpy(v).to(device) for k, v in batch.items()}


def pool(hidden: Any, mask: Any, cls_position: Any, pooling: Pooling) -> Any:
    """(batch, dims) float32: the CLS token's vector, the mean over non-padding tokens, or the last
    non-padding token's vector (what a decoder has read the whole text at; rows padded right)."""
    import torch

    hidden = hidden.float()
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    if pooling == "cls":
        return hidden[rows, cls_position]
    if pooling == "last":
        return hidden[rows, mask.sum(1).clamp(min=1) - 1]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


def embed(model: Any, tokenizer: Any, encoded: Encoded, pooling: Pooling = "cls", layer: int = -1,
          out: np.ndarray | None = None, batch_size: int = 64, max_tokens: int | None = None,
          precision: str = "auto", progress: bool = False) -> np.ndarray:
    """One float32 vector per point, written into `out` (a memory map, say) or a new array.

    Length-sorted batches under a token budget, each padded to its own longest point;
    `torch.inference_mode`; bf16/fp16 autocast on GPU unless `precision` says otherwise.
    """
    import torch

    net = encoder_of(model)
    device = next(net.parameters()).device
    pooling = effective_pooling(pooling, encoded)
    index = check_layer(layer, hidden_layers(model))
    last = index == hidden_layers(model)
    keys = model_keys(net)
    pad = pad_token_id(tokenizer)
    if max_tokens is None and device.type == "cpu":
        max_tokens = CPU_MAX_TOKENS
    dtype = autocast_dtype(precision, device.type)
    batches = length_batches(encoded.lengths, batch_size, max_tokens)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="embed", leave=False)
    net.eval()
    with torch.inference_mode():
        for idx in batches:
            batch = _batch(encoded, idx, keys, pad, device)
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                res = net(**batch, output_hidden_states=not last, return_dict=True)
            hidden = res.last_hidden_state if last else res.hidden_states[index]
            cls = torch.from_numpy(np.maximum(encoded.cls_position[idx], 0)).to(device)
            vec = pool(hidden, batch["attention_mask"], cls, pooling).cpu().numpy()
            if out is None:
                out = np.empty((len(encoded), vec.shape[1]), dtype=np.float32)
            out[idx] = vec
    assert out is not None
    return out


def embed_to_npy(path: str | Path, model: Any, tokenizer: Any, encoded: Encoded, **kw: Any) -> Path:
    """`embed` straight into a memory-mapped float32 .npy: RAM holds one batch, not the whole matrix.

    Written under a temporary name and renamed once complete.
    """
    from miniature.runs import atomic_file

    dims = int(getattr(encoder_of(model).config, "hidden_size", 0) or model.config.d_model)
    with atomic_file(path, suffix=".tmp.npy") as tmp:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(encoded), dims))
        embed(model, tokenizer, encoded, out=mm, **kw)
        mm.flush()
        del mm
    return Path(path)
