"""The paper's characteristics, one file each, registered by name (`CHARACTERISTICS`) in the order
their files are imported here, which is the order `miniature run` takes them by default."""

from __future__ import annotations

# isort: off
from miniature.characteristics import errors  # noqa: F401 (each file registers its characteristic)
from miniature.characteristics import representation  # noqa: F401
from miniature.characteristics import distribution  # noqa: F401
from miniature.characteristics import adversarial  # noqa: F401
from miniature.characteristics import cka  # noqa: F401
from miniature.characteristics import outputs  # noqa: F401
# isort: on
from miniature.characteristics.base import CHARACTERISTICS, Characteristic, register

__all__ = ["CHARACTERISTICS", "Characteristic", "register"]
