"""Array predicates that rules and circuits share (written once, imported by both)."""

from __future__ import annotations

import numpy as np

__all__ = ["all_signs"]


def all_signs(array: np.ndarray) -> bool:
    """Whether every entry is exactly −1 or +1 (the first entry decides at once for graded
    data): the ±1 states whose products are exact integers in floating point."""
    if array.size == 0 or abs(float(array.flat[0])) != 1.0:
        return False
    return int(np.count_nonzero(array == 1.0) + np.count_nonzero(array == -1.0)) == array.size
