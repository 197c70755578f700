"""Local online rules of the recurrent family: three-factor rules with eligibility traces.

A recurrent rate network of time constant τ_m, stepped with ``α = dt/τ_m``::

    h_t = (1 − α) h_{t−1} + α (W r_{t−1} + U x_{t−1}),   r_t = φ(h_t),   y_t = V r_t

learns ``W`` by a *three-factor* rule: a synapse-local eligibility trace ``e_ij(t)`` (pre and
post activity, low-pass filtered with the neuron's own time constant) times a learning
signal ``L_i(t)`` broadcast to neuron i, the output error ``ε = y⋆ − y`` fed back through a
matrix ``B``::

    ΔW_ij = η (1/T) Σ_t  L_i(t) e_ij(t),      L(t) = B ε(t)

The two rules differ in where the postsynaptic factor ``φ'(h_i)`` enters the trace:

* **RFLO** (random-feedback local online learning; Murray 2019, eLife 8:e43299) filters the
  product, ``P_ij(t) = (1 − α) P_ij(t−1) + α φ'(h_i(t)) r_j(t−1)``, with a fixed random
  ``B`` (:data:`RFLO_TRACE`, :data:`RFLO_UPDATE`);
* **e-prop** (Bellec, Scherr, Subramoney, Hajek, Salaj, Legenstein & Maass 2020, Nat.
  Commun. 11:3625) filters the presynaptic side only, the eligibility vector
  ``ε_ij(t) = (1 − α) ε_ij(t−1) + α r_j(t−1)`` (= ∂h_i(t)/∂W_ij with the recurrence ignored),
  and multiplies by the postsynaptic (pseudo-)derivative when the trace is read,
  ``e_ij(t) = φ'(h_i(t)) ε_ij(t)``; ``B = Vᵀ`` (symmetric e-prop) or random
  (:data:`EPROP_TRACE`, :data:`EPROP_UPDATE`).

For a linear network (``φ' = 1``) both traces are the same low-pass filtered presynaptic
rate and the rules differ only in ``B``. The readout learns by the delta rule
``ΔV = η (1/T) Σ_t ε(t) r(t)ᵀ`` (:data:`READOUT_DELTA`), which is the gradient.

Each rule is one :class:`~bioplausible.rules.declaration.Rule` (a trace rule, ``P = …``,
and an update rule, ``W += …`` reading the trace as a synaptic matrix); the trial loop
(:func:`~bioplausible.rules.declaration.trial_change`, through :func:`trial_update` or a
circuit's :class:`~bioplausible.rules.declaration.RuleBinding` with a ``trace``) calls their
numpy forms step by step, with the trials of a batch and
the ensemble members flattened onto the rules' ensemble axis (each trial keeps its own
trace), and averages the per-step changes over trials and steps. Weight updates are summed
over a trial and applied at its end, as in Bellec et al. (Murray also shows the per-step
online form; the two agree to first order in η).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .declaration import Rule, register_rule, trial_change

__all__ = ["EligibilityRule", "RFLO", "EPROP", "BPTT_UPDATE", "READOUT_DELTA", "RFLO_TRACE", "RFLO_UPDATE",
           "EPROP_TRACE",
           "EPROP_UPDATE", "trial_update", "readout_update"]

RFLO_TRACE = register_rule(Rule(
    "rflo-trace", "P = (1 - alpha) * P + alpha * slope_post * r_pre",
    paper="Murray (2019), eLife 8:e43299, eq. for P_ij (RFLO)",
    activities=("slope", "r"), parameters=("alpha",),
    description="RFLO eligibility trace: low-pass filter of phi'(h_i(t)) r_j(t-1) with the neuron's alpha = dt/tau_m",
))
RFLO_UPDATE = register_rule(Rule(
    "rflo-update", "W += learning_rate * signal_post * P",
    paper="Murray (2019), eLife 8:e43299 (random feedback learning signal L = B (y* - y))",
    activities=("signal",), synaptic=("P",), parameters=("learning_rate",),
    description="RFLO weight change: learning signal of the postsynaptic neuron times its eligibility trace",
))
EPROP_TRACE = register_rule(Rule(
    "eprop-trace", "E = (1 - alpha) * E + alpha * r_pre",
    paper="Bellec et al. (2020), Nat. Commun. 11:3625, eligibility vector of a leaky unit",
    activities=("r",), parameters=("alpha",),
    description="e-prop eligibility vector: presynaptic rate r_j(t-1) low-pass filtered with alpha = dt/tau_m",
))
EPROP_UPDATE = register_rule(Rule(
    "eprop-update", "W += learning_rate * signal_post * slope_post * E",
    paper="Bellec et al. (2020), Nat. Commun. 11:3625, dW = eta sum_t L_i(t) psi_i(t) eps_ij(t)",
    activities=("signal", "slope"), synaptic=("E",), parameters=("learning_rate",),
    description="e-prop weight change: learning signal x postsynaptic (pseudo-)derivative x eligibility vector",
))
BPTT_UPDATE = register_rule(Rule(
    "bptt-update", "W += -learning_rate * alpha * adjoint_post * r_pre",
    paper="Werbos (1990), Proc. IEEE 78:1550 (backpropagation through time)",
    activities=("adjoint", "r"), parameters=("learning_rate", "alpha"),
    description="BPTT's step down the gradient: the adjoint g_i(t+1) of the trial loss times the presynaptic rate "
                "r_j(t), over the steps; the adjoint is not local (it runs backward through the trial and reads W^T)",
))
READOUT_DELTA = register_rule(Rule(
    "readout-delta", "V += learning_rate * error_post * r_pre",
    paper="Murray (2019), eLife 8:e43299; Bellec et al. (2020), Nat. Commun. 11:3625 (readout)",
    activities=("error", "r"), parameters=("learning_rate",),
    description="delta rule of a linear readout: output error (y* - y) times presynaptic rate",
))


@dataclass(frozen=True)
class EligibilityRule:
    """A three-factor rule: ``trace`` (``X = … X …``, per trial, reset at trial start) and
    ``update`` (``W += …``, reading the trace as the synaptic matrix ``update.synaptic[0]``).
    Names the trial loop provides: ``r`` (presynaptic rate of the previous step), ``slope``
    (``φ'(h)`` of the postsynaptic neuron now), ``signal`` (the learning signal ``L``), and
    the parameters ``alpha`` and ``learning_rate``."""

    name: str
    trace: Rule
    update: Rule
    paper: str

    def __post_init__(self) -> None:
        if self.update.synaptic != (self.trace.target,):
            raise ValueError(f"rule {self.name!r}: the update must read the trace {self.trace.target!r} "
                             f"as its one synaptic matrix, got {self.update.synaptic}")


RFLO = EligibilityRule("rflo", RFLO_TRACE, RFLO_UPDATE, "Murray (2019), eLife 8:e43299")
EPROP = EligibilityRule("eprop", EPROP_TRACE, EPROP_UPDATE, "Bellec et al. (2020), Nat. Commun. 11:3625")


def trial_update(rule: EligibilityRule, previous: np.ndarray, slope: np.ndarray, signal: np.ndarray,
                 alpha: float, learning_rate: float) -> np.ndarray:
    """The rule's weight change over a batch of trials, (K, n_post, n_pre).

    ``previous``: presynaptic rates of the previous step r_{t−1} (K, B, T, n_pre) (zero at
    t = 0); ``slope``: φ'(h_t) (K, B, T, n_post); ``signal``: L(t) (K, B, T, n_post), zero at
    unscored steps so that they add no change. The traces start at zero each trial; the
    change is the mean over trials and steps of the per-step change (the weights stay fixed
    within the batch)."""
    return trial_change(rule.trace, rule.update, {"r": previous, "slope": slope, "signal": signal},
                        {"alpha": alpha, "learning_rate": learning_rate})


def readout_update(rates: np.ndarray, error: np.ndarray, learning_rate: float) -> np.ndarray:
    """The delta rule's change of the readout V, (K, n_out, N), from rates (K, B, T, N) and
    errors ``y⋆ − y`` (K, B, T, n_out) (zero at unscored steps): the mean over trials and
    steps of :data:`READOUT_DELTA` (the steps are its samples)."""
    n_members = rates.shape[0]
    flat_rates = rates.reshape(n_members, -1, rates.shape[-1])
    flat_error = error.reshape(n_members, -1, error.shape[-1])
    zero = np.zeros((n_members, error.shape[-1], rates.shape[-1]))
    return READOUT_DELTA.numpy(V=zero, error_post=flat_error, r_pre=flat_rates, learning_rate=learning_rate)
