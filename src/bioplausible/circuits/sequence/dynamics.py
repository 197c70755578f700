"""The sequence family's fast dynamics, written once: the separation functions, the sign rule
``sgn(0) = +1`` (with its tie tolerance), the per-member matrix products and the synchronous
step over blocks of members and states that every sequence circuit's recall runs
(:meth:`~bioplausible.circuits.sequence.base.SequenceCircuit.step`); the circuits supply only
their field (theory: :ref:`theory-sequence`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...core.arrays import all_signs
from ..base import ensemble_inputs

__all__ = ["SEPARATIONS", "TIE_TOLERANCE", "ALL_MEMBERS", "separation_function", "normalized_separation",
           "check_patterns", "as_states", "sign_with_ties", "member_matmul", "all_signs", "synchronous_step"]

SEPARATIONS = ("linear", "poly", "exp", "softmax")
TIE_TOLERANCE = 1e-9
#: Elements (per state entry × states × members) of one block of a synchronous step (32 MB of
#: float64): large enough that each block's matrix products run at full BLAS speed (blocks of a
#: few hundred states ran 4× slower: measured 5.5 s at 2**19 against 1.3 s at 2**22 for one step
#: of 3 members at N = 300, P = 2000, poly d = 2), small enough that a block's memory-unit inputs
#: stay bounded in memory for any number of states.
_BLOCK_ELEMENTS = 2**22
ALL_MEMBERS = slice(None)
#: A field (k, b, N) and its scale for states (k, b, N) (and delayed states) of some members.
Field = Callable[[np.ndarray, "np.ndarray | None", slice], "tuple[np.ndarray, np.ndarray]"]


def separation_function(overlaps: np.ndarray, separation: str, degree: int = 2, beta: float = 1.0,
                        n_neurons: int | None = None, in_place: bool = False) -> np.ndarray:
    """The separation function itself, ``f(m)`` (hidden-unit activity of the two-layer form).

    ``linear``: m; ``poly``: m^d; ``exp``: ``exp((N−1)(m−1))`` (≤ 1 for m ≤ 1, never
    overflows); ``softmax``: ``exp(βN m)`` normalised over μ (last axis). ``in_place``
    (linear and poly): overwrite ``overlaps`` (float64) with f instead of allocating.
    """
    m = np.asarray(overlaps, dtype=float)
    if separation == "linear":
        return m if in_place else m.copy()
    if separation == "poly":
        return np.power(m, degree, out=m) if in_place else m**degree
    if n_neurons is None:
        raise ValueError(f"separation={separation!r} needs n_neurons")
    if separation == "exp":
        return np.exp((n_neurons - 1) * (m - 1.0))
    z = beta * n_neurons * (m - m.max(axis=-1, keepdims=True))
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def normalized_separation(overlaps: np.ndarray, separation: str, degree: int = 2, beta: float = 1.0,
                          n_neurons: int | None = None) -> np.ndarray:
    """``f(m) / c`` with a positive per-state constant c (over the last axis): same signs downstream.

    ``poly``: ``(m / max|m|)^d``; ``exp``: ``exp((N−1)(m − max m))`` (log-sum-exp style); the
    winner is exactly 1, so nothing overflows or underflows to an all-zero field.
    """
    m = np.asarray(overlaps, dtype=float)
    if separation == "linear":
        return m
    if separation == "poly":
        largest = np.abs(m).max(axis=-1, keepdims=True) if m.shape[-1] else np.ones(m.shape[:-1] + (1,))
        return (m / np.where(largest > 0, largest, 1.0)) ** degree
    if n_neurons is None:
        raise ValueError(f"separation={separation!r} needs n_neurons")
    gain = (n_neurons - 1) if separation == "exp" else beta * n_neurons
    if m.shape[-1] == 0:
        return m
    return np.exp(gain * (m - m.max(axis=-1, keepdims=True)))


def check_patterns(name: str, patterns: Any, ndim: tuple[int, ...] = (2, 3)) -> np.ndarray:
    """Float64 array of ±1 values; the error names the argument and the offending values."""
    array = np.asarray(patterns, dtype=float)
    if array.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimensions (…, P, N), got {array.shape}")
    if np.count_nonzero(np.abs(array) != 1.0):  # one pass in the common (valid) case
        bad = array[np.abs(array) != 1.0]
        raise ValueError(f"{name} must contain only -1 and +1, found {np.unique(bad)[:5].tolist()}")
    return array


def as_states(circuit: Any, states: Any, name: str) -> np.ndarray:
    """States (N,), (B, N) or (K, B, N) -> (K, B, N) with the circuit's K."""
    states = np.asarray(states, dtype=float)
    if states.ndim == 1:
        states = states[None]
    states = ensemble_inputs(states, circuit.ensemble_size, circuit.n_neurons, name)
    return np.broadcast_to(states, (circuit.ensemble_size, *states.shape[1:]))


def sign_with_ties(field: np.ndarray, scale: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``sgn`` with ``sgn(0) = +1``; a field within rounding error of zero is zero.

    A broadcast ``scale`` (stride 0) is thresholded on its compact form, so the tie
    threshold costs nothing per state."""
    compact = scale[tuple(slice(0, 1) if stride == 0 and size > 1 else slice(None)
                          for stride, size in zip(scale.strides, scale.shape))]
    result = np.empty(field.shape) if out is None else out
    np.add(field, TIE_TOLERANCE * compact, out=result)  # ≥ 0 exactly when field ≥ −tol·scale
    return np.copysign(1.0, result, out=result)  # +0.0 (the only zero a sum with t ≥ 0 gives) -> +1


def member_matmul(a: np.ndarray, b: np.ndarray, transpose: bool = False) -> np.ndarray:
    """``a @ b`` (or ``a @ bᵀ``) per ensemble member, (K, b, n) × (K, n, m) -> (K, b, m).

    One 2-D BLAS call per member: numpy's stacked matmul falls back to a slower loop for
    the transposed views every field here uses (the recall step is dominated by these)."""
    a = np.asarray(a)
    members = max(a.shape[0], b.shape[0])
    if a.ndim != 3 or b.ndim != 3:
        return np.matmul(a, np.swapaxes(b, -1, -2) if transpose else b)
    out = np.empty((members, a.shape[1], b.shape[1] if transpose else b.shape[2]), dtype=np.result_type(a, b))
    for k in range(members):
        right = b[k if b.shape[0] > 1 else 0]
        np.matmul(a[k if a.shape[0] > 1 else 0], right.T if transpose else right, out=out[k])
    return out




def _blocks(n_members: int, n_states: int, per_state: int) -> list[tuple[slice, slice]]:
    """(members, states) blocks of about :data:`_BLOCK_ELEMENTS` elements: groups of whole
    members when a member's states fit, else one member at a time in chunks of states."""
    per_state = max(per_state, 1)
    size = max(1, _BLOCK_ELEMENTS // per_state)
    if size >= n_states:
        group = max(1, _BLOCK_ELEMENTS // (per_state * max(n_states, 1)))
        return [(slice(k, k + group), ALL_MEMBERS) for k in range(0, n_members, group)]
    return [(slice(k, k + 1), slice(start, start + size)) for k in range(n_members)
            for start in range(0, n_states, size)]



def synchronous_step(field: Field, states: np.ndarray, delayed: np.ndarray | None, per_state: int) -> np.ndarray:
    """``S(t+1) = sgn(field)`` for states (K, B, N) (and delayed states of the same shape), in
    blocks of members and states (:func:`_blocks`, ``per_state`` elements per state entry);
    any blocking gives the same states."""
    out = np.empty(states.shape)
    for members, part in _blocks(states.shape[0], states.shape[1], per_state):
        value, scale = field(states[members, part], None if delayed is None else delayed[members, part], members)
        sign_with_ties(value, scale, out=out[members, part])
    return out
