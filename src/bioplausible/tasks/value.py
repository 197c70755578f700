"""Value learning on a linear track with place-cell features (theory: :mod:`bioplausible.theory.td`).

A Markov reward process as in Bordelon, Masset, Kuo & Pehlevan, "Loss dynamics of temporal
difference reinforcement learning" (NeurIPS 2023), on a 1-D track instead of their 2-D box:

* states: ``n_positions`` positions ``x = 0 … S−1`` of a track; the policy is a random walk
  that steps right with probability ``forward_probability`` and left otherwise, bouncing back
  at the ends (a step off the track goes to the neighbour instead), transition matrix P;
* features: ``n_cells`` place cells with Gaussian tuning ``ψ_k(x) = exp(−(x − c_k)²/(2σ²))``,
  centres ``c_k`` evenly spaced along the track, width σ = ``field_width`` positions;
* reward: a Gaussian bump ``r(x) = exp(−(x − x_r)²/(2 σ_r²))`` at ``reward_position`` (a
  fraction of the track), width σ_r = ``reward_width``, plus optional Gaussian noise of
  standard deviation ``reward_noise`` on every delivered reward;
* episodes of ``episode_length`` states (``episode_length − 1`` transitions), each started from
  the walk's stationary distribution π (so the features' statistics do not depend on time;
  the paper starts in the centre of its box — here the start is stationary so that the
  theory's covariances are exact in closed form).

The true value ``V = (I − γP)⁻¹ r`` (discount γ = ``discount``) is computed in closed form, and
so is the TD fixed point of linear features ``w_TD = A⁻¹b`` with
``A = Ψᵀ D (I − γP) Ψ`` and ``b = Ψᵀ D r`` (D = diag π; Tsitsiklis & Van Roy, 1997).

The stream hands out transitions in the order they happen, episodes back to back: a sample
is ``inputs`` = ψ(s_t) with ``info`` ``next_inputs`` = ψ(s_{t+1}), ``reward`` = r_t,
``first`` (True on an episode's first transition) and ``position`` = s_t. One update is
``episodes_per_update`` whole episodes (the default batch size). Metrics (``score``, exact:
every position is evaluated, weighted by π):

* ``value_error``: ``Σ_x π(x) (V̂(x) − V(x))² / Σ_x π(x) V(x)²`` against the true value;
* ``fixed_point_error``: the same against the TD fixed point ``Ψ w_TD`` (the loss of the
  paper's theory, normalised the same way; it differs from ``value_error`` only when the
  features cannot represent V).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..core import Batch, CircuitLike
from ..validation import check_integer, check_real
from .base import Task, register_task

__all__ = ["ValueTrack", "track_transitions", "place_cells"]


@register_task
class ValueTrack(Task):
    """TD value learning on a track with place cells; see the module docstring."""

    name = "value"
    description = "Markov reward process on a track with place-cell features, scored by the value error"
    family = "temporal-difference"
    circuit_families = ("temporal-difference",)
    quick_options: ClassVar[dict[str, Any]] = {"n_positions": 20, "episode_length": 20, "episodes_per_update": 5}
    #: On spikes: 20 ms windows at 100 Hz, dt = 1 ms; the quick comparison runs 50 updates on spikes.
    quick_spiking_options: ClassVar[dict[str, Any]] = {"rate_unit": 100.0, "presentation": 0.02, "dt": 1e-3}
    quick_spiking_steps: ClassVar[int | None] = 50
    headline_metrics: ClassVar[tuple[str, ...]] = ("value_error", "fixed_point_error")

    def __init__(
        self,
        n_positions: int = 30,
        n_cells: int | None = None,
        field_width: float = 2.0,
        reward_position: float = 0.7,
        reward_width: float = 2.0,
        reward_noise: float = 0.0,
        forward_probability: float = 0.5,
        discount: float = 0.9,
        episode_length: int = 30,
        episodes_per_update: int = 10,
    ) -> None:
        super().__init__()
        self.n_positions = check_integer("n_positions", n_positions, 2, 10_000)
        self.n_cells = check_integer("n_cells", self.n_positions if n_cells is None else n_cells, 1, 10_000)
        self.field_width = check_real("field_width", field_width, 1e-3, 1e6)
        self.reward_position = check_real("reward_position", reward_position, 0.0, 1.0)
        self.reward_width = check_real("reward_width", reward_width, 1e-3, 1e6)
        self.reward_noise = check_real("reward_noise", reward_noise, 0.0, 1e6)
        self.forward_probability = check_real("forward_probability", forward_probability, 0.0, 1.0,
                                              inclusive=False)
        self.discount = check_real("discount", discount, 0.0, 1.0, inclusive=True)
        if self.discount >= 1.0:
            raise ValueError(f"discount must be < 1 (a continuing process needs γ < 1 for a finite value), "
                             f"got {discount!r}")
        self.episode_length = check_integer("episode_length", episode_length, 2, 1_000_000)
        self.episodes_per_update = check_integer("episodes_per_update", episodes_per_update, 1, 1_000_000)
        self.default_batch_size = self.transitions_per_episode * self.episodes_per_update
        self.default_steps = 500
        self.default_eval_every = 10
        self._transitions = track_transitions(self.n_positions, self.forward_probability)
        self._stationary = _stationary(self._transitions)
        self._features = place_cells(self.n_positions, self.n_cells, self.field_width)
        grid = np.arange(self.n_positions, dtype=float)
        centre = self.reward_position * (self.n_positions - 1)
        self._rewards = np.exp(-0.5 * (grid - centre) ** 2 / self.reward_width**2)
        if self._rewards.max() < 1e-12:
            raise ValueError(f"reward_width={reward_width!r} is too narrow for reward_position={reward_position!r}: "
                             "the reward is zero at every position (widen it or move it onto a position)")
        self._value = np.linalg.solve(np.eye(self.n_positions) - self.discount * self._transitions, self._rewards)
        self._fixed_point = self._features @ self.td_fixed_point()
        self._buffer: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ the process
    @property
    def n_inputs(self) -> int:
        return self.n_cells

    @property
    def transitions_per_episode(self) -> int:
        """Transitions per episode, ``episode_length − 1``."""
        return self.episode_length - 1

    @property
    def transition_matrix(self) -> np.ndarray:
        """P (S, S): ``P[x, y]`` is the probability of stepping from x to y."""
        return self._transitions.copy()

    @property
    def stationary_distribution(self) -> np.ndarray:
        """π (S,): the walk's stationary distribution (the start distribution of every episode)."""
        return self._stationary.copy()

    @property
    def features(self) -> np.ndarray:
        """Ψ (S, N): the place cells' rates at every position."""
        return self._features.copy()

    @property
    def rewards(self) -> np.ndarray:
        """r (S,): the mean reward at every position."""
        return self._rewards.copy()

    @property
    def true_value(self) -> np.ndarray:
        """V = (I − γP)⁻¹ r (S,), in closed form."""
        return self._value.copy()

    def td_fixed_point(self) -> np.ndarray:
        """The TD fixed point of the features, ``w_TD = A⁻¹ b`` (N,) (least squares if A is singular)."""
        weighted = self._features.T * self._stationary
        matrix = weighted @ (np.eye(self.n_positions) - self.discount * self._transitions) @ self._features
        return np.linalg.lstsq(matrix, weighted @ self._rewards, rcond=None)[0]

    # ------------------------------------------------------------------ stream
    def _generate(self) -> None:
        self._require_reset()
        self._buffer = {}

    def _episodes(self, count: int) -> dict[str, np.ndarray]:
        """``count`` episodes from the task's Generator, flattened to transitions in order."""
        rng = self._require_reset()
        steps = self.transitions_per_episode
        # one episode's draws at a time, so that the stream does not depend on how it is cut
        uniform = np.empty((count, steps + 1))
        noise = np.zeros((count, steps))
        for episode in range(count):
            uniform[episode] = rng.random(steps + 1)
            if self.reward_noise > 0:
                noise[episode] = rng.normal(0.0, self.reward_noise, steps)
        positions = np.empty((count, steps + 1), dtype=np.int64)
        cumulative = np.cumsum(self._stationary)
        positions[:, 0] = np.minimum(np.searchsorted(cumulative / cumulative[-1], uniform[:, 0], side="right"),
                                     self.n_positions - 1)
        moves = np.where(uniform[:, 1:] < self.forward_probability, 1, -1)
        last = self.n_positions - 1
        for t in range(steps):
            step = positions[:, t] + moves[:, t]
            positions[:, t + 1] = np.where(step < 0, 1, np.where(step > last, last - 1, step))
        here, there = positions[:, :-1].reshape(-1), positions[:, 1:].reshape(-1)
        first = np.zeros((count, steps), dtype=bool)
        first[:, 0] = True
        return {"position": here, "next_position": there,
                "reward": (self._rewards[positions[:, :-1]] + noise).reshape(-1), "first": first.reshape(-1)}

    def next_batch(self, size: int) -> Batch:
        """The next ``size`` transitions of the stream (episodes back to back, any cut)."""
        size = check_integer("size", size, 0)
        have = len(self._buffer.get("position", ()))
        if have < size:
            count = -(-(size - have) // self.transitions_per_episode)
            fresh = self._episodes(count)
            self._buffer = {key: np.concatenate([self._buffer[key], value]) if self._buffer else value
                            for key, value in fresh.items()}
        part = {key: value[:size] for key, value in self._buffer.items()}
        self._buffer = {key: value[size:] for key, value in self._buffer.items()}
        return Batch(self._features[part["position"]], None, {
            "next_inputs": self._features[part["next_position"]], "reward": part["reward"],
            "first": part["first"], "position": part["position"]})

    # ------------------------------------------------------------------ score
    def value_estimate(self, circuit: CircuitLike) -> np.ndarray:
        """V̂ (S,) of a single-member circuit at every position."""
        output = circuit.output(circuit.respond(self._features[None]))
        return np.asarray(output, dtype=float)[0].reshape(self.n_positions)

    def value_errors(self, estimate: np.ndarray) -> dict[str, float]:
        """The two metrics (module docstring) of a value estimate (S,)."""
        scale = float(self._stationary @ self._value**2)
        return {
            "value_error": float(self._stationary @ (estimate - self._value) ** 2) / scale,
            "fixed_point_error": float(self._stationary @ (estimate - self._fixed_point) ** 2) / scale,
        }

    def score(self, circuit: CircuitLike, batch: Batch | None = None, substrate: Any = None) -> dict[str, float]:
        return self.value_errors(self.value_estimate(circuit))

    def check_circuit(self, circuit: CircuitLike) -> None:
        super().check_circuit(circuit)
        discount = getattr(getattr(circuit, "params", None), "discount", self.discount)
        if discount != self.discount:
            raise ValueError(f"the circuit's discount={discount!r} must equal the task's discount={self.discount!r} "
                             "(the value being learned is defined by the task's discount)")

    def circuit_options(self) -> dict[str, Any]:
        return {"discount": self.discount}


def track_transitions(n_positions: int, forward_probability: float) -> np.ndarray:
    """P (S, S) of the bouncing random walk on a track of ``n_positions`` positions."""
    transitions = np.zeros((n_positions, n_positions))
    for x in range(n_positions):
        right = x + 1 if x + 1 < n_positions else x - 1
        left = x - 1 if x >= 1 else x + 1
        transitions[x, right] += forward_probability
        transitions[x, left] += 1.0 - forward_probability
    return transitions


def place_cells(n_positions: int, n_cells: int, width: float) -> np.ndarray:
    """Ψ (S, N): Gaussian place fields of width ``width`` (positions), centres evenly spaced."""
    grid = np.arange(n_positions, dtype=float)
    centres = np.linspace(0.0, n_positions - 1, n_cells)
    return np.exp(-0.5 * (grid[:, None] - centres[None, :]) ** 2 / width**2)


def _stationary(transitions: np.ndarray) -> np.ndarray:
    """The stationary distribution of an irreducible chain (left eigenvector of eigenvalue 1)."""
    size = len(transitions)
    system = np.vstack([transitions.T - np.eye(size), np.ones((1, size))])
    target = np.zeros(size + 1)
    target[-1] = 1.0
    return np.linalg.lstsq(system, target, rcond=None)[0]
