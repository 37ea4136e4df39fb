"""The compression-method registry, parameter checks, and `derive` (a new model from an old one)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from miniature.exceptions import ConfigError, ModelError
from miniature.registry import Registry

REQUIRED = object()  # a parameter with no default
STEPS = "miniature_steps"  # model attribute: the derivations applied so far, oldest first

Params = dict[str, Any]
Check = Callable[[Params, Any], Params]  # (params with defaults filled, model or None) -> checked params
Apply = Callable[..., Params]  # (model copy, checked params[, tokenizer]) -> details, changing the copy in place


@dataclass(frozen=True)
class Method:
    """One way to derive a compressed model: its parameters, their check, and the change itself."""

    summary: str
    check: Check
    apply: Apply
    defaults: Mapping[str, Any] = field(default_factory=dict)
    recovers: bool = False  # a short recovery fine-tuning may follow it (a model entry's recovery_steps)
    # calibrated: it reads text through the model (Wanda's activations): apply(model, params, tokenizer)
    calibrated: bool = False
    # what besides params determines the result (a calibration text's fingerprint), for cache keys
    inputs: Callable[[Params], Any] | None = None


METHODS: Registry[Method] = Registry("compression method", ConfigError)


def recovers(method: str) -> bool:
    """Whether a recovery fine-tuning may follow `method` (a model entry's `recovery_steps`)."""
    return METHODS.get(method).recovers


def is_quantized(model: Any) -> bool:
    """Whether the model holds dynamically quantized (int8) Linear modules."""
    from torch.ao.nn.quantized.dynamic import Linear as QLinear

    return any(isinstance(m, QLinear) for m in model.modules())


def check_params(method: str, params: Mapping[str, Any] | None, model: Any = None) -> Params:
    """Validate `params` for `method` (and for `model` when given); return them with defaults filled.

    Raises:
        ConfigError: an unknown method, an unknown or missing key, or a value out of range.
        ModelError: a model the method cannot handle (an already quantized one, a layer it lacks).
    """
    spec = METHODS.get(method)
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec.defaults))
    if unknown:
        known = ", ".join(sorted(spec.defaults)) or "none"
        raise ConfigError(f"unknown {method} parameter {unknown[0]!r}; known: {known}")
    full: Params = {}
    for key, default in spec.defaults.items():
        if key in params:
            full[key] = params[key]
        elif default is REQUIRED:
            raise ConfigError(f"{method} needs parameter {key!r}; add it to the method's params")
        else:
            full[key] = default
    if model is not None and is_quantized(model):
        raise ModelError(f"{method}: the model is already int8-quantized; derive from the fp32 model "
                         "(quantize last)")
    return spec.check(full, model)


def derive(model: Any, method: str, params: Mapping[str, Any] | None = None, tokenizer: Any = None) -> Any:
    """A new compressed model derived from `model` (a deep copy; `model` is left untouched).

    Methods and params (see `METHODS`):
        int8: {per_channel: false} dynamic int8 quantization of every nn.Linear (CPU).
        prune: {sparsity in [0, 1), scope: "global" | "layer"} zero exactly floor(sparsity * n) of the
            smallest |w| of the encoder layers' Linear weights (one threshold, or per Linear).
        heads: {share in (0, 1)} drop floor(share * all heads) of lowest importance (L2 norm of the
            head's q/k/v rows and output-projection columns), at least one kept per layer.
        layers: {keep: "every_other" | [layer indices]} keep those encoder layers.
        distil: {layers: k} the untrained student: k teacher layers spread evenly, k < teacher's.
        weight_only: {bits: 4 | 8, group_size} torchao's weight-only integer quantization.
        wanda: {sparsity, pattern, calibration, ...} Wanda pruning from calibration text (needs `tokenizer`).

    No training happens here: `distil` returns the untrained student (see `distil_train`), and
    pruned or dropped models may want `recover`. The copy remembers the step (method, checked
    params and what was chosen, e.g. the pruned heads) for `save_derived`.
    """
    checked = check_params(method, params, model)
    spec = METHODS.get(method)
    if spec.calibrated and tokenizer is None:
        raise ModelError(f"{method} reads calibration text through the model: give derive() its tokenizer")
    out = copy.deepcopy(model)
    details = spec.apply(out, checked, tokenizer) if spec.calibrated else spec.apply(out, checked)
    setattr(out, STEPS, [*getattr(model, STEPS, []), {"method": method, "params": checked, **details}])
    return out


def number(method: str, key: str, value: Any, low: float, high: float, *, low_open: bool = False,
           high_open: bool = True) -> float:
    """`value` as a float inside the interval, or a one-line ConfigError naming it."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        span = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ConfigError(f"{method}.{key} must be a number in {span}, got {value!r}")
    return float(value)


def integer(method: str, key: str, value: Any, low: int = 1) -> int:
    """`value` as an int >= low, or a one-line ConfigError."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{method}.{key} must be an integer >= {low}, got {value!r}")
    return value
