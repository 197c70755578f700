"""Recurrent networks that learn over time (kind ``"recurrent-rate"``) on spikes: e-prop and
RFLO on a recurrent integrate-and-fire network.

Each rate unit i of :mod:`bioplausible.circuits.recurrent` becomes a two-compartment spiking
unit: a leaky membrane current ``h_i`` (time constant τ_m) that integrates the read-in and
the recurrent *spikes*, and a non-leaky integrate-and-fire soma with reset by subtraction
that fires at ``r0 (y0 + h_i)`` (offset coding, ``y0`` the population's offset; 0 and
rectified for rectified units)::

    τ dh_i/dt = −h_i + U_i x(t) − y0 Σ_j W_ij,      dv_i/dt = r0 [y0 + h_i]₊,
    on a spike of j:  h_i += W_ij / (r0 τ),          on v_i > 1:  v_i −= 1

so that ``h`` follows the rate network's ``τ_m dh/dt = −h + W r + U x`` with ``r`` the
spike trains decoded as ``spikes/r0 − y0``. One task step of length ``dt`` is one counting
window of ``presentation`` seconds (τ = τ_m · presentation / dt); each window's spike count
decodes the rates ``r̂_t = count_t/(r0 T) − y0`` (error O(1/(r0 T)), IF units with dithered
start voltages), and ``h`` at the window's start is the drive.

Learning is the circuit's own declared rule on those decoded activities, once per batch of
trials (as for the rate network): for e-prop the eligibility vector is the presynaptic
decoded spike train low-pass filtered with α per step, times the post unit's
(pseudo-)derivative, times the learning signal of the output error
(:data:`bioplausible.rules.recurrent.EPROP`, Bellec et al. 2020, Nat. Commun. 11:3625);
RFLO likewise. The traces run on the count-decoded spike trains at the task's steps, not
per spike: we differ from Bellec et al.'s LIF e-prop there (and in the two-compartment
unit, which keeps the rate network's linear transfer). BPTT has no spiking form and is
refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...circuits.base import Circuit
from ...core import TrialBatch
from .network import block_indices
from .substrate import SpikingSubstrate, register_builder, run_network

__all__ = ["RecurrentIFNetwork", "simulate_recurrent"]

def _supports(circuit: Circuit) -> str | None:
    """The spiking RNN computes each trial's eligibility traces on spikes: W must learn by a
    declared trace rule (RFLO, e-prop); a rule without one (BPTT's adjoint) has no spiking form."""
    bindings = getattr(circuit, "rule_bindings", None)
    recurrent = [b for b in bindings() if b.state == "recurrent"] if bindings is not None else []
    if not recurrent or recurrent[0].trace is None:
        rule = recurrent[0].rule.name if recurrent else "no declared rule"
        return (f"{circuit.name} learns W by {rule!r}, which reads no eligibility trace (backpropagation through "
                "time: its adjoint runs backward through the trial and reads W^T), so it has no spiking form; "
                "circuits whose W learns by a trace rule (rnn-eprop, rnn-rflo) run on spikes")
    return None


def _work(substrate: SpikingSubstrate, circuit: Circuit, task: Any, steps: int,
          eval_every: int) -> tuple[int, int, int, int]:
    """For the cost estimate: every update runs its batch of trials side by side (one
    ``Network.run`` of ``trial_steps`` windows, one network); scoring reads the learned weights."""
    return steps * int(getattr(task, "trial_steps", 1)), int(getattr(task, "default_batch_size", 1)), steps, 1


@register_builder("recurrent-rate", supports=_supports, work=_work)
def simulate_recurrent(substrate: SpikingSubstrate, circuit: Circuit, batch: TrialBatch, batch_size: int,
                       first_step: int) -> dict[str, np.ndarray]:
    """Every ``batch_size`` trials of ``batch`` (K, S, T, n): run them on spikes, then learn."""
    if not isinstance(batch, TrialBatch):
        raise TypeError(f"{circuit.name} learns from trials: batch must be a TrialBatch, got {type(batch).__name__}")
    activities: dict[str, np.ndarray] = {}
    for update, start in enumerate(range(0, batch.size, batch_size)):
        part = batch[start : start + batch_size]
        key = ("recurrent-rate", part.size, part.steps)
        network = substrate.cache.get(key)
        if network is None or network.circuit is not circuit:
            network = substrate.cache[key] = RecurrentIFNetwork(substrate, circuit, part.size, part.steps)
        activities = network.run(part)
        substrate.apply_rules(circuit, activities, part)
        circuit.check_finite(first_step + update + 1)
    return activities


class RecurrentIFNetwork:
    """The Brian2 objects for K × B trials of T steps (the module docstring's network)."""

    def __init__(self, substrate: SpikingSubstrate, circuit: Circuit, n_trials: int, n_steps: int) -> None:
        b2 = substrate.brian2()
        self.b2, self.substrate, self.circuit = b2, substrate, circuit
        self.n_trials, self.n_steps = n_trials, n_steps
        hidden = next(p for p in circuit.populations() if p.role == "neurons")
        self.n, self.offset = hidden.size, float(hidden.offset)
        self.copies = circuit.ensemble_size * n_trials  # one block of N units per member and trial
        window = substrate.presentation * b2.second
        params: Any = circuit.params
        tau = params.time_constant * substrate.presentation / params.dt * b2.second
        self.drive = b2.TimedArray(np.zeros((n_steps, self.copies * self.n)), dt=window)
        self.group = b2.NeuronGroup(
            self.copies * self.n,
            """dh/dt = (-h + drive(t - trial_start, i) + bias) / tau : 1
               dv/dt = rate_unit * clip(offset + h, 0, inf) : 1
               bias : 1
               trial_start : second (shared)""",
            threshold="v > 1", reset="v -= 1", method="euler", dt=substrate.dt * b2.second,
            namespace={"drive": self.drive, "tau": tau, "rate_unit": substrate.rate_unit * b2.Hz,
                       "offset": self.offset},
            name="recurrent_hidden*")
        self.synapses = b2.Synapses(self.group, self.group, "w : 1", on_pre="h_post += w",
                                    dt=substrate.dt * b2.second, name="recurrent_w*")
        member, post, pre = block_indices(self.copies, self.n, self.n, recurrent=False)
        self.synapses.connect(i=member * self.n + pre, j=member * self.n + post)
        self.order = (np.asarray(self.synapses.j[:]) // self.n, np.asarray(self.synapses.j[:]) % self.n,
                      np.asarray(self.synapses.i[:]) % self.n)
        self.scale = 1.0 / (substrate.rate_unit * float(tau / b2.second))
        # spike counts (cumulative: differences are per window) and h at every window start
        self.counts = b2.SpikeMonitor(self.group, record=False)
        self.snapshots: list[tuple[np.ndarray, np.ndarray]] = []
        self.operation = b2.NetworkOperation(self._snapshot, dt=window, when="start", order=-1)
        self.network = b2.Network(self.group, self.synapses, self.counts, self.operation)

    def _snapshot(self) -> None:
        self.snapshots.append((np.asarray(self.counts.count[:]).copy(), np.asarray(self.group.h[:]).copy()))

    def run(self, batch: TrialBatch) -> dict[str, np.ndarray]:
        """Activities (K, B, T, ·) of the trials of ``batch``, decoded from the spikes."""
        circuit, k = self.circuit, self.circuit.ensemble_size
        x = batch.inputs if batch.stacked else np.broadcast_to(batch.inputs, (k, *batch.inputs.shape))
        read_in = circuit.state["input_weights"]
        recurrent = circuit.state["recurrent"]
        feed = np.matmul(x, np.swapaxes(read_in, -1, -2)[:, None])         # U x, (K, B, T, N)
        self.drive.values[:] = feed.transpose(2, 0, 1, 3).reshape(self.n_steps, -1)
        member = self.order[0] // self.n_trials
        self.synapses.w[:] = recurrent[member, self.order[1], self.order[2]] * self.scale
        offset_drive = -self.offset * recurrent.sum(axis=-1)                  # −y0 Σ_j W_ij, (K, N)
        self.group.bias[:] = np.repeat(offset_drive[:, None], self.n_trials, axis=1).reshape(-1)
        self.group.h[:] = 0.0
        dither = self.substrate.rng.uniform(0.0, 1.0, self.copies * self.n) if self.substrate.dither else 0.0
        self.group.v[:] = dither
        self.group.trial_start = self.network.t
        self.snapshots = []
        run_network(self.network, self.n_steps * self.substrate.presentation * self.b2.second)
        self._snapshot()  # the counts at the end of the last window
        if len(self.snapshots) != self.n_steps + 1:
            raise RuntimeError(f"expected {self.n_steps + 1} window boundaries, counted {len(self.snapshots)}")
        counts = np.diff(np.stack([c for c, _ in self.snapshots]), axis=0)    # (T, K B N)
        rates = counts / (self.substrate.rate_unit * self.substrate.presentation) - self.offset
        drive = np.stack([h for _, h in self.snapshots[:-1]])                # (T, K B N)
        shape = (self.n_steps, k, self.n_trials, self.n)
        hidden = rates.reshape(shape).transpose(1, 2, 0, 3)
        output = np.matmul(hidden, np.swapaxes(circuit.state["readout"], -1, -2)[:, None])
        return {"noise": x, "drive": drive.reshape(shape).transpose(1, 2, 0, 3), "hidden": hidden, "output": output}
