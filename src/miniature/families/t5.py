"""T5 (its encoder): `encoder.block`, no [CLS] token, so points are the mean of their tokens.

Head pruning is not offered (the relative-position bias is indexed by head), nor layer dropping
(the first block holds that bias for all of them)."""

from __future__ import annotations

from miniature.families.base import Family

T5 = Family(model_types=("t5", "mt5"), layers=("encoder", "block"), attention=None, pooling="mean",
            drop_layers=False)
