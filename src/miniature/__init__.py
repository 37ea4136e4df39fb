"""miniature: does a compressed model behave like a miniature of the large one?"""

from __future__ import annotations

__version__ = "0.1.0"

from miniature.api import adversarial, distribution, errors, predict, representation, score
from miniature.exceptions import MiniatureError
from miniature.study import run

__all__ = ["MiniatureError", "__version__", "adversarial", "distribution", "errors", "predict", "representation",
           "run", "score"]
