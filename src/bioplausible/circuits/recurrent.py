"""Recurrent rate networks that learn over time: BPTT, RFLO and e-prop on one network.

The network (discrete time, step ``dt``, unit time constant ``τ_m``, ``α = dt/τ_m``)::

    h_0 = 0,   r_t = φ(h_t),   y_t = V r_t,
    h_{t+1} = (1 − α) h_t + α (W r_t + U x_t)

with ``φ`` the identity (``nonlinearity="linear"``) or rectification ``[.]₊``
(``"rectified"``). ``U`` (read-in, ``input_weights``) is fixed; ``W`` (``recurrent``) and
``V`` (``readout``) learn from trials of a :class:`~bioplausible.core.TrialBatch` to reduce
``ℓ = (1/2BT) Σ_{b,t} |y_t − y⋆_t|²``:

==================  ==========================================================================  =====================
circuit             recurrent W                                                                 readout V
==================  ==========================================================================  =====================
``RecurrentBPTT``   ``−η ∂ℓ/∂W`` (backpropagation through time)                                 ``−η ∂ℓ/∂V`` (delta)
``RecurrentRFLO``   RFLO, random B (:data:`~bioplausible.rules.recurrent.RFLO`)                 delta rule
``RecurrentEprop``  e-prop, ``B = Vᵀ`` or random (:data:`~bioplausible.rules.recurrent.EPROP`)  delta rule
==================  ==========================================================================  =====================

The local rules are declared once in :mod:`bioplausible.rules.recurrent`; BPTT is the
non-local baseline. Initial weights: ``W ~ N(0, g²/N)`` (``initial_scale`` g: small g is
the rich regime of Bordelon et al. 2025, g near 1 the lazy one), ``U ~ N(0, 1/N)`` (a read-in
of norm ≈ 1), ``V ~ N(0, readout_scale²/N)``, ``B ~ N(0, 1/N)``.

Activities are trials: ``respond`` takes inputs (K, B, T, n) and returns (K, B, T, ·) for
``noise`` (the inputs), ``hidden`` (rates r), ``drive`` (h) and ``output`` (y). On spikes
(:mod:`bioplausible.substrates.spiking.recurrent`) RFLO and e-prop learn from decoded spike
counts; BPTT is refused there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..core.agreement import AgreementCase
from ..core.trials import TrialBatch
from ..rules import recurrent as rules
from ..rules.declaration import RuleBinding
from ..validation import check_choice, check_finite_array, check_integer, check_positive, check_real
from .base import Circuit, Connection, Parameters, Population, RuleCircuit, register_circuit

__all__ = ["RecurrentParameters", "RecurrentNetwork", "RecurrentBPTT", "RecurrentRFLO", "RecurrentEprop",
           "NONLINEARITIES", "trial_inputs"]

NONLINEARITIES = ("linear", "rectified")
FEEDBACK = ("symmetric", "random")


@dataclass(frozen=True)
class RecurrentParameters(Parameters):
    """``n_hidden`` N; ``nonlinearity`` φ; ``learning_rate`` η of W and ``readout_rate`` of V;
    ``time_constant`` τ_m (s) and ``dt`` (s, the task's step); ``initial_scale`` g of W;
    ``readout_scale`` of V; ``feedback`` (e-prop only): ``"symmetric"`` (B = Vᵀ) or ``"random"``;
    ``spike_offset`` y0 of the offset code of linear units on spikes (rate ``r0 (y0 + h)``)."""

    n_hidden: int = 32
    nonlinearity: str = "linear"
    learning_rate: float = 0.05
    readout_rate: float = 0.05
    time_constant: float = 1.0
    dt: float = 0.1
    initial_scale: float = 0.1
    readout_scale: float = 0.1
    feedback: str = "symmetric"
    spike_offset: float = 4.0

    def validate(self) -> None:
        check_integer("n_hidden", self.n_hidden, 1)
        check_choice("nonlinearity", self.nonlinearity, NONLINEARITIES)
        check_real("learning_rate", self.learning_rate, 0.0)
        check_real("readout_rate", self.readout_rate, 0.0)
        check_positive("time_constant", self.time_constant)
        check_positive("dt", self.dt)
        if self.dt > self.time_constant:
            raise ValueError(f"dt must not exceed time_constant ({self.time_constant:g} s), got dt={self.dt:g}")
        check_real("initial_scale", self.initial_scale, 0.0)
        check_real("readout_scale", self.readout_scale, 0.0)
        check_choice("feedback", self.feedback, FEEDBACK)
        check_positive("spike_offset", self.spike_offset)

    @property
    def alpha(self) -> float:
        """``α = dt/τ_m``, the fraction of a time constant per step."""
        return self.dt / self.time_constant


class RecurrentNetwork(Circuit):
    """The shared rate RNN (module docstring); subclasses say how W learns: BPTT by hand (not a
    local rule), RFLO and e-prop derived from their declared rules."""

    family = "recurrent"
    default_task = "integration"
    Parameters = RecurrentParameters
    params: RecurrentParameters
    quick_params: ClassVar[dict[str, Any]] = {"n_hidden": 16, "learning_rate": 0.1, "readout_rate": 0.1}
    #: What the circuit takes from its task (the step length).
    task_keys = ("dt",)
    #: The name of the rule on the recurrent connection (shown in the graph).
    recurrent_rule: ClassVar[Any] = None

    @property
    def kind(self) -> str:
        """``"recurrent-rate"``: discrete-time rate dynamics over the steps of a trial."""
        return "recurrent-rate"

    def populations(self) -> list[Population]:
        n = self.params.n_hidden
        signed = self.params.spike_offset if self.params.nonlinearity == "linear" else 0.0
        return [
            Population("noise", self._n_inputs(), role="input", description="input x_t of the trial"),
            Population("hidden", n, offset=signed, description="rates r_t = phi(h_t) of the recurrent units"),
            Population("output", self._n_targets(), role="readout", description="readout y_t = V r_t"),
        ]

    def connections(self) -> list[Connection]:
        return [
            Connection("noise", "hidden", None, description="read-in U (fixed)"),
            Connection("hidden", "hidden", self.recurrent_rule, kind="recurrent", description="recurrent W"),
            Connection("hidden", "output", rules.READOUT_DELTA, description="readout V (delta rule)"),
        ]

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        return {("noise", "hidden"): self.state["input_weights"], ("hidden", "hidden"): self.state["recurrent"],
                ("hidden", "output"): self.state["readout"]}

    def _n_inputs(self) -> int:
        return int(self.state["input_weights"].shape[-1]) if self.state else 1

    def _n_targets(self) -> int:
        return int(self.state["readout"].shape[-2]) if self.state else 1

    def initial_state(self, rng: np.random.Generator, n_inputs: int, n_targets: int) -> dict[str, np.ndarray]:
        n, p = self.params.n_hidden, self.params
        n_targets = max(n_targets, 1)
        return {
            "recurrent": rng.standard_normal((n, n)) * p.initial_scale / np.sqrt(n),
            "input_weights": rng.standard_normal((n, n_inputs)) / np.sqrt(n),
            "readout": rng.standard_normal((n_targets, n)) * p.readout_scale / np.sqrt(n),
            "feedback": rng.standard_normal((n, n_targets)) / np.sqrt(n),
        }

    def _check_sizes(self, n_inputs: int, n_targets: int) -> None:
        check_integer("n_inputs", n_inputs, 1)

    # ------------------------------------------------------------------ dynamics
    def respond(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        """Rates over trials: inputs (B, T, n) or (K, B, T, n) → ``noise``, ``drive`` h,
        ``hidden`` r, ``output`` y, each (K, B, T, ·)."""
        x = trial_inputs(inputs, self.ensemble_size, self._n_inputs())
        n_members, (_, n_trials, n_steps, _) = self.ensemble_size, x.shape
        alpha, recurrent = self.params.alpha, self.state["recurrent"]
        feed = np.matmul(x, np.swapaxes(self.state["input_weights"], -1, -2)[:, None])
        drive = np.empty((n_members, n_trials, n_steps, self.params.n_hidden))
        h = np.zeros((n_members, n_trials, self.params.n_hidden))
        for t in range(n_steps):
            drive[:, :, t] = h
            r = self._phi(h)
            h = (1 - alpha) * h + alpha * (np.matmul(r, np.swapaxes(recurrent, -1, -2)) + feed[:, :, t])
        rates = self._phi(drive)
        output = np.matmul(rates, np.swapaxes(self.state["readout"], -1, -2)[:, None])
        return {"noise": np.broadcast_to(x, (n_members, *x.shape[1:])), "drive": drive, "hidden": rates,
                "output": output}

    def _phi(self, h: np.ndarray) -> np.ndarray:
        return h if self.params.nonlinearity == "linear" else np.maximum(h, 0.0)

    def slope(self, drive: np.ndarray) -> np.ndarray:
        """``φ'(h)``: 1 for linear units, the step ``[h > 0]`` for rectified ones."""
        if self.params.nonlinearity == "linear":
            return np.ones_like(drive)
        return (drive > 0).astype(float)

    def mode_rates(self) -> np.ndarray:
        """Eigenvalues of ``(W − I)/τ_m``, (K, N) complex (1/s): the modes of the linearised dynamics."""
        return (np.linalg.eigvals(self.state["recurrent"]) - 1.0) / self.params.time_constant

    # ------------------------------------------------------------------ learning
    def trial_signals(self, activities: Mapping[str, np.ndarray], batch: Any) -> dict[str, np.ndarray]:
        """The local quantities of a batch of trials (``batch``: a TrialBatch (K, B, T, ·) with
        targets), read from the state before the update: ``error`` ε = (y⋆ − y) at scored
        steps (0 elsewhere), ``previous`` r_{t−1} (0 at t = 0) and ``slope`` φ'(h_t), each
        (K, B, T, ·)."""
        if not isinstance(batch, TrialBatch) or batch.targets is None:
            raise TypeError(f"batch must be a TrialBatch with targets (trials of a task such as 'integration'), "
                            f"got {type(batch).__name__}")
        rates, output = activities["hidden"], activities["output"]
        scored = batch.scored if batch.stacked else batch.scored[None]
        targets = batch.targets if batch.stacked else batch.targets[None]
        previous = np.zeros_like(rates)
        previous[:, :, 1:] = rates[:, :, :-1]
        return {"error": (targets - output) * scored[..., None], "previous": previous,
                "slope": self.slope(activities["drive"])}

    def step_signals(self, activities: Mapping[str, np.ndarray], batch: Any) -> dict[str, np.ndarray]:
        """:meth:`trial_signals` and the steps of all trials as the readout rule's samples:
        ``step_error`` (K, B·T, n_out), ``step_rates`` (K, B·T, N)."""
        local = self.trial_signals(activities, batch)
        rates, error = activities["hidden"], local["error"]
        members = rates.shape[0]
        local["step_error"] = error.reshape(members, -1, error.shape[-1])
        local["step_rates"] = rates.reshape(members, -1, rates.shape[-1])
        return local


def _spiking_agreement(rule: str) -> AgreementCase:
    """The rule on spikes (two-compartment IF units, ``substrates/spiking/recurrent.py``)
    against rates: same data, weights and seeds; the learned weights scored alike."""
    return AgreementCase(
        "integration", {"normalized_mse": (1.0, 0.02)}, params={"n_hidden": 16, "learning_rate": 0.1,
                                                                "readout_rate": 0.1},
        task_options={"trial_steps": 30, "evaluation_trials": 16}, steps=60, eval_every=20, batch_size=8,
        substrate_options={"spiking": {"rate_unit": 500.0, "presentation": 0.01, "dt": 1e-4}},
        learns={"normalized_mse": ("relative", -0.8)}, same_start=True, slow=True,
        note=f"{rule}, 60 updates of 8 trials: normalised MSE 0.009/0.006 on spikes against 0.014/0.009 on rates "
             "(e-prop, seeds 0, 1; r0 T = 5)")


@register_circuit
class RecurrentBPTT(RecurrentNetwork, RuleCircuit):
    """Backpropagation through time: ``ΔW = −η ∂ℓ/∂W`` with the exact gradient of the trial
    loss (Werbos 1990, Proc. IEEE 78:1550), the non-local baseline of the local rules.

    Declared like them: W by :data:`~bioplausible.rules.recurrent.BPTT_UPDATE` (the adjoint
    ``g_{t+1}`` times ``r_t`` over the steps), V by the delta rule; what is not local is the
    adjoint signal itself (:func:`bptt_adjoint`: it runs backward through the trial and reads Wᵀ)."""

    name = "rnn-bptt"
    description = "rate RNN trained by backpropagation through time (the baseline of RFLO and e-prop)"
    recurrent_rule = rules.BPTT_UPDATE
    agreement = (AgreementCase("integration", {}, unsupported=("spiking",),
                               note="BPTT is a rate-network baseline; it has no spiking form"),)

    def rule_bindings(self) -> list[RuleBinding]:
        """W by :data:`~bioplausible.rules.recurrent.BPTT_UPDATE` and V by
        :data:`~bioplausible.rules.recurrent.READOUT_DELTA`, the steps of all trials their samples."""
        p = self.params
        return [RuleBinding("recurrent", rules.BPTT_UPDATE, "hidden", "hidden",
                            {"adjoint": "step_adjoint", "r": "step_rates"},
                            {"learning_rate": p.learning_rate, "alpha": p.alpha}),
                RuleBinding("readout", rules.READOUT_DELTA, "hidden", "output",
                            {"error": "step_error", "r": "step_rates"}, {"learning_rate": p.readout_rate})]

    def rule_activities(self, activities: Mapping[str, np.ndarray], batch: Any) -> dict[str, np.ndarray]:
        """The trials' quantities (:meth:`~RecurrentNetwork.trial_signals`) over the steps of all
        trials, with ``step_adjoint`` = B·T g_{t+1} beside ``step_rates`` r_t (the rule's batch
        mean over the B·T steps is then the sum of the gradient), read from the state before the update."""
        local = self.step_signals(activities, batch)
        later = bptt_adjoint(self.state["recurrent"], self.state["readout"], local["slope"], -local["error"],
                             self.params.alpha)
        n_members, n_trials, n_steps, n = later.shape
        local["step_adjoint"] = later.reshape(n_members, -1, n) * (n_trials * n_steps)
        return local


class _LocalRecurrent(RecurrentNetwork, RuleCircuit):
    """An RNN whose W learns by a declared three-factor rule (:attr:`eligibility`) and V by the
    delta rule; ``learn`` is derived from the bindings: per trial, the trace rule runs along
    the steps and the update rule's per-step changes are summed, applied at the end of the
    batch (:func:`~bioplausible.rules.declaration.trial_change`)."""

    eligibility: ClassVar[rules.EligibilityRule]

    def feedback_matrix(self) -> np.ndarray:
        """The matrix B (K, N, n_out) that carries the output error to the hidden units."""
        return self.state["feedback"]

    def rule_bindings(self) -> list[RuleBinding]:
        """W by :attr:`eligibility` (trace and update rules, over each trial), V by
        :data:`~bioplausible.rules.recurrent.READOUT_DELTA` on the steps of all trials."""
        rule, p = self.eligibility, self.params
        used = {*rule.trace.activities, *rule.update.activities}
        names = {"r": "previous", "slope": "slope", "signal": "signal"}
        return [RuleBinding("recurrent", rule.update, "hidden", "hidden", {n: names[n] for n in used},
                            {"alpha": p.alpha, "learning_rate": p.learning_rate}, trace=rule.trace),
                RuleBinding("readout", rules.READOUT_DELTA, "hidden", "output",
                            {"error": "step_error", "r": "step_rates"}, {"learning_rate": p.readout_rate})]

    def rule_activities(self, activities: Mapping[str, np.ndarray], batch: Any) -> dict[str, np.ndarray]:
        """The trials' local quantities (:meth:`~RecurrentNetwork.trial_signals`) with the
        learning signal ``signal`` L = B ε (K, B, T, N), and the steps of all trials as the
        readout rule's samples: ``step_error`` (K, B·T, n_out), ``step_rates`` (K, B·T, N)."""
        local = self.step_signals(activities, batch)
        local["signal"] = np.einsum("kbto,kno->kbtn", local["error"], self.feedback_matrix())
        return local


@register_circuit
class RecurrentRFLO(_LocalRecurrent):
    """RFLO (:data:`bioplausible.rules.recurrent.RFLO`): trace ``P_ij ← (1 − α) P_ij + α φ'(h_i) r_j``,
    ``ΔW_ij = η ⟨L_i P_ij⟩`` with a fixed random feedback ``B`` (Murray 2019, eLife 8:e43299)."""

    name = "rnn-rflo"
    description = "rate RNN trained by RFLO, random-feedback local online learning (Murray 2019)"
    recurrent_rule = rules.RFLO_UPDATE
    eligibility = rules.RFLO
    agreement = (_spiking_agreement("RFLO"),)


@register_circuit
class RecurrentEprop(_LocalRecurrent):
    """e-prop (:data:`bioplausible.rules.recurrent.EPROP`): eligibility vector
    ``ε_ij ← (1 − α) ε_ij + α r_j``, ``ΔW_ij = η ⟨L_i φ'(h_i) ε_ij⟩``, ``L = Vᵀ(y⋆ − y)``
    (``feedback="symmetric"``) or ``B (y⋆ − y)`` (``"random"``) (Bellec et al. 2020, Nat. Commun. 11:3625)."""

    name = "rnn-eprop"
    description = "rate RNN trained by e-prop, eligibility propagation (Bellec et al. 2020)"
    recurrent_rule = rules.EPROP_UPDATE
    eligibility = rules.EPROP
    agreement = (_spiking_agreement("e-prop"),)

    def feedback_matrix(self) -> np.ndarray:
        """``Vᵀ`` (symmetric e-prop, the readout before the update) or the fixed random ``B``."""
        return (np.swapaxes(self.state["readout"], -1, -2) if self.params.feedback == "symmetric"
                else self.state["feedback"])


def bptt_adjoint(recurrent: np.ndarray, readout: np.ndarray, slope: np.ndarray, output_error: np.ndarray,
                 alpha: float) -> np.ndarray:
    """The adjoint ``g_{t+1}`` (K, B, T, N) beside each step t of ``ℓ = (1/2BT) Σ |y − y⋆|²`` for
    the network of the module docstring, by the recursion
    ``g_t = φ'(h_t) ∘ (Vᵀ δ_t + α Wᵀ g_{t+1}) + (1 − α) g_{t+1}`` (``δ_t = (y_t − y⋆_t)/BT``,
    ``g_T = 0``). ``output_error`` is ``y − y⋆`` (K, B, T, n_out), ``slope`` φ'(h) (K, B, T, N)."""
    n_members, n_trials, n_steps, n = slope.shape
    delta = np.matmul(output_error, readout[:, None]) / (n_trials * n_steps)
    adjoint = np.zeros((n_members, n_trials, n))
    later = np.zeros((n_members, n_trials, n_steps, n))  # g_{t+1} beside r_t
    for t in range(n_steps - 1, -1, -1):
        later[:, :, t] = adjoint
        adjoint = slope[:, :, t] * (delta[:, :, t] + alpha * np.matmul(adjoint, recurrent)) + (1 - alpha) * adjoint
    return later


def bptt_gradient(recurrent: np.ndarray, readout: np.ndarray, rates: np.ndarray, slope: np.ndarray,
                  output_error: np.ndarray, alpha: float) -> np.ndarray:
    """``∂ℓ/∂W = α Σ_t g_{t+1} r_tᵀ`` (K, N, N): the change of
    :data:`~bioplausible.rules.recurrent.BPTT_UPDATE` at a learning rate of −1, from the adjoint
    (:func:`bptt_adjoint`) and the rates r (K, B, T, N)."""
    later = bptt_adjoint(recurrent, readout, slope, output_error, alpha)
    n_members, n_trials, n_steps, n = rates.shape
    pairs = n_trials * n_steps
    return rules.BPTT_UPDATE.numpy(W=np.zeros((n_members, n, n)), r_pre=rates.reshape(n_members, pairs, n),
                                   adjoint_post=later.reshape(n_members, pairs, n) * pairs, learning_rate=-1.0,
                                   alpha=alpha)


def trial_inputs(inputs: np.ndarray, ensemble_size: int, n: int) -> np.ndarray:
    """Accept real, finite trial inputs (B, T, n) or (K, B, T, n) and return (K', B, T, n), K' ∈ {1, K}."""
    inputs = check_finite_array("inputs", inputs)
    if inputs.ndim == 3:
        inputs = inputs[None]
    if inputs.ndim != 4 or inputs.shape[0] not in (1, ensemble_size) or inputs.shape[-1] != n:
        raise ValueError(f"inputs must be trials of shape (B, T, {n}) or ({ensemble_size}, B, T, {n}), "
                         f"got {inputs.shape}")
    return inputs
