"""Model-family adapters, one file each, registered by name: what compression, pooling and
padding need to know about an architecture. Adding a family is its file and one line here."""

from __future__ import annotations

from typing import Any

from miniature.exceptions import ModelError
from miniature.families.base import KEPT, Attention, Family, Pooling
from miniature.families.bert import BERT, ELECTRA, ROBERTA
from miniature.families.distilbert import DISTILBERT
from miniature.families.gpt2 import GPT2
from miniature.families.llama import LLAMA, MISTRAL, QWEN2
from miniature.families.t5 import T5
from miniature.registry import Registry

FAMILIES: Registry[Family] = Registry("model family", ModelError)
FAMILIES.add("bert", BERT)
FAMILIES.add("roberta", ROBERTA)
FAMILIES.add("electra", ELECTRA)
FAMILIES.add("distilbert", DISTILBERT)
FAMILIES.add("t5", T5)
FAMILIES.add("gpt2", GPT2)
FAMILIES.add("llama", LLAMA)
FAMILIES.add("qwen2", QWEN2)
FAMILIES.add("mistral", MISTRAL)


def model_type(model: Any) -> str:
    """`config.model_type` of a model (or of its config), else its class name."""
    cfg = getattr(model, "config", model)
    return str(getattr(cfg, "model_type", None) or type(model).__name__)


def family_of(model: Any) -> Family:
    """The adapter of a model (or a config) by its `model_type`; a ModelError names the known ones."""
    kind = model_type(model)
    for _, family in FAMILIES.items():
        if kind in family.model_types:
            return family
    known = ", ".join(t for _, f in FAMILIES.items() for t in f.model_types)
    raise ModelError(f"model type {kind!r} is not a family miniature knows ({known}); add a family adapter "
                     "(see the docs' extending page)")


def pad_token_id(tokenizer: Any) -> int:
    """The id a batch pads with: the tokenizer's pad token, else its end-of-sequence token (as
    decoder-only models have no pad token), else 0 (padding is masked out either way)."""
    for name in ("pad_token_id", "eos_token_id"):
        value = getattr(tokenizer, name, None)
        if isinstance(value, list):  # some configs list several end tokens
            value = value[0] if value else None
        if value is not None:
            return int(value)
    return 0


__all__ = ["FAMILIES", "KEPT", "Attention", "Family", "Pooling", "family_of", "model_type", "pad_token_id"]
