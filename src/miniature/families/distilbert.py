"""DistilBERT: `transformer.layer`, q_lin/k_lin/v_lin/out_lin in one attention module."""

from __future__ import annotations

from typing import Any

from miniature.families.base import Attention, Family


def distilbert_attention(layer: Any) -> Attention:
    att = layer.attention
    return Attention(att, ("q_lin", "k_lin", "v_lin"), att, "out_lin")


DISTILBERT = Family(model_types=("distilbert",), layers=("transformer", "layer"), attention=distilbert_attention,
                    pooling="cls")
