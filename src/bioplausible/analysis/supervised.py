"""Neural predictions of the supervised family: the metrics live beside the tasks that
score them (:mod:`bioplausible.tasks.supervised_metrics`); re-exported here for analysis of
finished runs and for the old import path."""

from ..tasks.supervised_metrics import *  # noqa: F401, F403
from ..tasks.supervised_metrics import __all__  # noqa: F401
