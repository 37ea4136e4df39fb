"""Ways to derive a compressed model: int8 dynamic and weight-only int4/int8 quantization, magnitude and
Wanda pruning, head pruning, layer dropping, distillation."""

from __future__ import annotations

from miniature.compress import heads, layers, prune, quantize, wanda, weight_only  # noqa: F401  (each registers its method)
from miniature.compress.arch import sparsity
from miniature.compress.base import METHODS, Method, check_params, derive, recovers
from miniature.compress.store import is_derived, load_derived, save_derived
from miniature.compress.train import distil_train, recover

__all__ = ["METHODS", "Method", "check_params", "derive", "distil_train", "is_derived", "load_derived",
           "recover", "recovers", "save_derived", "sparsity"]
