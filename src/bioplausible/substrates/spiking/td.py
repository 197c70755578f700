"""TD value learning on spikes (builder of kind ``"temporal-difference"``).

The ``td-value`` circuit (:mod:`bioplausible.circuits.td`) realised in Brian2:

* place cells are non-leaky integrate-and-fire input units driven at ``r0 ψ_j(s)`` (regular
  spike trains; voltage dithered uniformly in [0, 1) at every presentation), one state per
  presentation of length T;
* the value neuron integrates its synapses, ``v += w_j / (r0 T)`` per presynaptic spike, so
  its potential at the end of a presentation is the value ``V̂(s) = Σ_j w_j n_j / (r0 T)`` read
  from the place cells' spike counts ``n_j`` (a readout, as the circuit declares it);
* at each presentation boundary ending the presentation of ``s_{t+1}``, the broadcast
  reward-prediction error ``δ = r_t + γ V̂(s_{t+1}) − V̂(s_t)`` is formed at the value neuron
  (:data:`bioplausible.rules.td.TD_RPE`), each place cell's eligibility trace becomes
  ``e = γλ e + ψ̂(s_t)`` (:data:`bioplausible.rules.td.TD_TRACE`, restarted at an episode's
  first transition; ψ̂ the decoded count), and the synapses change by
  :data:`bioplausible.rules.td.TD_VALUE` (``w += η δ e`` with η scaled by 1/``batch_size``):
  the three declared rules' Brian2 forms, gated off at boundaries that end no transition, all
  as ``run_regularly`` code (no equation is re-typed here);
* the value neuron reads with the weights of the start of the mini-batch (``w_used``),
  copied from ``w`` every ``batch_size`` transitions: the batch TD update of the rate form.

The stream's transitions are presented in order, episodes back to back: a state is presented
once when it is both the successor of one transition and the start of the next. A whole
chunk of the training stream is one Brian2 ``run``. Activity returned per transition: the
decoded place-cell rates ψ̂(s_t) and the value V̂(s_t). Plasticity is always the rule's Brian2
form here, whatever the substrate's ``plasticity`` option (the RPE needs the next state's
value, which exists only at the following boundary); targets numpy and cython.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...circuits.base import Circuit
from ...core import Batch
from ...rules.td import TD_RPE, TD_TRACE
from .substrate import SpikingSubstrate, register_builder, run_network

__all__ = ["simulate_td", "presentation_plan"]


@register_builder("temporal-difference")
def simulate_td(substrate: SpikingSubstrate, circuit: Circuit, batch: Batch, batch_size: int,
                first_step: int) -> dict[str, np.ndarray]:
    """One Brian2 run for the chunk ``batch`` (K, S, n) of transitions, ``S // batch_size`` updates."""
    b2 = substrate.brian2()
    first = np.asarray(batch.info["first"], dtype=bool)
    if not np.all(first == first[:1]):
        raise ValueError("batch.info['first'] must mark the same episode starts in every ensemble member")
    shown, source, successor = presentation_plan(batch.inputs, batch.info["next_inputs"], first[0])
    members, steps, n_cells = batch.inputs.shape
    boundaries = len(shown) + 1  # boundary b ends presentation b - 1
    gate, starts, syncs = np.zeros(boundaries), np.zeros(boundaries), np.zeros(boundaries)
    rewards = np.zeros((boundaries, members))
    ends = successor + 1
    gate[ends] = 1.0
    starts[ends] = first[0]
    rewards[ends] = np.asarray(batch.info["reward"], dtype=float).T
    syncs[ends[batch_size - 1 :: batch_size]] = 1.0
    period, scale = substrate.presentation * b2.second, 1.0 / (substrate.rate_unit * substrate.presentation)
    stimulus = b2.TimedArray(np.concatenate([shown, shown[-1:]]).reshape(boundaries, members * n_cells), dt=period)
    arrays = {"gate": b2.TimedArray(gate, dt=period), "first_transition": b2.TimedArray(starts, dt=period),
              "reward": b2.TimedArray(rewards, dt=period), "sync": b2.TimedArray(syncs, dt=period)}
    params: Any = circuit.params
    namespace: dict[str, Any] = {
        **arrays, "stimulus": stimulus, "r0": substrate.rate_unit, "readout_scale": scale,
        "discount": params.discount, "decay": params.discount * params.trace_decay,
        "learning_rate": params.learning_rate / batch_size,
    }
    # the declared rules' Brian2 forms, switched off by ``gate`` at boundaries that end no transition
    trace_form = TD_TRACE.brian2({"psi": "psi_prev", "first": "first_transition(t)"}, gate="gate(t)")
    rpe_form = TD_RPE.brian2({"reward": "reward(t, i)", "next_value": "V_now", "value": "V_prev"}, gate="gate(t)")
    form = _rule(circuit).brian2({"rpe": "rpe{side}", "trace": "trace{side}"}, gate="gate(t)")
    place = b2.NeuronGroup(members * n_cells, f"dv/dt = r0 * stimulus(t, i) / second : 1\ncount : 1\n"
                           f"{trace_form.model}\npsi_prev : 1", threshold="v >= 1", reset="v -= 1\ncount += 1",
                           method="euler", dt=substrate.dt * b2.second, namespace=namespace, name="place*")
    value = b2.NeuronGroup(members, f"v : 1\nV_now : 1\nV_prev : 1\n{rpe_form.model}", dt=substrate.dt * b2.second,
                           namespace=namespace, name="value*")
    synapses = b2.Synapses(place, value, form.model + "\nw_used : 1", on_pre="v_post += w_used * readout_scale",
                           dt=substrate.dt * b2.second, namespace=namespace, name="td_synapses*")
    member, cell = np.meshgrid(np.arange(members), np.arange(n_cells), indexing="ij")
    synapses.connect(i=(member * n_cells + cell).ravel(), j=member.ravel())
    weights = circuit.state["value_weights"][:, 0, :].reshape(-1)
    synapses.w[:] = weights
    synapses.w_used[:] = weights
    place.trace[:] = circuit.state["trace"].reshape(-1)
    regular = {"dt": period, "when": "start"}
    value.run_regularly(f"V_now = v\n{rpe_form.statement}", order=0, **regular)
    place.run_regularly(trace_form.statement, order=1, **regular)
    synapses.run_regularly(form.statement, order=2, **regular)
    synapses.run_regularly("w_used = sync(t) * w + (1 - sync(t)) * w_used", order=3, **regular)
    value.run_regularly("V_prev = V_now\nv = 0", order=4, **regular)
    reset = "v = rand()" if substrate.dither else "v = 0"
    place.run_regularly(f"psi_prev = count * readout_scale\ncount = 0\n{reset}", order=5, **regular)
    rates = b2.StateMonitor(place, "psi_prev", record=True, dt=period, when="end")
    values = b2.StateMonitor(value, "V_prev", record=True, dt=period, when="end")
    network = b2.Network(place, value, synapses, rates, values)
    # one step past the last presentation runs the boundary that ends it
    run_network(network, len(shown) * period + substrate.dt * b2.second, namespace=namespace)
    decoded = np.asarray(rates.psi_prev[:])[:, 1 : len(shown) + 1].reshape(members, n_cells, len(shown))
    read = np.asarray(values.V_prev[:])[:, 1 : len(shown) + 1]
    circuit.state["value_weights"] = np.asarray(synapses.w[:]).reshape(members, 1, n_cells)
    circuit.state["trace"] = np.asarray(place.trace[:]).reshape(members, n_cells)
    circuit.steps += steps // batch_size
    circuit.check_finite(first_step + steps // batch_size)
    return {"place": np.transpose(decoded[:, :, source], (0, 2, 1)), "value": read[:, source, None]}


def presentation_plan(inputs: np.ndarray, next_inputs: np.ndarray,
                      first: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The states to present for transitions (K, S, n) in stream order: ``(shown (P, K, n),
    source (S,), successor (S,))`` with ``source[t]``/``successor[t]`` the presentations of
    s_t and s_{t+1}. s_t is presented anew at the chunk's start and at an episode's first
    transition; otherwise it is the previous transition's successor."""
    shown, source, successor = [], [], []
    for t in range(inputs.shape[1]):
        if t == 0 or first[t]:
            shown.append(inputs[:, t])
        source.append(len(shown) - 1)
        shown.append(next_inputs[:, t])
        successor.append(len(shown) - 1)
    return np.stack(shown), np.asarray(source), np.asarray(successor)


def _rule(circuit: Circuit) -> Any:
    bindings = circuit.rule_bindings()  # type: ignore[attr-defined]
    return bindings[0].rule
