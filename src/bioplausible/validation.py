"""Argument checks that name the argument, the value and what is allowed (sklearn style)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from numbers import Integral, Real
from pathlib import Path
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


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a bool; numpy booleans are accepted, anything else is a TypeError naming ``name``."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


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
    array = check_real_numbers(name, value)
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


def check_widths(name: str, value: Any) -> tuple[int, ...]:
    """A sequence of at least one layer width (each an integer >= 1) -> a tuple."""
    if not isinstance(value, (list, tuple)) or len(value) < 1:
        raise ValueError(f"{name} must be a sequence of at least one width, got {value!r}")
    for size in value:
        check_integer(f"{name}[i]", size, 1)
    return tuple(value)


def check_rates(name: str, value: Any, n: int) -> tuple[float, ...]:
    """A nonnegative rate given once or once per layer -> ``n`` values (one per layer)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        values = tuple(value)
        if len(values) != n:
            raise ValueError(f"{name} must give one value or {n} values (one per layer), got {len(values)}")
    else:
        values = (value,) * n
    return tuple(check_real(name, v, 0.0) for v in values)


def check_real_numbers(name: str, value: Any) -> np.ndarray:
    """``value`` as a float array; complex, object, string or ragged input is a ``TypeError``
    naming ``name`` (numpy would drop an imaginary part with a warning, or keep objects)."""
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as error:  # ragged nested sequences
        raise TypeError(f"{name} must be an array of real numbers, got {type(value).__name__} "
                        f"that is not rectangular") from error
    if raw.dtype.kind not in "biuf":
        what = {"c": "complex", "O": "object", "U": "string", "S": "bytes", "M": "datetime",
                "m": "timedelta", "V": "structured"}.get(raw.dtype.kind, str(raw.dtype))
        raise TypeError(f"{name} must be an array of real numbers, got {what} values (dtype {raw.dtype})")
    return np.asarray(raw, dtype=float)


def check_finite_array(name: str, value: Any) -> np.ndarray:
    """A real float array with no NaN or infinity (the cheap check on the per-call path)."""
    array = check_real_numbers(name, value)
    if not np.isfinite(array).all():
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name} must contain only finite values, got {bad} NaN or infinite of {array.size}")
    return array


#: Seeds are stored as int64 in results (netCDF), so they must fit in one.
MAX_SEED = 2**63 - 1


def check_seed(name: str, value: Any) -> int:
    """A seed: an integer in ``[0, 2**63 - 1]`` (what a result file can store)."""
    return check_integer(name, value, 0, MAX_SEED)


def check_output_file(name: str, path: Any) -> Path:
    """A path a file can be written to: not a directory, below a directory (no regular file on
    the way) that exists or can be created, and that is writable. Checked before any work."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise TypeError(f"{name} must be a file path, got {path!r}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{name}: {path} is a directory; give a file path")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{name}: {path} exists and is not writable")
    _check_writable_parent(name, path.parent)
    return path


def check_output_dir(name: str, path: Any) -> Path:
    """A folder that exists (and is writable) or can be created (no regular file on the way)."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise TypeError(f"{name} must be a folder path, got {path!r}")
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{name}: {path} is a file, not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"{name}: folder {path} is not writable")
        return path
    _check_writable_parent(name, path.parent)
    return path


def _check_writable_parent(name: str, folder: Path) -> None:
    ancestor = folder if str(folder) else Path(".")
    while not ancestor.exists():
        if ancestor.is_symlink():
            raise ValueError(f"{name}: {ancestor} is a broken symbolic link")
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"{name}: {ancestor} is a file, so nothing can be written below it")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"{name}: folder {ancestor} is not writable")


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


#: The mixed polytope of the CorInfoMax paper's general-polytope experiment (CIM-BSS
#: ``Simulations/General_Polytope/CorInfoMax_GeneralPolytope5dimV4.py``).
DEFAULT_POLYTOPE = {"signed_dims": (0, 1, 3), "nonnegative_dims": (2, 4), "sparse_groups": ((0, 1, 4), (1, 2, 3))}


def check_polytope_structure(
    n_sources: int, signed_dims: Any = None, nonnegative_dims: Any = None, sparse_groups: Any = None
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[int, ...], ...]]:
    """Normalise and check a mixed polytope ``{s: s_i ∈ [−1, 1] (i signed), s_i ∈ [0, 1]
    (i nonnegative), ‖s_J‖₁ ≤ 1 for every J in sparse_groups}``.

    Every coordinate is either signed or nonnegative (so the set is bounded): give one of
    ``signed_dims``/``nonnegative_dims`` and the other is its complement. ``None`` for both
    takes :data:`DEFAULT_POLYTOPE` (5 dimensions), as does ``sparse_groups=None``; an empty
    ``sparse_groups`` is a mixed box. Returns sorted index tuples.
    """
    if signed_dims is None and nonnegative_dims is None:
        if n_sources != 5:
            raise ValueError(
                f"the default polytope is 5-dimensional; for n_sources={n_sources} give signed_dims or "
                "nonnegative_dims (and sparse_groups)"
            )
        signed_dims, nonnegative_dims = DEFAULT_POLYTOPE["signed_dims"], DEFAULT_POLYTOPE["nonnegative_dims"]
    if sparse_groups is None:
        if n_sources != 5:
            raise ValueError(f"the default sparse_groups are 5-dimensional; for n_sources={n_sources} give them")
        sparse_groups = DEFAULT_POLYTOPE["sparse_groups"]
    every = set(range(n_sources))
    given_signed = None if signed_dims is None else set(_index_set("signed_dims", signed_dims, n_sources))
    given_nonnegative = (None if nonnegative_dims is None
                         else set(_index_set("nonnegative_dims", nonnegative_dims, n_sources)))
    signed: set[int] = every - (given_nonnegative or set()) if given_signed is None else given_signed
    nonnegative: set[int] = every - signed if given_nonnegative is None else given_nonnegative
    both = set(signed) & set(nonnegative)
    if both:
        raise ValueError(f"coordinates {sorted(both)} are in both signed_dims and nonnegative_dims")
    missing = every - set(signed) - set(nonnegative)
    if missing:
        raise ValueError(
            f"coordinates {sorted(missing)} are in neither signed_dims nor nonnegative_dims: every coordinate "
            "needs a box bound (the polytope must be bounded)"
        )
    groups = check_sequence("sparse_groups", sparse_groups)
    checked = []
    for index, group in enumerate(groups):
        members = _index_set(f"sparse_groups[{index}]", group, n_sources)
        if not members:
            raise ValueError(f"sparse_groups[{index}] is empty; each group needs at least one coordinate")
        checked.append(members)
    return tuple(sorted(signed)), tuple(sorted(nonnegative)), tuple(checked)


def _index_set(name: str, value: Any, size: int) -> tuple[int, ...]:
    """Distinct integer indices in ``[0, size)``, sorted."""
    items = check_sequence(name, value)
    indices = [check_integer(f"{name}[{i}]", item) for i, item in enumerate(items)]
    outside = [i for i in indices if not 0 <= i < size]
    if outside:
        raise ValueError(f"{name} holds indices {outside} outside 0..{size - 1} (n_sources={size})")
    if len(set(indices)) != len(indices):
        raise ValueError(f"{name} repeats an index: {list(items)}")
    return tuple(sorted(indices))
