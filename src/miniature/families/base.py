"""What the code needs to know about one family of models: where its layers are, its attention
projections, which modules are linear maps, its default pooling and padding."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Pooling = Literal["cls", "mean", "last"]

KEPT = "miniature_kept_heads"  # attention attribute: the original indices of the heads it still has


@dataclass(frozen=True)
class Attention:
    """One layer's self-attention: the module holding q/k/v and the one holding the output projection."""

    holder: Any  # the attention module (its head counts are plain attributes)
    qkv: tuple[str, str, str]
    out_holder: Any
    out: str

    @property
    def head_size(self) -> int:
        return int(self.holder.attention_head_size)

    @property
    def n_heads(self) -> int:
        return getattr(self.holder, self.qkv[0]).out_features // self.head_size

    def projections(self) -> list[Any]:
        return [getattr(self.holder, n) for n in self.qkv]

    def output(self) -> Any:
        return getattr(self.out_holder, self.out)

    def kept(self) -> list[int]:
        """Original indices of the heads still here (all of them before any head pruning)."""
        return list(getattr(self.holder, KEPT, range(self.n_heads)))


@dataclass(frozen=True)
class Family:
    """A family adapter: one registry entry (`FAMILIES`) per architecture family.

    Attributes:
        model_types: the `config.model_type` values it covers (bert, roberta, ...).
        layers: attribute path from `model.base_model` to the list of transformer layers.
        attention: one layer -> its self-attention parts (None: heads cannot be pruned).
        linear_types: class names of linear maps besides `nn.Linear` and its int8 form (GPT-2's
            `Conv1D`), so that pruning and quantization see every one.
        pooling: the default point embedding: the first ([CLS]) token, the mean of the tokens, or
            the last token (decoders, which see the whole text only there).
        padding_side: where a batch pads its shorter rows.
        drop_layers: whether layers may be dropped or reordered (layer dropping, distillation's
            student); T5's first block holds the position bias every block reads.
    """

    model_types: tuple[str, ...]
    layers: tuple[str, ...]
    attention: Callable[[Any], Attention] | None = None
    linear_types: tuple[str, ...] = ()
    pooling: Pooling = "cls"
    padding_side: Literal["right", "left"] = "right"
    drop_layers: bool = True
