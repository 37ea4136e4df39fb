"""Llama and the decoders that share its layout (SmolLM2, TinyLlama, Llama 3; Qwen2 and Qwen3;
Mistral): layers at `layers`, attention in `self_attn` with `q_proj`, `k_proj`, `v_proj` and
`o_proj` (grouped-query attention: fewer key/value heads than query heads, so heads are not pruned
one by one), every projection an `nn.Linear`, no pad token (the end-of-sequence token pads)."""

from __future__ import annotations

from miniature.families.base import Family

LLAMA = Family(model_types=("llama",), layers=("layers",), pooling="last", padding_side="right")
QWEN2 = Family(model_types=("qwen2", "qwen3"), layers=("layers",), pooling="last", padding_side="right")
MISTRAL = Family(model_types=("mistral",), layers=("layers",), pooling="last", padding_side="right")
