"""Neural predictions computed from circuits and results, one module per family."""

from . import supervised

__all__ = ["supervised"]
