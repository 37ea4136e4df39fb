"""What the zero-shot tasks of causal language models share (multiple choice, language
modelling): no fine-tuning, the model as given, a compressed variant derived from its source's
weights (without recovery or distillation: there is no training data)."""

from __future__ import annotations

from typing import Any

from miniature.checkpoints import source_index
from miniature.exceptions import ConfigError
from miniature.taskdefs.base import Task


class ZeroShotTask(Task):
    head = "causal_lm"

    def check_training(self, cfg: Any) -> None:
        for m in cfg.models:
            if m.derived and (m.method == "distil" or m.recovery_steps):
                raise ConfigError(f"model {m.display!r}: {m.method} with training needs training data, and the "
                                  f"{self.name} task has none (it is zero-shot); derive it without recovery_steps")

    def train_data(self, cfg: Any) -> None:
        return None  # zero-shot: nothing is trained for this task

    def weights(self, cfg: Any, i: int, specs: list[Any], train: Any, run: Any, progress: bool = False) -> Any:
        entry = cfg.models[i]
        if not entry.derived:
            return None, specs[i].identity()
        from miniature.tasks.derive import derived_checkpoint

        j = source_index(cfg, i)
        path, ident = self.weights(cfg, j, specs, None, run, progress)
        return derived_checkpoint("causal_lm", entry, specs[j], path, ident, run, progress=progress)

    def precision(self, cfg: Any) -> str:
        return "auto"
