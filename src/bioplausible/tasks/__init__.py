"""Shared task environments: every circuit of a family runs on the same task."""

from .adaptation import StatisticalAdaptation
from .base import TASKS, Task, make_task, register_task
from .classification import Classification, TeacherStudent
from .integration import Integration
from .separation import SourceSeparation
from .sequence import SequenceRecall
from .value import ValueTrack

__all__ = [
    "Task", "TASKS", "make_task", "register_task", "StatisticalAdaptation", "Classification", "TeacherStudent",
    "SourceSeparation", "SequenceRecall", "Integration", "ValueTrack",
]
