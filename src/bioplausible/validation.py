"""Argument checks that name the argument, the value and what is allowed (sklearn style)."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np


def check_integer(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an ``int`` or raise naming ``name`` and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_real(
    name: str,
    value: Any,
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    inclusive: bool = True,
) -> float:
    """Return ``value`` as a finite ``float`` in ``[minimum, maximum]`` or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None and (value < minimum if inclusive else value <= minimum):
        bound = ">=" if inclusive else ">"
        raise ValueError(f"{name} must be {bound} {minimum}, got {value}")
    if maximum is not None and (value > maximum if inclusive else value >= maximum):
        bound = "<=" if inclusive else "<"
        raise ValueError(f"{name} must be {bound} {maximum}, got {value}")
    return value


def check_positive(name: str, value: Any) -> float:
    """A finite real number strictly greater than zero."""
    return check_real(name, value, 0.0, inclusive=False)


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` must be one of ``choices``."""
    try:
        found = bool(value in choices)
    except (TypeError, ValueError):  # arrays compare elementwise
        found = False
    if not found:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_array(
    name: str,
    value: Any,
    *,
    ndim: int | tuple[int, ...] | None = None,
    shape: tuple[int | None, ...] | None = None,
    finite: bool = True,
) -> np.ndarray:
    """Convert to a float array and check its dimensionality/shape (``None`` = any length)."""
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be array-like of numbers, got {type(value).__name__}") from error
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if array.ndim not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {array.shape}")
    if shape is not None:
        expected = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
        if array.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, array.shape)):
            raise ValueError(f"{name} must have shape {expected}, got {array.shape}")
    if finite and not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must contain only finite values")
    return array


def check_covariance(name: str, value: Any, size: int | None = None) -> np.ndarray:
    """A symmetric positive definite matrix (checked by Cholesky); the error gives the smallest eigenvalue."""
    matrix = check_array(name, value, ndim=2)
    if matrix.shape[0] != matrix.shape[1] or (size is not None and matrix.shape[0] != size):
        want = f"({size}, {size})" if size is not None else "square"
        raise ValueError(f"{name} must be {want}, got shape {matrix.shape}")
    if not np.allclose(matrix, matrix.T, rtol=1e-8, atol=1e-10 * max(1.0, np.abs(matrix).max())):
        raise ValueError(f"{name} must be symmetric")
    try:
        np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        smallest = float(np.linalg.eigvalsh((matrix + matrix.T) / 2)[0])
        raise ValueError(
            f"{name} must be positive definite; its smallest eigenvalue is {smallest:.3g}"
        ) from None
    return matrix


def check_pair(name: str, value: Any, length: int = 2) -> tuple[Any, ...]:
    """A list/tuple/array of exactly ``length`` entries (checked item by item by the caller)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"{name} must be a sequence of {length} values, got {value!r}")
    if len(value) != length:
        raise ValueError(f"{name} must hold {length} values, got {value!r}")
    return tuple(value)


def check_sequence(name: str, value: Any) -> tuple[Any, ...]:
    """A non-string sequence (list, tuple, array) of any length."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"{name} must be a sequence, got {value!r}")
    return tuple(value)
