"""Saving and reloading derived models: a Hugging Face folder plus `miniature_compress.json`."""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from miniature.compress.arch import attention, encoder_layers, keep_heads, kept_heads, layer_count
from miniature.compress.base import STEPS, is_quantized
from miniature.compress.quantize import quantize_int8
from miniature.exceptions import ModelError
from miniature.runs import atomic_dir, meta_block

RECIPE = "miniature_compress.json"
PER_CHANNEL = (torch.per_channel_affine, torch.per_channel_symmetric)
STATE = "miniature_state.pt"  # not a name from_pretrained looks for: such a folder cannot load half-built


def structure(model: Any) -> dict[str, Any]:
    """What from_config cannot rebuild from config.json alone: kept heads per layer and the int8 flag."""
    heads = kept_heads(model)
    int8 = is_quantized(model)
    per_channel = int8 and any(callable(getattr(m, "weight", None)) and m.weight().qscheme() in PER_CHANNEL
                               for m in model.modules())
    weight_only = [s["params"] for s in getattr(model, STEPS, []) if s["method"] == "weight_only"]
    wo = {"bits": weight_only[-1]["bits"], "group_size": weight_only[-1]["group_size"]} if weight_only else None
    return {"format": "state_dict" if heads is not None or int8 or wo else "hf", "int8": int8,
            "int8_per_channel": per_channel, "kept_heads": heads, "num_hidden_layers": layer_count(model),
            "weight_only": wo}


def save_derived(model: Any, tokenizer: Any, folder: str | Path, recipe: Mapping[str, Any]) -> Path:
    """Write model, tokenizer and `miniature_compress.json` into `folder` atomically (replacing it).

    Layer-dropped, pruned and distilled models are plain save_pretrained folders. Head-pruned and
    int8 models change shapes or module types that config.json cannot describe: their config and
    tokenizer go through save_pretrained and their weights through torch.save (`miniature_state.pt`).
    The JSON holds the caller's recipe (method, params, ...), the derivation steps the model went
    through, its `structure` (see `structure`) and a meta block.
    """
    folder = Path(folder)
    shape = structure(model)
    steps = getattr(model, STEPS, [])
    record = {**dict(recipe), "structure": shape, "steps": steps}
    if steps and "params" not in record:  # the params of the step the recipe names, else of the last
        same = [s for s in steps if s["method"] == record.get("method", steps[-1]["method"])]
        record.setdefault("method", steps[-1]["method"])
        record["params"] = (same or steps)[-1]["params"]
    record["meta"] = meta_block(model_type=getattr(model.config, "model_type", None))
    with atomic_dir(folder) as tmp:
        if shape["format"] == "hf":
            model.save_pretrained(tmp)
        else:
            config = copy.deepcopy(model.config)
            config.architectures = [type(model).__name__]
            config.save_pretrained(tmp)
            with warnings.catch_warnings():  # quantized tensors still go through TypedStorage
                warnings.filterwarnings("ignore", message="TypedStorage is deprecated")
                torch.save(model.state_dict(), tmp / STATE)
        tokenizer.save_pretrained(tmp)
        (tmp / RECIPE).write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    return folder


def is_derived(folder: str | Path) -> bool:
    """Whether `folder` holds a model written by save_derived."""
    return (Path(folder) / RECIPE).is_file()


def read_recipe(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / RECIPE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: unreadable ({e.__class__.__name__}); save the model again with save_derived")


def load_derived(folder: str | Path, auto_class: Any) -> Any:
    """The model saved in `folder`, in eval mode, with the outputs it had when saved.

    Args:
        auto_class: e.g. transformers.AutoModelForQuestionAnswering or AutoModel.
    """
    folder = Path(folder)
    if not is_derived(folder):
        return auto_class.from_pretrained(folder).eval()
    recipe = read_recipe(folder)
    shape = recipe.get("structure", {})
    if shape.get("format", "hf") == "hf":
        model = auto_class.from_pretrained(folder)
    else:
        from transformers import AutoConfig

        model = auto_class.from_config(AutoConfig.from_pretrained(folder))
        if shape.get("kept_heads"):
            for layer, kept in zip(encoder_layers(model), shape["kept_heads"]):
                att = attention(layer, model)
                if kept != att.kept():
                    keep_heads(att, kept)
        if shape.get("int8"):
            model.eval()
            quantize_int8(model, per_channel=shape.get("int8_per_channel", False))
        wo = shape.get("weight_only")
        if wo:  # torchao's quantized weights: the same modules quantized, then the saved tensors put in
            from miniature.compress.weight_only import quantize_weights

            quantize_weights(model, wo["bits"], wo["group_size"])
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="TypedStorage is deprecated")
            state = torch.load(folder / STATE, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True, assign=bool(wo))
        if wo and getattr(model.config, "tie_word_embeddings", False):
            model.tie_weights()  # assigned tensors replace the tied ones: tie the head to the embeddings again
    setattr(model, STEPS, recipe.get("steps", []))
    return model.eval()
