"""layers and distil: keep a subset of the encoder layers (distil: the untrained student, layers evenly spread)."""

from __future__ import annotations

import math
from typing import Any

from miniature.compress.arch import layer_count, set_encoder_layers
from miniature.compress.base import METHODS, REQUIRED, Method, Params, integer
from miniature.exceptions import ConfigError, ModelError
from miniature.families import family_of, model_type


def every_other(n_layers: int) -> list[int]:
    return list(range(0, n_layers, 2))


def evenly(n_layers: int, k: int) -> list[int]:
    """`k` of `n_layers` layers spread evenly from the first to the last (k=1: the first):
    round-half-up of i * (n - 1) / (k - 1); e.g. 3 of 6 -> 0, 3, 5 and 2 of 4 -> 0, 3."""
    if k == 1:
        return [0]
    return [math.floor(i * (n_layers - 1) / (k - 1) + 0.5) for i in range(k)]


def check_keep(keep: Any, n_layers: int | None) -> list[int] | str:
    """The layers to keep, ascending; "every_other" stays symbolic until the model is known."""
    if keep == "every_other":
        return every_other(n_layers) if n_layers is not None else keep
    if isinstance(keep, str) or not isinstance(keep, (list, tuple)):
        raise ConfigError(f"layers.keep must be \"every_other\" or a list of layer indices, got {keep!r}")
    if not keep:
        raise ConfigError("layers.keep is empty; list at least one layer index to keep")
    bad = [k for k in keep if not isinstance(k, int) or isinstance(k, bool) or k < 0]
    if bad:
        raise ConfigError(f"layers.keep holds {bad[0]!r}, not a layer index; use integers from 0")
    repeated = sorted({k for k in keep if list(keep).count(k) > 1})
    if repeated:
        raise ConfigError(f"layers.keep names layer {repeated[0]} more than once; list each layer once")
    if n_layers is not None and max(keep) >= n_layers:
        raise ModelError(f"layers.keep names layer {max(keep)} but the model has {n_layers} layers "
                         f"(0-{n_layers - 1})")
    return sorted(keep)


def _droppable(method: str, model: Any) -> None:
    """Refuse, before any work, a family whose layers cannot be dropped (T5)."""
    if model is not None and not family_of(model).drop_layers:
        raise ModelError(f"{method}: the layers of a {model_type(model)!r} model cannot be dropped or reordered "
                         "(one layer holds what the others need); use prune or int8")


def check_layers(params: Params, model: Any) -> Params:
    _droppable("layers", model)
    return {"keep": check_keep(params["keep"], layer_count(model) if model is not None else None)}


def apply_layers(model: Any, params: Params) -> Params:
    keep = check_keep(params["keep"], layer_count(model))
    assert not isinstance(keep, str)  # resolved: the layer count is known
    set_encoder_layers(model, keep)
    return {"kept_layers": keep}


def check_distil(params: Params, model: Any) -> Params:
    k = integer("distil", "layers", params["layers"])
    _droppable("distil", model)
    if model is not None and k >= layer_count(model):
        n = layer_count(model)
        raise ConfigError(f"distil.layers is {k} but the teacher has {n} layers; a student must be smaller "
                          f"than its teacher (use 1-{n - 1})")
    return {"layers": k}


def apply_distil(model: Any, params: Params) -> Params:
    keep = evenly(layer_count(model), params["layers"])
    set_encoder_layers(model, keep)
    return {"teacher_layers": keep}


METHODS.add("layers", Method("keep the listed encoder layers (\"every_other\": 0, 2, 4, ...)",
                             check_layers, apply_layers, {"keep": REQUIRED}, recovers=True))
METHODS.add("distil", Method("the untrained student: `layers` encoder layers spread evenly over the "
                             "teacher's, initialised from them (train it with distil_train)",
                             check_distil, apply_distil, {"layers": REQUIRED}))
