"""Spiking realisation of the sequence circuits (Brian2; builder of kind ``"windowed-replay"``):
windowed replay with active/silent units.

A ±1 visible unit is *active* (+1: fires regularly at ``r0`` through a window of length T,
non-leaky IF with reset by subtraction and dithered start voltage) or *silent* (−1: no
spikes). Spikes carry all communication; units apply their nonlinearity at window
boundaries (±1 states coded as active or silent units, see :ref:`rate-to-spikes-learning`):

* SeqNet: visible → visible synapses ``J_ij`` (voltage-free accumulation ``field_i += J_ij``
  per presynaptic spike). At the end of a window, ``h_i = 2 field_i/(r0 T) − Σ_j J_ij``
  (active/silent coding of ``J S``) and the unit is active next window iff ``h_i ≥ 0``
  (``sgn(0) = +1``). One window per step.
* DenseNet / two-layer / GPI / MixedNet: memory units as ON/OFF pairs. Visible spikes in window 2t give
  each memory unit ``m^μ = 2 x_μ/(r0 T) − Σ_j W_vh[μ, j]``; in window 2t+1 the ON (OFF) unit
  fires at ``r0 [±f̃(m^μ)]_+`` (``f̃`` the normalised separation function; divisive
  normalisation across memory units), and visible unit i becomes active in window 2t+2 iff
  ``Σ_μ W_hv[i, μ] (n_μ^ON − n_μ^OFF) ≥ 0``. Two windows per step (cortex → thalamus → cortex).
  MixedNet has two memory populations: hold units and advance units whose input synapses
  carry a transmission delay of τ_μ steps (2 τ_μ T), so they read S(t − τ_μ); before the
  first delayed spikes arrive, the cue stands in for the history (S(t) = cue for t ≤ 0).

Recall is read from spike counts: ``S_i(t) = +1`` iff unit i fired at least ``r0 T / 2``
spikes in its window. Every replay is one ``Network.run`` (``TimedArray`` phase gates, a
``network_operation`` at window boundaries, ``SpikeMonitor``), batched over cues as copies
of the network inside the same groups. Counts of active units are exact (``r0 T``) with
IF units, memory-unit counts are dithered roundings of ``r0 T f̃`` (unbiased).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...circuits.base import Circuit, ensemble_inputs
from ...core import Batch
from .substrate import SpikingSubstrate, register_builder, run_network

__all__ = ["spiking_replay", "spiking_write", "replay_rollout", "SpikingOptions", "spiking_options", "clamped_states"]

_TIE = 1e-9


class SpikingOptions(dict):
    """``rate_unit`` r0 (Hz), ``window`` T (s), ``dt`` (s), ``dither``, ``codegen``, ``seed``."""


def spiking_options(substrate: Any = None, **overrides: Any) -> SpikingOptions:
    """Read the windowed-replay options from a spiking substrate (``rate_unit``, ``presentation``
    as the window, ``dt``, ``dither``, ``codegen``, ``seed``), then apply ``overrides``."""
    options = SpikingOptions(rate_unit=100.0, window=0.1, dt=1e-4, dither=True, codegen="numpy", seed=0)
    if substrate is not None and not isinstance(substrate, str):
        for key, attribute in (("rate_unit", "rate_unit"), ("window", "presentation"), ("dt", "dt"),
                               ("dither", "dither"), ("codegen", "codegen"), ("seed", "seed")):
            value = getattr(substrate, attribute, None)
            if value is not None and not callable(value):
                options[key] = value
    options.update({k: v for k, v in overrides.items() if v is not None})
    if options["rate_unit"] * options["dt"] >= 1:
        raise ValueError(f"rate_unit * dt must be < 1 (one spike per time step at most), got "
                         f"{options['rate_unit']} Hz * {options['dt']} s")
    if options["rate_unit"] * options["window"] < 2:
        raise ValueError(f"rate_unit * window must be >= 2 spikes, got {options['rate_unit'] * options['window']:g}")
    return options


def spiking_replay(circuit: Any, cue: np.ndarray, n_steps: int, substrate: Any = None, *,
                   return_spikes: bool = False, **overrides: Any) -> Any:
    """Replay from ``cue`` (N,), (B, N) or (K, B, N) on spikes; states (K, n_steps + 1, B, N).

    ``return_spikes=True`` also returns, for ensemble member 0, a dict with the visible and
    memory spike trains (``*_indices``, ``*_times`` in s), ``window`` and ``steps_per_window``.
    """
    options = spiking_options(substrate, **overrides)
    states = _cue_states(circuit, cue)
    trajectories, spikes = [], None
    for k in range(circuit.ensemble_size):
        member = circuit.member(k)
        if not hasattr(member, "replay_layers"):
            raise ValueError(f"{type(circuit).__name__} declares no replay_layers(): it has no windowed replay")
        trajectory, recorded = _replay(member.replay_layers(), states[k], n_steps, options, seed_offset=k)
        trajectories.append(trajectory)
        spikes = recorded if spikes is None else spikes
    stacked = np.stack(trajectories)
    return (stacked, spikes) if return_spikes else stacked


def _cue_states(circuit: Any, cue: np.ndarray) -> np.ndarray:
    """A cue (N,), (B, N) or (K, B, N) as (K, B, N) with the circuit's K."""
    states = np.asarray(cue, dtype=float)
    if states.ndim == 1:
        states = states[None]
    states = ensemble_inputs(states, circuit.ensemble_size, circuit.n_neurons, "cue")
    return np.broadcast_to(states, (circuit.ensemble_size, *states.shape[1:]))


def replay_rollout(substrate: SpikingSubstrate, circuit: Circuit, cue: np.ndarray, n_steps: int) -> np.ndarray:
    """The spiking substrate's rollout of a windowed-replay circuit: :func:`spiking_replay`."""
    return spiking_replay(circuit, cue, n_steps, substrate=substrate)


def _replay(layers: dict[str, Any], cue: np.ndarray, n_steps: int, options: SpikingOptions,
            seed_offset: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    import brian2 as b2

    r0, window, dt = float(options["rate_unit"]), float(options["window"]), float(options["dt"])
    rng = np.random.default_rng([int(options["seed"]), seed_offset])
    copies, n = cue.shape
    recurrent = "recurrent" in layers
    phases = 1 if recurrent else 2
    n_windows = 1 + phases * n_steps
    spikes_per_window = r0 * window
    steps_per_window = int(round(window / dt))
    if abs(steps_per_window * dt - window) > 1e-9 * window:
        raise ValueError(f"window={window} s must be a whole number of dt={dt} s")

    previous_target = b2.prefs.codegen.target
    b2.prefs.codegen.target = options["codegen"]
    try:
        visible_gate = b2.TimedArray(np.array([float(w % phases == 0) for w in range(n_windows)] + [0.0]),
                                     dt=window * b2.second)
        namespace: dict[str, Any] = {"r0": r0 * b2.Hz, "visible_gate": visible_gate}
        visible = b2.NeuronGroup(
            copies * n,
            "dv/dt = r0 * on * visible_gate(t) : 1\non : 1\nfield : 1\ncount : 1",
            threshold="v > 1", reset="v -= 1\ncount += 1", method="euler",
            dt=dt * b2.second, namespace=namespace, name="visible*",
        )
        visible.on = (cue.reshape(-1) > 0).astype(float)
        visible.v = rng.random(copies * n) if options["dither"] else 0.0
        objects: list[Any] = [visible]
        copy_offset = np.arange(copies)[:, None, None]  # (C, 1, 1)
        if recurrent:
            weights = np.asarray(layers["recurrent"], dtype=float)
            post, pre = np.nonzero(np.ones((n, n)))
            synapses = b2.Synapses(visible, visible, "w : 1", on_pre="field_post += w", dt=dt * b2.second)
            synapses.connect(i=(copy_offset * n + pre).reshape(-1), j=(copy_offset * n + post).reshape(-1))
            synapses.w = np.tile(weights[post, pre], copies)
            objects.append(synapses)
            bias = weights.sum(axis=1)
            magnitude = np.abs(weights).sum(axis=1)
        else:
            gate = b2.TimedArray(np.array([float(w % 2 == 1) for w in range(n_windows)] + [0.0]),
                                 dt=window * b2.second)
            memories = [_MemoryPopulation(b2, visible, spec, copies, n, gate, window, dt, rng, options["dither"])
                        for spec in layers["memories"] if np.asarray(spec["input"]).shape[0]]
            for population in memories:
                objects += population.objects
            cue_active = (cue > 0).astype(float)

        def boundary(t: Any) -> None:
            ended = int(round(float(t / b2.second) / window)) - 1
            if ended < 0:
                return
            if recurrent or ended % 2 == 1:
                field = np.asarray(visible.field[:]).reshape(copies, n)
                if recurrent:
                    drive = 2 * field / spikes_per_window - bias
                    scale = magnitude
                else:
                    drive = field
                    scale = sum((p.scale() for p in memories), np.zeros_like(field))
                visible.on = (drive >= -_TIE * scale).astype(float).reshape(-1)
                visible.field = 0.0
                visible.count = 0.0
                if options["dither"]:
                    visible.v = rng.random(copies * n)
            else:
                for population in memories:
                    population.start(ended // 2, cue_active, r0, spikes_per_window)

        operation = b2.NetworkOperation(boundary, dt=window * b2.second, when="start")
        visible_monitor = b2.SpikeMonitor(visible)
        network = b2.Network(*objects, operation, visible_monitor)
        run_network(network, n_windows * window * b2.second, namespace={})
    finally:
        b2.prefs.codegen.target = previous_target

    steps = np.round(np.asarray(visible_monitor.t / b2.second) / dt).astype(int)
    window_index = np.minimum(steps // steps_per_window, n_windows - 1)
    counts = np.bincount(window_index * copies * n + np.asarray(visible_monitor.i),
                         minlength=n_windows * copies * n).reshape(n_windows, copies, n)
    trajectory = np.where(counts[::phases] >= spikes_per_window / 2, 1.0, -1.0)
    recorded = {"visible_indices": np.asarray(visible_monitor.i),
                "visible_times": np.asarray(visible_monitor.t / b2.second),
                "window": window, "windows_per_step": phases, "visible_counts": counts}
    if not recurrent:
        for index, population in enumerate(memories):
            label = "memory" if index == 0 else population.name
            recorded[f"{label}_indices"] = np.asarray(population.monitor.i)
            recorded[f"{label}_times"] = np.asarray(population.monitor.t / b2.second)
    return trajectory, recorded


class _MemoryPopulation:
    """Memory units as ON/OFF pairs: input synapses from the visible units (optionally with a
    per-unit delay of τ_μ steps), a rate set at window boundaries from the decoded input, and
    output synapses ±W_out onto the visible units' field."""

    def __init__(self, b2: Any, visible: Any, spec: dict[str, Any], copies: int, n: int, gate: Any,
                 window: float, dt: float, rng: np.random.Generator, dither: bool) -> None:
        self.name = spec.get("name", "memory")
        self.w_in = np.asarray(spec["input"], dtype=float)  # (M, N)
        self.w_out = np.asarray(spec["output"], dtype=float)  # (N, M)
        self.transfer = spec["transfer"]
        self.delays = np.asarray(spec.get("delays", np.zeros(self.w_in.shape[0])), dtype=int)
        self.copies, self.rng, self.dither = copies, rng, dither
        m = self.w_in.shape[0]
        self.bias = self.w_in.sum(axis=1)
        self.group = b2.NeuronGroup(
            copies * 2 * m, "dv/dt = rate * memory_gate(t) : 1\nrate : Hz\nx : 1\ncount : 1",
            threshold="v > 1", reset="v -= 1\ncount += 1", method="euler",
            dt=dt * b2.second, namespace={"memory_gate": gate}, name=f"{self.name}*",
        )
        self.group.v = rng.random(copies * 2 * m) if dither else 0.0
        # unit index (copy, sign, μ) -> copy*2M + sign*M + μ; sign 0 = ON (+W_out), 1 = OFF (−W_out)
        copy, sign = np.arange(copies)[:, None, None], np.arange(2)[None, :, None]
        mu, j = np.nonzero(np.ones((m, n)))
        into = b2.Synapses(visible, self.group, "w : 1", on_pre="x_post += w", dt=dt * b2.second)
        into.connect(i=np.broadcast_to(copy * n + j, (copies, 2, mu.size)).reshape(-1),
                     j=(copy * 2 * m + sign * m + mu).reshape(-1))
        into.w = np.tile(self.w_in[mu, j], copies * 2)
        if self.delays.any():  # slow synapses: spikes of step t − τ_μ arrive in step t
            into.delay = np.tile(self.delays[mu] * 2 * window, copies * 2) * b2.second
        i_out, mu_out = np.nonzero(np.ones((n, m)))
        back = b2.Synapses(self.group, visible, "w : 1", on_pre="field_post += w", dt=dt * b2.second)
        back.connect(i=(copy * 2 * m + sign * m + mu_out).reshape(-1),
                     j=np.broadcast_to(copy * n + i_out, (copies, 2, i_out.size)).reshape(-1))
        back.w = np.tile(np.concatenate([self.w_out[i_out, mu_out], -self.w_out[i_out, mu_out]]), copies)
        self.monitor = b2.SpikeMonitor(self.group)
        self.objects = [self.group, into, back, self.monitor]
        self.b2 = b2

    def start(self, step: int, cue_active: np.ndarray, r0: float, spikes_per_window: float) -> None:
        """Decode the input of the visible window that just ended, set the ON/OFF rates."""
        x = np.asarray(self.group.x[:]).reshape(self.copies, 2, -1)[:, 0]
        early = step < self.delays  # S(t − τ_μ) with t − τ_μ < 0 is the cue (initial history)
        if early.any():
            x = x + spikes_per_window * (cue_active @ self.w_in.T) * early
        drive = self.transfer(2 * x / spikes_per_window - self.bias)
        rates = np.stack([np.clip(drive, 0, None), np.clip(-drive, 0, None)], axis=1)
        self.group.rate = r0 * rates.reshape(-1) * self.b2.Hz
        self.group.x = 0.0
        self.group.count = 0.0
        if self.dither:
            self.group.v = self.rng.random(self.group.N)

    def scale(self) -> np.ndarray:
        """Σ_μ |W_out[i, μ]| (n_ON + n_OFF): the field's magnitude scale for the tie test."""
        counts = np.asarray(self.group.count[:]).reshape(self.copies, 2, -1).sum(axis=1)
        return counts @ np.abs(self.w_out).T


def _work(substrate: Any, circuit: Any, task: Any, steps: int, eval_every: int) -> tuple[int, int, int, int]:
    """For the cost estimate: the write presents two windows per transition (one network);
    each evaluation replays every transition one step and the cues through the whole sequence
    (two windows per step), the copies side by side, a network per ensemble member."""
    patterns = int(getattr(task, "sequence_length", steps))
    evaluations = 1 + -(-steps // eval_every)
    networks = 1 + 2 * evaluations * circuit.ensemble_size
    return 2 * steps + evaluations * (4 + 2 * patterns), patterns, networks, networks


@register_builder("windowed-replay", rollout=replay_rollout, work=_work)
def spiking_write(
    substrate: Any, circuit: Any, batch: Batch, batch_size: int, first_step: int
) -> dict[str, np.ndarray]:
    """The one-pass write on spikes (the spiking substrate's hook for the sequence family).

    Each transition is presented as two windows of clamped activity, ξ^μ then ξ^{μ+1}
    (active units fire at r0, silent ones not), in one Brian2 run over the whole chunk; the
    states decoded from the spike counts of each window pair are handed to the circuit's own
    rule (:meth:`learn`, i.e. :func:`bioplausible.rules.sequence.asymmetric_hebbian`: pre =
    window 2b, post = window 2b+1), every ``batch_size`` presentations. The clamped write
    does not depend on the weights, so applying the updates at the end of the run equals
    applying them at the window boundaries.
    """
    if getattr(substrate, "plasticity", None) == "stdp":  # the causal pair-trace write (.stdp)
        from .stdp import stdp_write

        return stdp_write(substrate, circuit, batch, batch_size, first_step)
    if batch.targets is None:
        raise ValueError("batch.targets must hold the next pattern of each transition, got None")
    options = spiking_options(substrate)
    pre, post = clamped_states(substrate, batch.inputs, batch.targets, options)
    activities: dict[str, np.ndarray] = {}
    for update, start in enumerate(range(0, batch.size, batch_size)):
        part = slice(start, start + batch_size)
        activities = {"cue": pre[:, part], "visible": post[:, part]}
        substrate.apply_rules(circuit, activities,
                              Batch(pre[:, part], post[:, part], {k: v[:, part] for k, v in batch.info.items()}))
        circuit.check_finite(first_step + update + 1)
    return activities


def clamped_group(substrate: Any, inputs: np.ndarray, targets: np.ndarray, options: SpikingOptions,
                  name: str = "clamped*") -> Any:
    """The IF group (K·N units) that presents ``inputs`` then ``targets`` (K, S, N) as clamped
    windows: window 2s drives the units active in cue s, window 2s + 1 those of its next
    pattern, at ``r0``; the voltage starts dithered from the options' seed."""
    b2 = substrate.brian2() if hasattr(substrate, "brian2") else __import__("brian2")
    k, samples, n = inputs.shape
    window, dt, r0 = float(options["window"]), float(options["dt"]), float(options["rate_unit"])
    clamp = np.stack([inputs, targets], axis=2).transpose(1, 2, 0, 3).reshape(2 * samples, k * n) > 0
    drive = b2.TimedArray(clamp.astype(float), dt=window * b2.second)
    group = b2.NeuronGroup(k * n, "dv/dt = r0 * drive(t, i) : 1", threshold="v > 1", reset="v -= 1",
                           method="euler", dt=dt * b2.second, namespace={"r0": r0 * b2.Hz, "drive": drive},
                           name=name)
    rng = np.random.default_rng(int(options["seed"]))
    group.v = rng.random(k * n) if options["dither"] else 0.0
    return group


def clamped_states(substrate: Any, inputs: np.ndarray, targets: np.ndarray,
                   options: SpikingOptions | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Present ``inputs`` then ``targets`` (K, S, N) as clamped windows (:func:`clamped_group`);
    states decoded from counts."""
    options = options or spiking_options(substrate)
    b2 = substrate.brian2() if hasattr(substrate, "brian2") else __import__("brian2")
    group = clamped_group(substrate, inputs, targets, options)
    monitor = b2.SpikeMonitor(group)
    run_network(b2.Network(group, monitor), 2 * inputs.shape[1] * float(options["window"]) * b2.second,
                namespace={})
    return clamped_window_states(b2, monitor, inputs.shape, options)


def clamped_window_states(b2: Any, monitor: Any, shape: tuple[int, ...], options: SpikingOptions
                          ) -> tuple[np.ndarray, np.ndarray]:
    """The ±1 states (K, S, N) of the cue and next windows of a :func:`clamped_group` run, from
    the spike counts its ``monitor`` recorded (a unit is +1 when it fired at least half the
    clamped count ``r0 T``)."""
    k, samples, n = shape
    window, dt, r0 = float(options["window"]), float(options["dt"]), float(options["rate_unit"])
    steps_per_window = int(round(window / dt))
    index = np.round(np.asarray(monitor.t / b2.second) / dt).astype(int) // steps_per_window
    counts = np.bincount(np.minimum(index, 2 * samples - 1) * k * n + np.asarray(monitor.i),
                         minlength=2 * samples * k * n).reshape(samples, 2, k, n)
    states = np.where(counts >= r0 * window / 2, 1.0, -1.0).transpose(1, 2, 0, 3)
    return states[0], states[1]
