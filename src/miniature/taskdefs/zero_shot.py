"""What the zero-shot tasks of causal language models share (multiple choice, language
modelling): no fine-tuning, the model as given, a compressed variant derived from its source's
weights (without recovery or distillation: there is no training data)."""

from __future__ import annotations

from typing import Any

from miniature.exceptions import ConfigError
from miniature.taskdefs.base import Task


def check_zero_shot_training(cfg: Any, what: str) -> None:
    """A zero-shot task has no training data: no recovery fine-tuning, and a language model's
    distillation learns on `distil.text`."""
    for m in cfg.models:
        if m.derived and m.method == "distil" and m.distil.text is None:
            raise ConfigError(f"model {m.display!r}: distilling a language model needs text to learn its teacher's "
                              f"next tokens on, and {what} has none (it is zero-shot): set distil.text (a text file, "
                              "a JSONL of {text}, c4 or wikitext2)")
        if m.derived and m.recovery_steps:
            raise ConfigError(f"model {m.display!r}: recovery_steps need training data, and {what} has none (it "
                              "is zero-shot); derive it without recovery_steps")


class ZeroShotTask(Task):
    head = "causal_lm"

    def check_training(self, cfg: Any) -> None:
        check_zero_shot_training(cfg, f"the {self.name} task")

    def train_data(self, cfg: Any) -> None:
        return None  # zero-shot: nothing is trained for this task

    def fine_tunes(self, cfg: Any) -> bool:
        return False

    def weights(self, cfg: Any, i: int, specs: list[Any], train: Any, run: Any, progress: bool = False) -> Any:
        from miniature.checkpoints import causal_lm_weights

        return causal_lm_weights(cfg, i, specs, run, progress)

    def precision(self, cfg: Any) -> str:
        return "auto"
