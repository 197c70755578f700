"""Shared task environments: every circuit of a family runs on the same task."""

from .adaptation import StatisticalAdaptation
from .base import TASKS, Task, make_task, register_task
from .separation import SourceSeparation

__all__ = ["Task", "TASKS", "make_task", "register_task", "StatisticalAdaptation", "SourceSeparation"]
