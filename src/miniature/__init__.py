"""miniature: does a compressed model behave like a miniature of the large one?

The public functions (`miniature.run`, `miniature.errors`, ...) are imported on first use, so that
`import miniature.agreement` (or any other low layer) loads neither torch nor the study code.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from typing import Any

# OpenBLAS's idle workers spin for 2^28 cycles (~0.1 s) after every call, holding a core the
# compiled selection that follows each product needs (measured: the kNN of 6 models 15-25%
# slower on 2 cores). Takes effect when miniature is imported before numpy; the user's own
# setting wins.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

# transformers imports torchao where it is installed (the `llm` extra), and torchao then announces
# every CUDA kernel library a CPU machine lacks (and torch a deprecation inside it): errors only
for _name in ("torchao", "torch.utils._pytree"):
    logging.getLogger(_name).setLevel(logging.ERROR)

from miniature.exceptions import MiniatureError  # noqa: E402
from miniature.version import __version__  # noqa: E402

_LAZY = {"measure": "miniature.api", "predict": "miniature.api", "score": "miniature.api", "run": "miniature.study"}


def __getattr__(name: str) -> Any:
    """The API's functions, imported when first asked for (PEP 562); a registered characteristic's
    name gives its function (`miniature.errors`, a plug-in's), unless a module of the package has
    that name (`miniature.cka` is the CKA measures: use `miniature.measure("cka", ...)`)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name.startswith("_") or importlib.util.find_spec(f"{__name__}.{name}") is not None:
        # a submodule not imported yet (`from miniature import reportspec` asks here first): not ours
        raise AttributeError(f"module 'miniature' has no attribute {name!r}")
    return importlib.import_module("miniature.api").characteristic_function(name)  # looked up each time


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = ["MiniatureError", "__version__", "measure", "predict", "run", "score"]
