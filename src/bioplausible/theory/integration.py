"""Learning to integrate: expected-gradient dynamics of a linear RNN and its outlier eigenvalues.

The setting of Bordelon, Cotler, Pehlevan & Zavatone-Veth, "Dynamically learning to
integrate in recurrent neural networks" (arXiv 2503.18754, 2025), in the discrete-time form
the circuits of :mod:`bioplausible.circuits.recurrent` simulate: a linear network
``h_{t+1} = M h_t + α u x_t`` with ``M = (1 − α) I + α W``, output ``y_t = vᵀ h_t``, white
noise ``x_t ~ N(0, 1/dt)`` and a target ``y⋆_t = Σ_n k⋆_n x_{t−n}`` (the task's Euler-stepped
filter, :func:`bioplausible.tasks.integration.target_filter`). Trials of T steps start at
rest, so the expected trial loss is exact in the network's impulse response
``k_n = α vᵀ M^{n−1} u``::

    ℓ(W, v) = (1 / 2 T dt) Σ_{n=1}^{T−1} (T − n) (k_n − k⋆_n)²

and its gradients are sums over pairs of lags (:func:`expected_gradients`):
``∂ℓ/∂W = α² Σ_{a,b} c_{a+b+2} (Mᵀ)^a v (M^b u)ᵀ``, ``∂ℓ/∂v = α Σ_n c_n M^{n−1} u`` with
``c_n = (T − n)(k_n − k⋆_n)/(T dt)``.

**Rich regime (small initial W).** Every term of both gradients lies in the Krylov space of
u and v under M; from ``W = 0`` this is ``S = span{u, v}`` and it stays so: W changes only
inside S (``W = Q A Qᵀ``, Q an orthonormal basis of S, A a 2 × 2 matrix) and v stays in S.
Learning is then the low-dimensional system of A and the two coordinates of v
(:func:`reduced_dynamics`), and the eigenvalues of A are the *outlier* eigenvalues of W: one
real outlier for the leaky integrator (it converges to ``1 − τ_m/τ⋆``), a conjugate pair for
the damped oscillator. A small random initial W (scale g) perturbs this by O(g²); this is
our derivation of the paper's reduction for the circuits' parametrisation (the paper works
in continuous time), and :func:`outlier_gap` measures it against simulation.

**Lazy regime (large initial W).** From ``W₀`` with spectral radius near 1 the network
already has modes at many timescales; the readout combines them and W barely moves. Its
prediction (:func:`lazy_dynamics`) is the readout learning alone on the frozen modes of
``W₀`` (a linear regression of ``k⋆`` on the features ``α M₀^{n−1} u``), and
:func:`expected_dynamics` (no reduction) gives the expected trajectory of the whole matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..validation import check_finite_array, check_integer, check_positive, check_real

__all__ = ["ExpectedTrajectory", "expected_loss", "expected_gradients", "expected_dynamics", "reduced_dynamics",
           "lazy_dynamics", "outlier_eigenvalue", "outlier_gap"]


@dataclass(frozen=True)
class ExpectedTrajectory:
    """Expected-gradient learning: ``updates`` (U,), ``eigenvalues`` of W (or of the reduced
    matrix A) (U, n) complex, ``loss`` (U,) the expected trial loss, ``recurrent`` and
    ``readout`` at the end."""

    updates: np.ndarray
    eigenvalues: np.ndarray
    loss: np.ndarray
    recurrent: np.ndarray
    readout: np.ndarray

    @property
    def outlier(self) -> np.ndarray:
        """The outlier eigenvalue (largest real part) at each update, (U,) complex."""
        return outlier_eigenvalue(self.eigenvalues)


def expected_loss(recurrent: np.ndarray, input_weights: np.ndarray, readout: np.ndarray, target_kernel: np.ndarray,
                  alpha: float, dt: float) -> float:
    """The expected trial loss ℓ (module docstring); ``target_kernel`` holds k⋆_1 … k⋆_{T−1}."""
    return expected_gradients(recurrent, input_weights, readout, target_kernel, alpha, dt)[0]


def expected_gradients(recurrent: np.ndarray, input_weights: np.ndarray, readout: np.ndarray,
                       target_kernel: np.ndarray, alpha: float, dt: float) -> tuple[float, np.ndarray, np.ndarray]:
    """``(ℓ, ∂ℓ/∂W, ∂ℓ/∂v)`` for W (N, N), read-in u (N,), readout v (N,) and the target
    kernel k⋆_n, n = 1 … T − 1 (T the trial length)."""
    recurrent, u, v = np.asarray(recurrent, float), np.ravel(input_weights), np.ravel(readout)
    kernel = np.asarray(target_kernel, float)
    lags, n = kernel.size, u.size
    steps = lags + 1
    step_matrix = (1 - alpha) * np.eye(n) + alpha * recurrent
    forward = np.empty((lags, n))   # f_b = M^b u
    backward = np.empty((lags, n))  # g_a = (Mᵀ)^a v
    forward[0], backward[0] = u, v
    for b in range(1, lags):
        forward[b] = step_matrix @ forward[b - 1]
        backward[b] = step_matrix.T @ backward[b - 1]
    response = alpha * forward @ v                      # k_n, n = 1 … T − 1
    error = response - kernel
    weights = (steps - np.arange(1, lags + 1)) / (steps * dt)
    loss = 0.5 * float(np.sum(weights * error**2))
    coefficient = weights * error                        # c_n
    # H_ab = c_{a+b+2}: the Hankel matrix of the lags a + b + 2 ≤ T − 1
    index = np.add.outer(np.arange(lags), np.arange(lags)) + 1  # position of c_{a+b+2} in coefficient
    hankel = np.where(index < lags, coefficient[np.minimum(index, lags - 1)], 0.0)
    recurrent_gradient = alpha**2 * backward.T @ hankel @ forward
    readout_gradient = alpha * coefficient @ forward
    return loss, recurrent_gradient, readout_gradient


def expected_dynamics(recurrent: np.ndarray, input_weights: np.ndarray, readout: np.ndarray,
                      target_kernel: np.ndarray, alpha: float, dt: float, learning_rate: float,
                      readout_rate: float, updates: int, every: int = 1) -> ExpectedTrajectory:
    """Gradient descent on the expected loss, ``W ← W − η ∂ℓ/∂W``, ``v ← v − η_v ∂ℓ/∂v``,
    for ``updates`` updates, recording every ``every`` (and the start)."""
    recurrent = check_finite_array("recurrent", recurrent).astype(float).copy()
    if recurrent.ndim != 2 or recurrent.shape[0] != recurrent.shape[1]:
        raise ValueError(f"recurrent must be a square matrix (N, N), got shape {recurrent.shape}")
    u = np.ravel(check_finite_array("input_weights", input_weights)).astype(float)
    v = np.ravel(check_finite_array("readout", readout)).astype(float).copy()
    if u.size != recurrent.shape[0] or v.size != recurrent.shape[0]:
        raise ValueError(f"input_weights and readout must have {recurrent.shape[0]} entries like recurrent, "
                         f"got {u.size} and {v.size}")
    check_real("alpha", alpha, 0.0, 1.0, inclusive=True)
    check_positive("dt", dt)
    check_real("learning_rate", learning_rate, 0.0)
    check_real("readout_rate", readout_rate, 0.0)
    updates = check_integer("updates", updates, 0)
    every = check_integer("every", every, 1)
    recorded, eigenvalues, losses = [], [], []
    for update in range(updates + 1):
        loss, grad_w, grad_v = expected_gradients(recurrent, u, v, target_kernel, alpha, dt)
        if update % every == 0 or update == updates:
            recorded.append(update)
            eigenvalues.append(np.linalg.eigvals(recurrent))
            losses.append(loss)
        if update < updates:
            recurrent -= learning_rate * grad_w
            v -= readout_rate * grad_v
    return ExpectedTrajectory(np.asarray(recorded), np.asarray(eigenvalues), np.asarray(losses), recurrent, v)


def reduced_dynamics(recurrent: np.ndarray, input_weights: np.ndarray, readout: np.ndarray,
                     target_kernel: np.ndarray, alpha: float, dt: float, learning_rate: float,
                     readout_rate: float, updates: int, every: int = 1) -> ExpectedTrajectory:
    """The rich-regime reduction (module docstring): W and v restricted to ``S = span{u, v}``
    (``A = Qᵀ W Q``, ``Qᵀ v``, ``Qᵀ u``), learning by expected gradient descent inside S.
    Its ``eigenvalues`` are the outlier eigenvalues of W (two; one for ``v ∥ u``)."""
    u, v = np.ravel(input_weights).astype(float), np.ravel(readout).astype(float)
    basis, triangle = np.linalg.qr(np.stack([u, v], axis=1))
    keep = np.abs(np.diag(triangle)) > 1e-12 * max(float(np.linalg.norm(u)), 1e-300)
    basis = basis[:, keep]
    reduced = basis.T @ np.asarray(recurrent, float) @ basis
    return expected_dynamics(reduced, basis.T @ u, basis.T @ v, target_kernel, alpha, dt, learning_rate,
                             readout_rate, updates, every)


def lazy_dynamics(recurrent: np.ndarray, input_weights: np.ndarray, readout: np.ndarray,
                  target_kernel: np.ndarray, alpha: float, dt: float, readout_rate: float, updates: int,
                  every: int = 1) -> ExpectedTrajectory:
    """The lazy limit: W frozen at its initial value, the readout learning alone by expected
    gradient descent on the initial modes (a linear regression of k⋆ on the features
    ``α M₀^{n−1} u``); its loss is what the lazy regime's learning curve approaches."""
    return expected_dynamics(recurrent, input_weights, readout, target_kernel, alpha, dt, 0.0, readout_rate,
                             updates, every)


def outlier_eigenvalue(eigenvalues: np.ndarray) -> np.ndarray:
    """The eigenvalue with the largest real part along the last axis (the slowest mode)."""
    eigenvalues = np.asarray(eigenvalues)
    index = np.argmax(eigenvalues.real, axis=-1)
    return np.take_along_axis(eigenvalues, index[..., None], axis=-1)[..., 0]


def outlier_gap(simulated: np.ndarray, theory: np.ndarray, bulk_radius: float = 0.0) -> float:
    """``max_t |λ_sim(t) − λ_th(t)| / |λ_th(end)|`` over the points where the predicted
    outlier has left the bulk (``|λ_th(t)| > 2 bulk_radius``; before that the simulated
    "outlier" is the bulk's edge): the largest gap between simulated and predicted outlier
    eigenvalues along a trajectory, relative to the learned eigenvalue."""
    simulated, theory = np.asarray(simulated), np.asarray(theory)
    if simulated.shape != theory.shape or simulated.ndim != 1:
        raise ValueError(f"simulated and theory must be trajectories of one shape (U,), got {simulated.shape} "
                         f"and {theory.shape}")
    check_real("bulk_radius", bulk_radius, 0.0)
    outside = np.abs(theory) > 2 * bulk_radius
    if not outside.any():
        raise ValueError(f"the predicted outlier never leaves the bulk (radius {bulk_radius:g}): no gap to measure")
    return float(np.max(np.abs(simulated - theory)[outside]) / np.abs(theory[-1]))
