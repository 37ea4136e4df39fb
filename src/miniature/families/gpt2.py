"""GPT-2: decoder blocks at `h`, every projection a `Conv1D` (weight stored input x output); the
query, key and value fused in one `c_attn`, so its heads are not pruned one by one."""

from __future__ import annotations

from miniature.families.base import Family

GPT2 = Family(model_types=("gpt2",), layers=("h",), linear_types=("Conv1D",), pooling="last",
              padding_side="right")  # last-token pooling reads each row's last real token, so right padding serves
