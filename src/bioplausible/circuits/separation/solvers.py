"""Settle loops and fixed-point solvers of the separation circuits.

:func:`corinfomax_settle` runs CorInfoMax's projected recurrent dynamics,
:func:`nonnegative_fixed_point` solves the nonnegative quadratic programme of NSM and
Bio-NICA; :func:`numba_available` says whether the compiled fused paths
(``kernels.py``) can run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..base import Circuit
from .domains import box_clip, polytope_masks, project_domain, project_polytope, threshold_shape

__all__ = ["numba_available", "corinfomax_coupling", "corinfomax_step_size", "corinfomax_converged", "detmax_step_size",
           "detmax_converged", "detmax_hidden_feed", "detmax_hidden_coupling", "detmax_hidden_scale",
           "detmax_feedback", "corinfomax_settle", "detmax_settle", "nonnegative_fixed_point", "off_diagonal",
           "raise_at_divergence"]


def numba_available() -> bool:
    """Whether the compiled fast paths (CorInfoMax, Det-Max) can be used."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------- the equations
# The settle loops' scalar and elementwise equations, written once: the numpy loops below
# apply them to arrays, the compiled kernels (``kernels.py``) compile these very functions.
def corinfomax_step_size(iteration: int, start: float, stop: float) -> float:
    """CorInfoMax's neural step ``μ_j = max(start/(j + 1), stop)``, j = 0, 1, …"""
    return max(start / (iteration + 1), stop)


def corinfomax_coupling(error_gain: Any, lateral: Any, gamma_y: float) -> Any:
    """CorInfoMax's fixed-point matrix ``A = γ_e B_e − γ_y B_y`` (``error_gain`` γ_e B_e,
    ``lateral`` B_y), elementwise; the dynamics read ``y ← y + μ(−A y + γ_e B_e ŷ)``."""
    return error_gain - gamma_y * lateral


def corinfomax_converged(change: Any, size: Any, tolerance: float) -> Any:
    """CorInfoMax's stopping test ``‖Δy‖ < tolerance ‖y‖`` from the squared norms ``change`` and ``size``."""
    return np.sqrt(change) < tolerance * np.sqrt(size)


def detmax_step_size(iteration: int, start: float, stop: float, decay: float) -> float:
    """Det-Max's neural step ``μ_t = max(start/(1 + decay·t), stop)``, t = 1, 2, …"""
    return max(start / (1 + decay * iteration), stop)


def detmax_converged(change: Any, size: Any, tolerance: float) -> Any:
    """Det-Max's stopping test for one layer, ``‖Δv‖ ≤ tolerance ‖v‖``, from squared norms."""
    return np.sqrt(change) <= tolerance * np.sqrt(size)


def detmax_hidden_feed(drive: Any, gain: Any, beta: float, zeta: float) -> Any:
    """The hidden layer's feedforward current ``(1−ζ) β D1 (W_HX x)``, from ``drive`` = W_HX x."""
    return (1 - zeta) * beta * gain * drive


def detmax_hidden_coupling(lateral: Any, gain_post: Any, gain_pre: Any, beta: float, zeta: float) -> Any:
    """The hidden layer's lateral coupling ``(1−ζ)[(1−β) M̂_H + β D1 M̂_H D1]``, elementwise
    (``lateral`` M̂_H,ij, ``gain_post`` D1_i, ``gain_pre`` D1_j)."""
    return (1 - zeta) * ((1 - beta) * lateral + beta * gain_post * lateral * gain_pre)


def detmax_hidden_scale(diagonal: Any, gain: Any, beta: float, zeta: float) -> Any:
    """The hidden layer's leak ``Γ_H (1−ζ)((1−β) + β D1²)`` (``diagonal`` Γ_H = diag M_H)."""
    return diagonal * (1 - zeta) * ((1 - beta) + beta * gain**2)


def detmax_feedback(value: Any, beta: float, zeta: float) -> Any:
    """The output-to-hidden feedback weight ``(1−ζ)(1−β)`` applied to ``value`` (W_YHᵀ D2 y)."""
    return (1 - zeta) * (1 - beta) * value


def corinfomax_settle(
    prediction: np.ndarray,
    lateral_gain: np.ndarray,
    error_gain: np.ndarray,
    domain: str,
    lr_start: float = 0.9,
    lr_stop: float = 1e-3,
    max_iterations: int = 500,
    tolerance: float = 1e-6,
    threshold_rate: float = 0.0,
    *,
    nonnegative_dims: tuple[int, ...] | None = None,
    sparse_groups: tuple[tuple[int, ...], ...] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CorInfoMax neural dynamics (:ref:`theory-separation-corinfomax`), vectorised over members and samples.

    ``y ← P_dom(y + μ_j [γ_y B_y y + γ_e B_e (ŷ − y)])``, ``μ_j = max(lr_start/(j+1), lr_stop)``,
    from ``y = 0``, ``λ = 0``, until ``‖y − y_old‖ < tolerance ‖y‖`` or ``max_iterations``
    (polytope: and every group's ``|λ_k − λ_k,old| ≤ tolerance``; the authors test y alone,
    but there the box clip can hold y fixed for a step while a threshold is still rising,
    which stopped the loop outside the polytope in our tests).
    ``prediction`` ŷ (K, B, n); ``lateral_gain`` γ_y B_y and ``error_gain`` γ_e B_e (K, n, n).
    Converged rows are frozen (masked) while the others iterate. ``nonnegative_dims`` and
    ``sparse_groups`` describe the ``"polytope"`` domain (see :func:`project_domain`).
    Returns y (K, B, n), the steps each row took (K, B) and the final threshold λ (K, B),
    or (K, B, G) for the polytope's G inhibitory units.
    """
    members, samples, n = prediction.shape
    polytope = {}
    if domain == "polytope":
        polytope = dict(zip(("nonnegative", "members"), polytope_masks(n, nonnegative_dims, sparse_groups)))
    recurrent = -corinfomax_coupling(error_gain, lateral_gain, 1.0)  # y ← y + μ (−A y + γ_e B_e ŷ)
    drive = np.matmul(prediction, np.swapaxes(error_gain, -1, -2))
    output = np.zeros_like(prediction)
    threshold = np.zeros((members, samples, len(polytope["members"]))) if polytope else np.zeros((members, samples))
    steps = np.full((members, samples), max_iterations, dtype=np.int64)
    member_index, sample_index = np.meshgrid(np.arange(members), np.arange(samples), indexing="ij")
    member_index, sample_index = member_index.ravel(), sample_index.ravel()
    for j in range(max_iterations):
        rate = corinfomax_step_size(j, lr_start, lr_stop)
        old = output[member_index, sample_index]
        step = np.einsum("aij,aj->ai", recurrent[member_index], old) + drive[member_index, sample_index]
        if polytope:
            new, new_threshold = project_polytope(old + rate * step, threshold[member_index, sample_index],
                                                   threshold_rate, polytope["nonnegative"], polytope["members"])
        else:
            new, new_threshold = project_domain(
                old + rate * step, threshold[member_index, sample_index], domain, threshold_rate
            )
        output[member_index, sample_index] = new
        previous_threshold = threshold[member_index, sample_index]
        threshold[member_index, sample_index] = new_threshold
        done = corinfomax_converged(np.sum((new - old) ** 2, axis=-1), np.sum(new**2, axis=-1), tolerance)
        if polytope:  # the box clip can hold y still while an inhibitory unit is still rising
            done &= np.abs(new_threshold - previous_threshold).max(axis=-1, initial=0.0) <= tolerance
        steps[member_index[done], sample_index[done]] = j + 1
        member_index, sample_index = member_index[~done], sample_index[~done]
        if member_index.size == 0:
            break
    return output, steps, threshold


def detmax_settle(
    inputs: np.ndarray,
    hidden_input: np.ndarray,
    hidden_lateral: np.ndarray,
    output_input: np.ndarray,
    output_lateral: np.ndarray,
    hidden_gains: np.ndarray,
    output_gains: np.ndarray,
    beta: float,
    zeta: float,
    domain: str,
    lr_start: float,
    lr_stop: float,
    lr_decay: float,
    max_iterations: int,
    tolerance: float,
    threshold_rate: float,
    hidden_clip: float,
    *,
    nonnegative_dims: tuple[int, ...] | None = None,
    sparse_groups: tuple[tuple[int, ...], ...] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Det-Max neural dynamics (:ref:`theory-separation-detmax`), vectorised over members and samples.

    For t = 1, 2, …, with ``μ_t`` :func:`detmax_step_size`, ``Γ = diag(M)``, ``M̂ = M − Γ``::

        v ← v + μ_t (−v + (1−ζ)β D1 W_HX x − [(1−ζ)(1−β) M̂_H + (1−ζ)β D1 M̂_H D1] h + (1−ζ)(1−β) W_YHᵀ D2 y)
        h = clip(v / (Γ_H (1−ζ)((1−β) + β D1²)), ±hidden_clip)
        u ← u + μ_t (−u + W_YH h − M̂_Y D2 y),  y = P_dom(u / (Γ_Y D2))

    from v = u = 0 until both layers pass :func:`detmax_converged` or ``max_iterations``;
    rows that converged are frozen. ``inputs`` x (K, B, m), weights (K, n, ·), gains (K, n).
    Returns h, y (K, B, n) and the steps each row took (K, B).
    """
    d1, d2 = hidden_gains[:, None, :], output_gains[:, None, :]
    gamma_h = np.diagonal(hidden_lateral, axis1=-2, axis2=-1)[:, None, :]
    gamma_y = np.diagonal(output_lateral, axis1=-2, axis2=-1)[:, None, :]
    hat_h, hat_y = off_diagonal(hidden_lateral), off_diagonal(output_lateral)
    feed = detmax_hidden_feed(np.matmul(inputs, np.swapaxes(hidden_input, -1, -2)), d1, beta, zeta)
    hidden_couple = detmax_hidden_coupling(hat_h, hidden_gains[..., :, None], hidden_gains[..., None, :], beta, zeta)
    hidden_scale = detmax_hidden_scale(gamma_h, d1, beta, zeta)
    shape = feed.shape  # (K, B, n), with K broadcast from the members
    v, u, h, y = (np.zeros(shape) for _ in range(4))
    threshold = np.zeros(shape[:-1] + threshold_shape(domain, sparse_groups))
    options: dict[str, Any] = {}
    if domain == "polytope":
        options = {"nonnegative_dims": nonnegative_dims, "sparse_groups": sparse_groups}
    active = np.ones(shape[:-1], dtype=bool)
    steps = np.full(shape[:-1], max_iterations, dtype=np.int64)
    for t in range(1, max_iterations + 1):
        rate = detmax_step_size(t, lr_start, lr_stop, lr_decay)
        dv = -v + feed - np.matmul(h, np.swapaxes(hidden_couple, -1, -2)) + detmax_feedback(
            np.matmul(d2 * y, output_input), beta, zeta)
        new_v = v + rate * dv
        new_h = box_clip(new_v / hidden_scale, -hidden_clip, hidden_clip)
        du = (-u + np.matmul(new_h, np.swapaxes(output_input, -1, -2))
              - np.matmul(d2 * y, np.swapaxes(hat_y, -1, -2)))
        new_u = u + rate * du
        new_y, new_threshold = project_domain(new_u / (gamma_y * d2), threshold, domain, threshold_rate, **options)
        done = detmax_converged(np.sum((new_v - v) ** 2, axis=-1), np.sum(new_v**2, axis=-1), tolerance) & (
            detmax_converged(np.sum((new_u - u) ** 2, axis=-1), np.sum(new_u**2, axis=-1), tolerance))
        keep = active[..., None]
        v, h = np.where(keep, new_v, v), np.where(keep, new_h, h)
        u, y = np.where(keep, new_u, u), np.where(keep, new_y, y)
        threshold = np.where(active.reshape(active.shape + (1,) * (threshold.ndim - active.ndim)),
                             new_threshold, threshold)
        steps = np.where(active & done, t, steps)
        active &= ~done
        if not active.any():
            break
    return h, y, steps


def nonnegative_fixed_point(
    matrix: np.ndarray, drive: np.ndarray, tolerance: float = 1e-12, max_sweeps: int = 5000,
    max_enumerated: int = 6,
) -> np.ndarray:
    """Solve ``y ≥ 0``, ``M y ≥ c``, ``yᵀ(M y − c) = 0`` (a linear complementarity problem).

    For symmetric positive definite M this is ``argmin_{y≥0} ½ yᵀMy − cᵀy`` (the NSM /
    Bio-NICA output); for a positive-diagonal M it is the fixed point of the neural
    coordinate updates ``y_i = max(0, (c_i − Σ_{j≠i} M_ij y_j)/M_ii)``. ``matrix`` (K, n, n),
    ``drive`` c (K, B, n). For n ≤ ``max_enumerated`` the answer is exact: every active set
    is solved at once (2ⁿ small systems per member, shared by all samples) and the one that
    satisfies the complementarity conditions is kept; larger n use projected Gauss–Seidel
    sweeps until the largest change is below ``tolerance`` × the largest output.
    """
    n = drive.shape[-1]
    if n <= max_enumerated:
        return _enumerated_fixed_point(matrix, drive)
    output = np.zeros_like(drive)
    diagonal = np.diagonal(matrix, axis1=-2, axis2=-1)[:, None, :]
    for _ in range(max_sweeps):
        largest = 0.0
        for i in range(n):
            off = np.einsum("kbj,kj->kb", output, matrix[:, i, :]) - output[..., i] * matrix[:, i, i][:, None]
            new = np.maximum(0.0, (drive[..., i] - off) / diagonal[..., i])
            largest = max(largest, float(np.max(np.abs(new - output[..., i]), initial=0.0)))
            output[..., i] = new
        if largest <= tolerance * max(float(np.max(np.abs(output), initial=0.0)), 1e-300):
            break
    return output


def _enumerated_fixed_point(matrix: np.ndarray, drive: np.ndarray) -> np.ndarray:
    """Exact LCP solution by enumerating active sets (see :func:`nonnegative_fixed_point`)."""
    n = drive.shape[-1]
    masks = ((np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)  # (S, n)
    both = masks[:, :, None] & masks[:, None, :]
    eye = np.eye(n, dtype=bool)
    # restricted systems: M on the active block, identity elsewhere
    restricted = np.where(both[None], matrix[:, None], np.where(eye[None, None], 1.0, 0.0))
    inverse = np.linalg.inv(restricted)  # (K, S, n, n)
    masked = drive[:, :, None, :] * masks[None, None]  # (K, B, S, n)
    candidates = np.einsum("ksij,kbsj->kbsi", inverse, masked)
    residual = drive[:, :, None, :] - np.einsum("kij,kbsj->kbsi", matrix, candidates)
    scale = np.abs(drive).max(axis=-1, keepdims=True)[..., None] + 1e-300
    violation = np.maximum(
        np.where(masks[None, None], -candidates, residual), 0.0
    ).max(axis=-1) / scale[..., 0]
    best = np.argmin(violation, axis=-1)  # (K, B)
    return np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]

def raise_at_divergence(circuit: Circuit, diverged: np.ndarray) -> None:
    """After a fused stream: raise :class:`DivergenceError` at the exact update (the first
    sample, over members, whose update made the state non-finite)."""
    if (diverged >= 0).any():
        circuit.check_finite(circuit.steps + int(diverged[diverged >= 0].min()) + 1, invariants=False)


def _random_rows(rng: np.random.Generator, rows: int, columns: int, norm: float) -> np.ndarray:
    """Gaussian matrix with every row rescaled to Euclidean norm ``norm`` (authors' init)."""
    matrix = rng.standard_normal((rows, columns))
    return norm * matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def off_diagonal(matrix: np.ndarray) -> np.ndarray:
    n = matrix.shape[-1]
    result = matrix.copy()
    result[..., np.arange(n), np.arange(n)] = 0.0
    return result
