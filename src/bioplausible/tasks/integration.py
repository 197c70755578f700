"""Learning to integrate: white noise in, the noise filtered by a slow kernel out.

After Bordelon, Cotler, Pehlevan & Zavatone-Veth, "Dynamically learning to integrate in
recurrent neural networks" (arXiv 2503.18754, 2025). A trial is ``trial_steps`` steps of
length ``dt`` (seconds) of scalar white noise ``x(t)`` of unit intensity
(``E[x(t) x(s)] = δ(t − s)``; on the grid ``x_t ~ N(0, 1/dt)``), and the target is the
noise through a causal filter ``k⋆``:

* ``target="leaky"`` — the leaky integrator ``k⋆(τ) = e^{−c⋆ τ}`` with ``c⋆ = 1/timescale``,
  i.e. ``dy⋆/dt = −c⋆ y⋆ + x``;
* ``target="oscillator"`` — the damped oscillator ``k⋆(τ) = e^{−c⋆ τ} cos(ω⋆ τ)`` with
  ``ω⋆ = 2π frequency``, i.e. ``dz/dt = [[−c⋆, −ω⋆], [ω⋆, −c⋆]] z + (x, 0)``, ``y⋆ = z₁``.

Both are stepped with the forward-Euler scheme the recurrent circuits use
(``y⋆_{t+1} = y⋆_t + dt(−c⋆ y⋆_t + x_t)``), so the target is exactly representable: a
linear network of time constant τ_m matches it when ``(W − I)/τ_m`` has the eigenvalue
``−c⋆`` (the pair ``−c⋆ ± iω⋆``) on the input-to-output path. Trials start at rest
(network and target state zero), and ``y⋆_t`` depends on ``x`` before step t only, as the
network's output does.

Metrics (``score``, on a held-out set of ``evaluation_trials`` trials, with the rate form of
the learned weights whichever substrate trained them):

* ``normalized_mse``: ``Σ (y − y⋆)² / Σ y⋆²`` over every step of the held-out trials;
* ``learned_timescale`` (s): ``−1/Re ρ`` of the circuit's slowest recurrent mode ρ (the
  outlier eigenvalue of W, as a rate: ``ρ = (λ − 1)/τ_m``; :class:`~bioplausible.core.HasModeRates`);
  ``timescale_error``: its relative error against ``timescale``;
* for the oscillator, ``learned_frequency`` (Hz): ``|Im ρ|/2π`` of the slowest oscillating
  mode, and ``frequency_error``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..core import CircuitLike, HasModeRates, TrialBatch
from ..validation import check_choice, check_integer, check_positive, check_real
from .base import Task, register_task

__all__ = ["Integration", "TARGETS", "target_filter", "filter_noise"]

#: The target filters (module docstring).
TARGETS = ("leaky", "oscillator")


@register_task
class Integration(Task):
    """White-noise integration trials; see the module docstring."""

    name = "integration"
    description = ("white noise in, the noise through a leaky-integrator or damped-oscillator filter out "
                   "(normalised MSE, learned timescale; Bordelon et al. 2025)")
    family = "recurrent"
    circuit_families = ("recurrent",)
    default_batch_size = 16
    default_steps = 300
    default_eval_every = 25
    quick_options: ClassVar[dict[str, Any]] = {"trial_steps": 30, "evaluation_trials": 16}
    quick_steps: ClassVar[int | None] = 100
    #: One task step per 10 ms counting window at r0 = 500 Hz (r0 T = 5): see substrates/spiking/recurrent.py
    quick_spiking_options: ClassVar[dict[str, Any]] = {"rate_unit": 500.0, "presentation": 0.01, "dt": 2e-4}
    #: The quick comparison's spiking runs: 30 updates (each a batch of trials side by side).
    quick_spiking_steps: ClassVar[int | None] = 30
    headline_metrics: ClassVar[tuple[str, ...]] = ("normalized_mse", "learned_timescale")

    def __init__(
        self,
        target: str = "leaky",
        timescale: float = 5.0,
        frequency: float = 0.25,
        trial_steps: int = 100,
        dt: float = 0.1,
        evaluation_trials: int = 64,
    ) -> None:
        super().__init__()
        self.target = check_choice("target", target, TARGETS)
        self.timescale = check_positive("timescale", timescale)
        self.frequency = check_real("frequency", frequency, 0.0, inclusive=False)
        self.trial_steps = check_integer("trial_steps", trial_steps, 2)
        self.dt = check_positive("dt", dt)
        if self.dt >= self.timescale:
            raise ValueError(f"dt must be smaller than timescale ({self.timescale:g} s) for the Euler-stepped "
                             f"filter to decay, got dt={self.dt:g}")
        if self.target == "oscillator" and not self.frequency * self.dt < 0.5:
            raise ValueError(f"frequency must be below the Nyquist frequency 1/(2 dt) = {0.5 / self.dt:g} Hz, "
                             f"got {self.frequency:g}")
        growth = (1 - self.dt / self.timescale) ** 2 + (2 * np.pi * self.frequency * self.dt) ** 2
        if self.target == "oscillator" and growth >= 1:
            raise ValueError(f"dt={self.dt:g} is too long for the Euler-stepped oscillator (timescale "
                             f"{self.timescale:g} s, frequency {self.frequency:g} Hz) to decay: shorten dt")
        self.evaluation_trials = check_integer("evaluation_trials", evaluation_trials, 1)
        self._evaluation: TrialBatch | None = None

    @property
    def n_inputs(self) -> int:
        return 1

    @property
    def n_targets(self) -> int:
        return 1

    def _generate(self) -> None:
        self._evaluation = self._trials(self.evaluation_trials)

    def _trials(self, size: int) -> TrialBatch:
        rng = self._require_reset()
        noise = rng.standard_normal((size, self.trial_steps, 1)) / np.sqrt(self.dt)
        targets = filter_noise(noise, self.target, self.timescale, self.frequency, self.dt)
        return TrialBatch(noise, targets, dt=self.dt)

    def next_batch(self, size: int) -> TrialBatch:
        """The next ``size`` trials of the stream (fresh noise), (size, trial_steps, 1)."""
        return self._trials(check_integer("size", size, 1))

    def evaluation_set(self) -> TrialBatch:
        if self._evaluation is None:
            raise RuntimeError("Integration must be reset(seed=...) before use")
        return self._evaluation

    def score(self, circuit: CircuitLike, batch: Any = None, substrate: Any = None) -> dict[str, float]:
        held_out = self.evaluation_set()
        if held_out.targets is None:
            raise RuntimeError("Integration's evaluation set carries no targets")
        outputs = circuit.output(circuit.respond(held_out.inputs[None]))[0]
        metrics = {"normalized_mse": normalized_mse(outputs, held_out.targets)}
        if isinstance(circuit, HasModeRates):
            rates = np.asarray(circuit.mode_rates())[0]
            slowest = rates[np.argmax(rates.real)]
            metrics["learned_timescale"] = float(-1.0 / slowest.real) if slowest.real < 0 else float("inf")
            metrics["timescale_error"] = abs(metrics["learned_timescale"] - self.timescale) / self.timescale
            if self.target == "oscillator":
                oscillating = rates[np.abs(rates.imag) > 1e-9]
                if oscillating.size:
                    mode = oscillating[np.argmax(oscillating.real)]
                    metrics["learned_frequency"] = float(abs(mode.imag) / (2 * np.pi))
                else:
                    metrics["learned_frequency"] = 0.0
                metrics["frequency_error"] = abs(metrics["learned_frequency"] - self.frequency) / self.frequency
        return metrics

    def check_circuit(self, circuit: CircuitLike) -> None:
        super().check_circuit(circuit)
        step = getattr(getattr(circuit, "params", None), "dt", None)
        if step is not None and not np.isclose(step, self.dt, rtol=1e-12, atol=0.0):
            raise ValueError(f"the circuit's dt={step:g} s must equal the task's step dt={self.dt:g} s "
                             f"(construct it with the task's circuit_options())")

    def circuit_options(self) -> dict[str, Any]:
        """The step ``dt`` a recurrent circuit must share with the task."""
        return {"dt": self.dt}


def normalized_mse(outputs: np.ndarray, targets: np.ndarray) -> float:
    """``Σ (y − y⋆)² / Σ y⋆²`` over every entry."""
    return float(np.sum((np.asarray(outputs) - targets) ** 2) / np.sum(np.asarray(targets) ** 2))


def target_filter(target: str, timescale: float, frequency: float, dt: float, steps: int) -> np.ndarray:
    """The target's impulse response on the grid, ``k⋆_n`` for lags n = 1 … ``steps``: the
    response at step t to a unit impulse of area dt at step t − n (so ``k⋆_1 = dt``;
    Euler-stepped as in the module docstring)."""
    check_choice("target", target, TARGETS)
    impulse = np.zeros((1, steps + 1, 1))
    impulse[0, 0, 0] = 1.0
    return filter_noise(impulse, target, timescale, frequency, dt)[0, 1:, 0]


def filter_noise(noise: np.ndarray, target: str, timescale: float, frequency: float, dt: float) -> np.ndarray:
    """The Euler-stepped target filter (module docstring) applied to ``noise`` (B, T, 1)
    along time; ``y⋆_0 = 0`` and ``y⋆_t`` reads ``x`` before step t."""
    decay = 1.0 - dt / timescale
    omega = 2 * np.pi * frequency * dt if target == "oscillator" else 0.0
    state = np.zeros((noise.shape[0], 2))
    out = np.empty(noise.shape[:2] + (1,))
    for t in range(noise.shape[1]):
        out[:, t, 0] = state[:, 0]
        first = decay * state[:, 0] - omega * state[:, 1] + dt * noise[:, t, 0]
        state[:, 1] = omega * state[:, 0] + decay * state[:, 1]
        state[:, 0] = first
    return out
