"""Loss dynamics of batch TD(0) learning with linear features on a Markov reward process.

After Bordelon, Masset, Kuo & Pehlevan, "Loss dynamics of temporal difference reinforcement
learning" (NeurIPS 2023). Value ``V̂ = Ψ w`` on features Ψ (S × N); each update draws B
episodes of n = T − 1 transitions from the stationary chain (P, π) and moves
``w ← w + (α/B) Σ_b Σ_t ψ_{b,t} δ_{b,t}`` (α = η_paper = ``learning_rate / n`` of
:class:`~bioplausible.circuits.TDValue`). Because the update is linear in w with i.i.d.
random coefficients across updates, the mean error and its second moment obey a closed
recursion. In state space (``v = Ψ(w − w_TD)``, ``G = ΨΨᵀ``, one episode's
``Y = Σ_t x_t (x_t − γ x_{t+1})ᵀ`` and ``ζ = Σ_t x_t δ*_t`` with ``x_t`` the one-hot state and
``δ*`` the TD error at the fixed point)::

    v̄'  = (I − α G Ȳ) v̄,
    M'  = (I − α G Ȳ) M (I − α G Ȳ)ᵀ + (α²/B) G ( E[ζζᵀ] − E[Y v̄ ζᵀ] − E[ζ v̄ᵀ Yᵀ]
          + E[Y M Yᵀ] − Ȳ M Ȳᵀ ) G,

with ``Ȳ = n D (I − γP)``, D = diag π, and M = E[v vᵀ]. The expectations over an episode
need the chain's four-point statistics ``J[u, a, v, b] = E Σ_{t,t'} 1(s_t = u, s_{t+1} = a,
s_{t'} = v, s_{t'+1} = b)``, exact in closed form: ``n π_u P_ua δ_uv δ_ab`` for t = t′ and
``π_u P_ua W_av P_vb`` with ``W = Σ_{d≥1} (n − d) P^{d−1}`` for t′ > t (and its mirror). The
value error is then ``E Σ_x π_x (V̂_x − V_x)² = tr(DM) + 2 (u* − V)ᵀ D v̄ + (u* − V)ᵀ D (u* − V)``.

This is the paper's mean/second-moment recursion with the exact statistics of the chain in
place of the Gaussian-equivalence closure (which replaces ``E[Y M Yᵀ]`` and ``E[ζζᵀ]`` by
products of two-point covariances): here the prediction is exact for the simulated process,
and the plateau it shows (set by α/B and γ through the episode's fourth-order statistics) is
the paper's. Only TD(0) (λ = 0) is covered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..validation import check_integer, check_real

__all__ = ["TDProblem", "td_learning_curve", "plateau"]


@dataclass(frozen=True)
class TDProblem:
    """A Markov reward process with linear features: ``transitions`` P (S, S), ``stationary``
    π (S,), ``features`` Ψ (S, N), ``rewards`` r (S,), ``discount`` γ, ``transitions_per_episode``
    n, ``reward_noise`` σ (standard deviation of the noise on each reward)."""

    transitions: np.ndarray
    stationary: np.ndarray
    features: np.ndarray
    rewards: np.ndarray
    discount: float
    transitions_per_episode: int
    reward_noise: float = 0.0

    @classmethod
    def from_task(cls, task: Any) -> TDProblem:
        """The process of a :class:`~bioplausible.tasks.ValueTrack` (any object with its properties)."""
        return cls(task.transition_matrix, task.stationary_distribution, task.features, task.rewards,
                   float(task.discount), int(task.transitions_per_episode), float(task.reward_noise))

    @property
    def true_value(self) -> np.ndarray:
        """V = (I − γP)⁻¹ r."""
        return np.linalg.solve(np.eye(len(self.rewards)) - self.discount * self.transitions, self.rewards)

    def fixed_point_value(self) -> np.ndarray:
        """u* = Ψ w_TD, the value of the TD fixed point (S,)."""
        weighted = self.features.T * self.stationary
        matrix = weighted @ (np.eye(len(self.rewards)) - self.discount * self.transitions) @ self.features
        return self.features @ np.linalg.lstsq(matrix, weighted @ self.rewards, rcond=None)[0]


def td_learning_curve(problem: TDProblem, learning_rate: float, episodes_per_update: int, steps: int,
                      initial_scale: float = 0.0) -> dict[str, np.ndarray]:
    """Expected ``value_error`` and ``fixed_point_error`` (normalised by ``Σ π V²``, as the task
    scores them) after 0 … ``steps`` updates, from the recursion of the module docstring.

    ``learning_rate`` is the circuit's (the mean over the batch of transitions, η_paper · n);
    ``episodes_per_update`` B; initial weights ``N(0, initial_scale²/N)`` (0: w₀ = 0)."""
    check_real("learning_rate", learning_rate, 0.0, inclusive=False)
    check_integer("episodes_per_update", episodes_per_update, 1)
    check_integer("steps", steps, 0)
    check_real("initial_scale", initial_scale, 0.0)
    n = problem.transitions_per_episode
    alpha = learning_rate / n
    transitions, stationary, gamma = problem.transitions, problem.stationary, problem.discount
    size = len(stationary)
    kernel = problem.features @ problem.features.T
    value, fixed = problem.true_value, problem.fixed_point_value()
    weighting = np.diag(stationary)
    mean_y = n * weighting @ (np.eye(size) - gamma * transitions)
    step = np.eye(size) - alpha * kernel @ mean_y
    # TD error at the fixed point on every edge (u -> a): r_u - u*_u + γ u*_a
    edge_error = (problem.rewards - fixed)[:, None] + gamma * fixed[None, :]
    moments = _EpisodeMoments(transitions, stationary, n, gamma)
    noise = problem.reward_noise**2 * n * weighting
    source = moments.pair(edge_error, edge_error) + noise  # E[ζζᵀ]
    mean_error = -fixed.copy()
    second = np.outer(fixed, fixed) + initial_scale**2 / problem.features.shape[1] * kernel
    offset = fixed - value
    scale = float(stationary @ value**2)
    value_error, fixed_error = np.empty(steps + 1), np.empty(steps + 1)
    for k in range(steps + 1):
        fixed_error[k] = float(np.sum(stationary * np.diag(second))) / scale
        bias = 2 * offset @ (stationary * mean_error) + offset @ (stationary * offset)
        value_error[k] = fixed_error[k] + bias / scale
        if k == steps:
            break
        cross = moments.cross(mean_error, edge_error)  # E[Y v̄ ζᵀ]
        fluctuation = source - cross - cross.T + moments.quadratic(second) - mean_y @ second @ mean_y.T
        second = step @ second @ step.T + alpha**2 / episodes_per_update * kernel @ fluctuation @ kernel
        mean_error = step @ mean_error
    return {"step": np.arange(steps + 1), "value_error": value_error, "fixed_point_error": fixed_error}


def plateau(curve: np.ndarray, fraction: float = 0.25) -> float:
    """The plateau of a learning curve: its mean over the last ``fraction`` of the steps."""
    curve = np.asarray(curve, dtype=float)
    return float(curve[-max(1, int(round(fraction * len(curve)))):].mean())


class _EpisodeMoments:
    """Sums over the pairs of transitions (t, t′) of one episode of the stationary chain,
    from the four-point tensor J of the module docstring."""

    def __init__(self, transitions: np.ndarray, stationary: np.ndarray, n: int, gamma: float) -> None:
        size = len(stationary)
        self.gamma = gamma
        lagged = np.zeros((size, size))  # W = Σ_{d=1}^{n-1} (n - d) P^{d-1}
        power = np.eye(size)
        for d in range(1, n):
            lagged += (n - d) * power
            power = power @ transitions
        later = np.einsum("u,ua,av,vb->uavb", stationary, transitions, lagged, transitions)
        same = np.zeros((size, size, size, size))
        index = np.arange(size)
        same[index[:, None], index[None, :], index[:, None], index[None, :]] = n * stationary[:, None] * transitions
        tensor = same + later + later.transpose(2, 3, 0, 1)
        self.tensor = tensor
        self.flat = tensor.transpose(0, 2, 1, 3).reshape(size * size, size * size)  # (u v), (a b)
        self.over_successor = tensor.sum(axis=3)  # [u, a, v]
        self.over_first_successor = tensor.sum(axis=1)  # [u, v, b]
        self.total = tensor.sum(axis=(1, 3))  # [u, v]

    def pair(self, f: np.ndarray, g: np.ndarray) -> np.ndarray:
        """``E Σ_{t,t'} x_t x_t'ᵀ f(s_t, s_{t+1}) g(s_t', s_{t'+1})`` for edge functions f, g (S, S)."""
        return np.einsum("uavb,ua,vb->uv", self.tensor, f, g)

    def cross(self, vector: np.ndarray, edge: np.ndarray) -> np.ndarray:
        """``E[Y a ζᵀ]`` with ``(Y a)`` from edge ``a_u − γ a_{s'}`` and ζ from ``edge`` (S, S)."""
        return self.pair(vector[:, None] - self.gamma * vector[None, :], edge)

    def quadratic(self, matrix: np.ndarray) -> np.ndarray:
        """``E[Y K Yᵀ]`` for a matrix K (S, S)."""
        gamma = self.gamma
        size = len(matrix)
        first = matrix * self.total
        left = np.einsum("uav,av->uv", self.over_successor, matrix)
        right = np.einsum("uvb,ub->uv", self.over_first_successor, matrix)
        both = (self.flat @ matrix.reshape(-1)).reshape(size, size)
        return first - gamma * left - gamma * right + gamma**2 * both

