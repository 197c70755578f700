"""The generic integrate-and-fire network (builder of kind ``"fixed-point"``): every
population of role ``"neurons"`` a group of non-leaky IF units, the declared fixed point
realised by offset coding (see :mod:`bioplausible.substrates.spiking.substrate`), learning at
presentation boundaries from decoded counts. Other builders extend :class:`IFNetwork`."""

from __future__ import annotations

import gc
from collections.abc import Mapping
from typing import Any

import numpy as np

from ...circuits.base import Circuit
from ...core import Batch
from ...models.neurons import IntegrateAndFire
from .brian2_learning import BRIAN2_PLASTICITY_KINDS, Brian2Learning, brian2_plasticity_support, brian2_support
from .groups import block_indices, check_thresholds, refractory_period, safe_name
from .substrate import SpikingSubstrate, register_builder

__all__ = ["IFNetwork", "simulate_integrate_and_fire", "brian2_plasticity_support", "brian2_support",
           "BRIAN2_PLASTICITY_KINDS", "block_indices", "safe_name",
           "check_thresholds", "refractory_period"]


@register_builder("fixed-point")
def simulate_integrate_and_fire(
    substrate: SpikingSubstrate, circuit: Circuit, batch: Batch, batch_size: int, first_step: int
) -> dict[str, np.ndarray]:
    """Generic builder: one Brian2 network per run (built at the first chunk, reused after),
    learning per presentation."""
    if substrate.plasticity == "brian2" and batch_size != 1:
        raise ValueError(f"plasticity='brian2' learns at every presentation: batch_size must be 1, got {batch_size}")
    network = substrate.cache.get("fixed-point")
    if network is None or network.circuit is not circuit or batch.size > network.capacity:
        network = substrate.cache["fixed-point"] = IFNetwork(substrate, circuit, batch.size)
    return network.run(batch, batch_size, first_step)


class IFNetwork(Brian2Learning):
    """The Brian2 objects for one chunk of presentations, and the boundary bookkeeping."""

    def __init__(self, substrate: SpikingSubstrate, circuit: Circuit, capacity: int) -> None:
        if substrate.codegen == "cython":
            # free the networks of earlier runs first: Brian2 numbers a name ("pop_x*") past those
            # of live objects, the names are in the generated code, and cython's module cache is
            # keyed by the code, so a new suffix would compile every module anew
            gc.collect()
        b2 = substrate.brian2()
        self.b2, self.substrate, self.circuit, self.capacity = b2, substrate, circuit, capacity
        self.ensemble = circuit.ensemble_size
        self.populations = {p.name: p for p in circuit.populations()}
        self.simulated = [p for p in circuit.populations() if p.role == "neurons"]
        self.inputs = [p for p in circuit.populations() if p.role == "input"]
        if len(self.inputs) != 1:
            raise ValueError(f"{circuit.name}: the integrate-and-fire model needs exactly one input population")
        edges = list(circuit.weights())
        period = substrate.presentation * b2.second
        input_pop = self.inputs[0]
        # inputs change once per presentation: the boundary operation writes them into the input
        # group and the summed drive is recomputed only at presentation onsets (not at every time
        # step). No TimedArray: its shape would be baked into the generated code, so that cython
        # compiled the network anew for every chunk length and ensemble size.
        self.input_group = b2.NeuronGroup(
            self.ensemble * input_pop.size, "x : 1", dt=period, name="input_" + safe_name(input_pop.name) + "*",
        )
        self.groups: dict[str, Any] = {}
        for p in self.simulated:
            sources = [s for (s, t) in edges if t == p.name and self.populations[s].role == "input"]
            drives = " + ".join(f"drive_{safe_name(s)}" for s in sources) or "0"
            declarations = "\n".join(f"drive_{safe_name(s)} : 1" for s in sources)
            for term in self.extra_drives(p):  # continuous drives a subclass adds (e.g. an inhibitory unit)
                drives, declarations = f"{drives} + {term}", f"{declarations}\n{term} : 1"
            equations = IntegrateAndFire.equations.format(drives=drives, drive_declarations=declarations)
            self.groups[p.name] = b2.NeuronGroup(
                self.ensemble * p.size, equations, threshold=IntegrateAndFire.threshold,
                reset=IntegrateAndFire.reset, method="euler", dt=substrate.dt * b2.second,
                refractory=False if p.ceiling is None else self._refractory_period(p) * b2.second,
                namespace={"rate_unit": substrate.rate_unit * b2.Hz}, name="pop_" + safe_name(p.name) + "*",
            )
        self.synapses: dict[tuple[str, str], tuple[Any, tuple[np.ndarray, ...]]] = {}
        patterns = circuit.synapses()  # connections that are not all-to-all (e.g. patch layers)
        for source, target in edges:
            if self.populations[target].role != "neurons":
                continue
            post = self.groups[target]
            n_source, n_target = self.populations[source].size, self.populations[target].size
            member, post_index, pre_index = block_indices(self.ensemble, n_source, n_target, source == target,
                                                        patterns.get((source, target)))
            if member.size == 0:  # e.g. the lateral connection of a one-unit population: no synapse
                continue
            if self.populations[source].role == "input":
                model = f"w : 1\ndrive_{safe_name(source)}_post = w * x_pre : 1 (summed)"
                synapse = b2.Synapses(self.input_group, post, model, dt=period,
                                      name=f"syn_{safe_name(source)}_{safe_name(target)}*")
                for updater in synapse.summed_updaters.values():
                    # after the boundary operation (order 0) has written the new weights
                    updater.when, updater.order = "start", 5
                    updater._clock = synapse.clock  # the drive only changes at presentation onsets
            else:
                synapse = b2.Synapses(self.groups[source], post, "w : 1", on_pre="v_post += w",
                                      dt=substrate.dt * b2.second, name=f"syn_{safe_name(source)}_{safe_name(target)}*")
            synapse.connect(i=member * n_source + pre_index, j=member * n_target + post_index)
            order = (synapse.j[:] // n_target, synapse.j[:] % n_target, synapse.i[:] % n_source)
            self.synapses[(source, target)] = (synapse, order)
        #: Flat index into each connection's weights of its synapses (``_write_parameters``).
        self.weight_index: dict[tuple[str, str], np.ndarray] = {}
        #: ``plasticity="brian2"``: the update's phases in order, and the network operations
        #: that run the circuit's Python around the generated-code rules at each boundary.
        self.phase_order: list[int] = []
        self.learning_operations: list[Any] = []
        #: Groups that only index the plastic synapses onto a readout population.
        self.readout_groups: dict[str, Any] = {}
        #: The circuit's per-sample quantities of the presentation being closed (``rule_activities``).
        self.step_inputs: Mapping[str, np.ndarray] | None = None
        self.plastic = self._brian2_plasticity(period) if substrate.plasticity == "brian2" else []
        #: The pair traces of ``plasticity="stdp"`` (:mod:`bioplausible.substrates.spiking.stdp`), else None.
        self.timing = None
        if substrate.plasticity == "stdp":
            from .stdp import SpikeTimingPlasticity

            self.timing = SpikeTimingPlasticity(self)
        self.operation = b2.NetworkOperation(self._boundary, dt=period, when="start")
        self.monitors = ({name: b2.SpikeMonitor(group, record=True) for name, group in self.groups.items()}
                         if substrate.record_spikes else {})
        plasticity_objects = [*(o for _, p in self.plastic for o in p.objects), *self.learning_operations,
                              *self.readout_groups.values()]
        self.network = b2.Network(self.input_group, *self.groups.values(),
                                  *[s for s, _ in self.synapses.values()], self.operation, *self.monitors.values(),
                                  *plasticity_objects, *(self.timing.objects if self.timing is not None else []))

    def extra_drives(self, population: Any) -> list[str]:
        """Names of further continuous drive variables (``v`` integrates ``r0 ·`` each) of a
        simulated population; subclasses that add graded units override it. None here."""
        return []

    def _refractory_period(self, population: Any) -> float:
        """The rate cap of a population with a ``ceiling`` as a refractory period (s)."""
        return refractory_period(self.substrate, self.circuit.name, population)

    # ---------------------------------------------------------------- simulation
    def run(self, batch: Batch, batch_size: int, first_step: int) -> dict[str, np.ndarray]:
        """Present every sample of ``batch`` (K, S, n) once, learning every ``batch_size``."""
        self.batch, self.n_presentations = batch, batch.size
        self.batch_size, self.first_step = batch_size, first_step
        self.updates, self.presented, self.started = 0, 0, False
        self.pending: list[dict[str, np.ndarray]] = []
        self.last_activities: dict[str, np.ndarray] = {}
        self.step_inputs = None
        self.values = batch.inputs.transpose(1, 0, 2).reshape(batch.size, -1)
        self.substrate.resume_dither(first_step * batch_size, self.ensemble * sum(p.size for p in self.simulated))
        if self.plastic and batch_size != 1:
            raise ValueError(f"plasticity='brian2' learns at every presentation: batch_size must be 1, "
                             f"got {batch_size}")
        for binding, runner in self.plastic:
            matrix = self.circuit.state[binding.state]
            runner.set(np.swapaxes(matrix, -1, -2) if binding.transposed else matrix)
            runner.open(False)  # nothing counted yet at this run's first boundary
        for phase in self.phase_order:
            # inputs from Python start finite (the circuit's states, zero activities): a gated-off
            # statement still evaluates its expression, and 0 · inf would poison the target
            self._write_inputs(phase)
        self._write_parameters()
        # (not named chunk_start: Brian2 resolves names in this frame and would warn of a clash)
        run_started = float(self.network.t / self.b2.second)
        # Network.run() starts with a full gc.collect(); freezing the objects that exist now
        # keeps that from rescanning the whole heap at every chunk (0.3 s each in a big process)
        gc.freeze()
        try:
            self.network.run(self.n_presentations * self.substrate.presentation * self.b2.second)
        finally:
            gc.unfreeze()
        self._drain_spikes(run_started, first_step * batch_size * self.substrate.presentation)
        if self.plastic and self.presented < self.n_presentations:
            self._learn_by_hand()  # the last presentation has no boundary after it
        self._close_presentation()
        if self.pending:
            self._apply_learning()
        return self.last_activities

    def _drain_spikes(self, run_started: float, stream_start: float) -> None:
        """Move this chunk's spikes into ``substrate.spikes`` (stream time) and clear the monitors."""
        for name, monitor in self.monitors.items():
            size = self.populations[name].size
            index = np.asarray(monitor.i[:])
            times = np.asarray(monitor.t[:] / self.b2.second) - run_started + stream_start
            self.substrate.spikes.setdefault(name, []).append((index // size, index % size, times))
            monitor.resize(0)  # SpikeMonitor.reinit is not implemented in Brian2 2.9
            monitor.variables["N"].set_value(0)

    def _boundary(self) -> None:
        if self.started:
            self._close_presentation()
        self.started = True
        for _, runner in self.plastic:
            runner.open()
        self._start_presentation()

    def _start_presentation(self) -> None:
        if self.presented < self.n_presentations:
            self.input_group.x[:] = self.values[self.presented]
        for p in self.simulated:
            group = self.groups[p.name]
            theta = np.asarray(group.theta[:])
            start = self.substrate.rng.uniform(0.0, 1.0, theta.size) if self.substrate.dither else np.zeros(theta.size)
            group.v[:] = start * theta
            group.count[:] = 0
            if p.ceiling is not None:  # refractoriness does not carry over between presentations
                group.lastspike[:] = -1e4 * self.b2.second
        if self.timing is not None:
            self.timing.start()

    def _close_presentation(self) -> None:
        if self.presented >= self.n_presentations:
            return
        activities = self._decoded()
        if self.timing is not None:
            self.timing.close()
        self.presented += 1
        self.substrate.presented += 1
        self.pending.append(activities)
        if len(self.pending) == self.batch_size:
            self._apply_learning()

    def _decoded(self) -> dict[str, np.ndarray]:
        """The activities (K, n) of the presentation being closed: the input, each simulated
        population's decoded count, each readout from them."""
        index = self.presented
        activities = {self.inputs[0].name: self.batch.inputs[:, index, :]}
        for p in self.simulated:
            counts = np.asarray(self.groups[p.name].count[:]).reshape(self.ensemble, p.size)
            activities[p.name] = self.substrate.neuron.decode(counts, p.offset)
            if counts.max(initial=0) >= self.substrate.steps_per_presentation:
                self.substrate.note_saturation(self.circuit.name, p, int(np.sum(
                    counts >= self.substrate.steps_per_presentation)), counts.size)
        activities.update(self._readouts(activities))
        return activities

    def _readouts(self, activities: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each readout population (K, n) from the activities of one presentation: the sum of
        its incoming weights times its sources."""
        weights = self.circuit.weights()
        return {p.name: sum(np.einsum("kts,ks->kt", w, activities[s]) for (s, t), w in weights.items() if t == p.name)
                for p in self.populations.values() if p.role == "readout"}

    def _apply_learning(self) -> None:
        start = self.presented - len(self.pending)
        activities = {name: np.stack([a[name] for a in self.pending], axis=1) for name in self.pending[0]}
        part = self.batch[start : self.presented]
        if self.plastic:  # the rules ran in Brian2: tell the observers, read the state back
            for observer in self.substrate.observers:
                observer(activities, part)
            for binding, runner in self.plastic:
                self.circuit.state[binding.state] = self._read(binding, runner)
            self.circuit.steps += 1
        elif self.timing is not None:
            self.timing.learn(activities, part)
        else:
            self.substrate.apply_rules(self.circuit, activities, part)
        self.updates += 1
        self.circuit.check_finite(self.first_step + self.updates)
        self.last_activities = activities
        self.pending = []
        self._write_parameters()

    def _write_parameters(self) -> None:
        if self.plastic:  # the rules' parameters of the next update (a schedule may change them)
            circuit: Any = self.circuit
            fresh = {binding.state: binding for binding in circuit.rule_bindings()}
            for binding, runner in self.plastic:
                runner.set_parameters(fresh[binding.state])
        weights, thresholds = self._synapse_weights(), self.circuit.thresholds()
        for key, (synapse, order) in self.synapses.items():
            if key not in self.weight_index:  # flat positions of the synapses' weights, found once
                self.weight_index[key] = np.ravel_multi_index(self._weight_order(order), weights[key].shape)
            synapse.w[:] = np.take(weights[key], self.weight_index[key])
        offsets = {(s, t) for (s, t) in self.synapses
                   if self.populations[s].role == "neurons" and self.populations[s].offset != 0}
        dense = self.circuit.weights() if offsets else {}  # the offset code's constant part
        for p in self.simulated:
            theta = thresholds[p.name]
            bias = theta * p.offset
            for (source, target), w in dense.items():
                if (source, target) in offsets and target == p.name:
                    bias = bias - w.sum(axis=-1) * self.populations[source].offset
            self.groups[p.name].theta[:] = theta.reshape(-1)
            self.groups[p.name].bias[:] = bias.reshape(-1)
        check_thresholds(self.circuit.name, thresholds)

    def _synapse_weights(self) -> dict[tuple[str, str], np.ndarray]:
        """The weights (K, n_target, n_source) the synapses take their values from."""
        return self.circuit.weights()

    def _weight_order(self, order: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """(member, post, pre) in :meth:`_synapse_weights` of each synapse's (member, post, pre)."""
        return order
