"""The task plug-ins, one file each, registered by name (`TASKS`): what a study fine-tunes its
models for and compares their per-item outputs on."""

from __future__ import annotations

# isort: off
from miniature.taskdefs import qa  # noqa: F401 (each file registers its task)
from miniature.taskdefs import classification  # noqa: F401
from miniature.taskdefs import multiple_choice  # noqa: F401
from miniature.taskdefs import language_modeling  # noqa: F401
# isort: on
from miniature.taskdefs.base import TASKS, Outputs, Task, register

__all__ = ["TASKS", "Outputs", "Task", "register"]
