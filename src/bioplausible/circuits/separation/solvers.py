"""Settle loops and fixed-point solvers of the separation circuits.

:func:`corinfomax_settle` runs CorInfoMax's projected recurrent dynamics,
:func:`nonnegative_fixed_point` solves the nonnegative quadratic programme of NSM and
Bio-NICA; :func:`numba_available` says whether the compiled fused paths
(:mod:`~bioplausible.circuits.separation.kernels`) can run.
"""

from __future__ import annotations

import numpy as np

from ..base import Circuit
from .domains import polytope_masks, project_domain, project_polytope

__all__ = ["numba_available", "corinfomax_settle", "nonnegative_fixed_point", "off_diagonal",
           "raise_at_divergence"]


def numba_available() -> bool:
    """Whether the compiled fast paths (CorInfoMax, Det-Max) can be used."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True

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
    recurrent = lateral_gain - error_gain  # y ← y + μ (G y + γ_e B_e ŷ)
    drive = np.matmul(prediction, np.swapaxes(error_gain, -1, -2))
    output = np.zeros_like(prediction)
    threshold = np.zeros((members, samples, len(polytope["members"]))) if polytope else np.zeros((members, samples))
    steps = np.full((members, samples), max_iterations, dtype=np.int64)
    member_index, sample_index = np.meshgrid(np.arange(members), np.arange(samples), indexing="ij")
    member_index, sample_index = member_index.ravel(), sample_index.ravel()
    for j in range(max_iterations):
        rate = max(lr_start / (j + 1), lr_stop)
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
        done = np.linalg.norm(new - old, axis=-1) < tolerance * np.linalg.norm(new, axis=-1)
        if polytope:  # the box clip can hold y still while an inhibitory unit is still rising
            done &= np.abs(new_threshold - previous_threshold).max(axis=-1, initial=0.0) <= tolerance
        steps[member_index[done], sample_index[done]] = j + 1
        member_index, sample_index = member_index[~done], sample_index[~done]
        if member_index.size == 0:
            break
    return output, steps, threshold

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
