"""BERT and the families that share its layout (RoBERTa, ELECTRA): `encoder.layer`, attention.self."""

from __future__ import annotations

from typing import Any

from miniature.families.base import Attention, Family


def bert_attention(layer: Any) -> Attention:
    """q/k/v in `attention.self`, the output projection in `attention.output.dense`."""
    att = layer.attention
    return Attention(att.self, ("query", "key", "value"), att.output, "dense")


BERT = Family(model_types=("bert",), layers=("encoder", "layer"), attention=bert_attention, pooling="cls")
ROBERTA = Family(model_types=("roberta", "xlm-roberta"), layers=("encoder", "layer"), attention=bert_attention,
                 pooling="cls")  # <s> plays [CLS]'s part
ELECTRA = Family(model_types=("electra",), layers=("encoder", "layer"), attention=bert_attention, pooling="cls")
