"""miniature: does a compressed model behave like a miniature of the large one?"""

from __future__ import annotations

import os

# OpenBLAS's idle workers spin for 2^28 cycles (~0.1 s) after every call, holding a core the
# compiled selection that follows each product needs (measured: the kNN of 6 models 15-25%
# slower on 2 cores). Takes effect when miniature is imported before numpy; the user's own
# setting wins.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

__version__ = "0.2.0"

from miniature.api import adversarial, distribution, errors, predict, representation, score
from miniature.exceptions import MiniatureError
from miniature.study import run

__all__ = ["MiniatureError", "__version__", "adversarial", "distribution", "errors", "predict", "representation",
           "run", "score"]
