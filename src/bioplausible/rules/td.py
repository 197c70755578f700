"""Local rules of the temporal-difference (TD) value-learning family.

A value neuron reads place-cell features ψ through synapses w, ``V(s) = wᵀψ(s)``. A
broadcast reward-prediction error (the dopamine signal of Schultz, Dayan & Montague, 1997)

    δ_t = r_t + γ V(s_{t+1}) − V(s_t)

gates a three-factor rule on each synapse: ``Δw_j = η δ e_j``, with ``e_j`` the presynaptic
eligibility trace of place cell j,

    e_t = γλ e_{t−1} + ψ(s_t)    (reset to ψ(s_0) at the start of an episode),

so λ = 0 gives TD(0) (``e = ψ``) and λ > 0 TD(λ) with accumulating traces (Sutton, 1988;
Sutton & Barto, 2018, ch. 12). The synaptic rule is declared once
(:data:`TD_VALUE`); the RPE and the trace are the neuron-level quantities it reads, each
computed by one function here. Shapes: features (K, B, n), values and rewards (K, B),
weights (K, 1, n) (one value neuron).
"""

from __future__ import annotations

import numpy as np

from .declaration import Rule, register_rule

__all__ = ["TD_VALUE", "TD_RPE", "TD_TRACE", "td_value", "reward_prediction_error", "eligibility_traces",
           "carry_trace"]

TD_VALUE = register_rule(Rule(
    "td-value", "w += learning_rate * rpe_post * trace_pre",
    paper="Sutton (1988), Machine Learning 3:9-44; Bordelon, Masset, Kuo & Pehlevan (2023), NeurIPS",
    activities=("rpe", "trace"), parameters=("learning_rate",),
    description="three-factor TD rule: broadcast reward-prediction error x presynaptic eligibility trace",
))


#: The broadcast reward-prediction error, formed at the value neuron for every transition.
TD_RPE = register_rule(Rule(
    "td-rpe", "rpe = reward + discount * next_value - value",
    paper="Sutton (1988), Machine Learning 3:9-44; Schultz, Dayan & Montague (1997), Science 275:1593",
    activities=("reward", "next_value", "value"), parameters=("discount",), kind="neuron",
    description="TD error delta = r + gamma V(s') - V(s), the dopamine-like third factor",
))

#: One step of a place cell's accumulating eligibility trace; ``first`` (0/1) restarts it at an
#: episode's first transition, ``decay`` = γλ.
TD_TRACE = register_rule(Rule(
    "td-trace", "trace = decay * (1 - first) * trace + psi",
    paper="Sutton (1988), Machine Learning 3:9-44; Sutton & Barto (2018), ch. 12",
    activities=("psi", "first"), parameters=("decay",), kind="neuron",
    description="accumulating eligibility trace e_t = gamma lambda e_{t-1} + psi_t, restarted with each episode",
))


def td_value(rpe: np.ndarray, trace: np.ndarray, weights: np.ndarray, learning_rate: float) -> np.ndarray:
    """The TD weight change ``Δw = η ⟨δ e⟩`` over the batch (:data:`TD_VALUE`).

    ``rpe`` (K, B) is δ, ``trace`` (K, B, n) the eligibility traces e, ``weights`` (K, 1, n)
    the value neuron's synapses; returns the change (K, 1, n). A batch of one is the online
    rule; a batch of transitions with w held fixed is the batch (offline) TD update."""
    return TD_VALUE.numpy(w=weights, rpe=np.asarray(rpe, dtype=float)[..., None], trace=trace,
                          learning_rate=learning_rate)


def reward_prediction_error(reward: np.ndarray, value: np.ndarray, next_value: np.ndarray,
                            discount: float) -> np.ndarray:
    """The broadcast reward-prediction error ``δ = r + γ V(s') − V(s)`` (:data:`TD_RPE`) for
    every transition, elementwise."""
    return TD_RPE.values(reward=reward, next_value=next_value, value=value, discount=discount)


def eligibility_traces(features: np.ndarray, first: np.ndarray, carried: np.ndarray,
                       decay: float) -> tuple[np.ndarray, np.ndarray]:
    """Accumulating eligibility traces along the sample axis, one :data:`TD_TRACE` step per transition.

    ``features`` (K, B, n) are ψ_t in stream order, ``first`` (K, B) flags the first
    transition of an episode (the trace restarts there: ``e_t = ψ_t``), ``carried`` (K, n)
    is the trace after the previous batch, ``decay`` = γλ. Returns the traces (K, B, n) and
    the last one (K, n), to carry into the next batch. ``decay = 0`` gives ``e = ψ`` (TD(0))."""
    traces = np.empty_like(features, dtype=float)
    trace = np.asarray(carried, dtype=float)
    restart = np.asarray(first, dtype=float)
    for t in range(features.shape[1]):
        trace = TD_TRACE.values(trace=trace, psi=features[:, t], first=restart[:, t, None], decay=decay)
        traces[:, t] = trace
    return traces, trace.copy()


def carry_trace(carried: np.ndarray, traces: np.ndarray) -> np.ndarray:
    """The trace to carry into the next batch (K, n): the last of the batch's traces
    (K, B, n) from :func:`eligibility_traces`, or ``carried`` unchanged for an empty batch."""
    return traces[:, -1].copy() if traces.shape[1] else np.asarray(carried, dtype=float).copy()
