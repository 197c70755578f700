"""The generic integrate-and-fire network (builder of kind ``"fixed-point"``): every
population of role ``"neurons"`` a group of non-leaky IF units, the declared fixed point
realised by offset coding (see :mod:`bioplausible.substrates.spiking.substrate`), learning at
presentation boundaries from decoded counts. Other builders extend :class:`IFNetwork`."""

from __future__ import annotations

import functools
import gc
from collections.abc import Mapping
from typing import Any

import numpy as np

from ...circuits.base import Circuit, RuleCircuit
from ...core import Batch
from ...models.neurons import IntegrateAndFire
from ...rules.declaration import (
    Brian2NeuronPlasticity,
    Brian2Plasticity,
    apply_step,
    brian2_plasticity_refusal,
    phases,
)
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


#: The builder kinds whose network is :class:`IFNetwork`, where ``plasticity="brian2"`` runs.
BRIAN2_PLASTICITY_KINDS = ("fixed-point", "threshold-unit", "layered")


def brian2_support(circuit: Any) -> str | None:
    """The substrate's answer for ``plasticity="brian2"``: None, or why not in one line. Kind
    ``"temporal-difference"`` always learns by its rules' Brian2 form; the integrate-and-fire
    kinds by :func:`brian2_plasticity_support` (asked of an initialized circuit, whose
    bindings may read its state; the network asks again when it is built); the other kinds
    call their circuit's rules between presentations."""
    if circuit.kind == "temporal-difference":
        return None
    if circuit.kind not in BRIAN2_PLASTICITY_KINDS:
        return (f"plasticity='brian2' is built on the integrate-and-fire network (kinds "
                f"{', '.join(map(repr, BRIAN2_PLASTICITY_KINDS))}); kind {circuit.kind!r} calls its circuit's rules "
                "between presentations: use plasticity='python'")
    return brian2_plasticity_support(circuit) if circuit.initialized else None


#: Orders of the ``start`` slot each phase of a ``plasticity="brian2"`` boundary spans: its
#: inputs, up to PHASE_ORDERS − 3 summed variables per rule, its rules, its steps.
PHASE_ORDERS = 10
#: The roles of the populations a Brian2 plasticity runner's synapses may connect.
BOUND_ROLES = ("neurons", "input", "readout")


def brian2_plasticity_support(circuit: Any) -> str | None:
    """None when ``plasticity="brian2"`` runs ``circuit``'s learning on the integrate-and-fire
    network (its declared rules as Brian2 code, its declared steps in Python after the rules
    of their phase), else why not, in one line. A rule's activities of simulated or input
    populations are read in the generated code; the others (readouts, quantities the circuit
    derives in ``rule_activities``), the neuron states it takes from the circuit's quantities
    (``rule_states``) and a binding's gate are written into the runner from Python before
    its phase runs."""
    bindings = getattr(circuit, "rule_bindings", None)
    if bindings is None:
        return "it declares no rule bindings (its learn is its own): use plasticity='python'"
    roles = {p.name: p.role for p in circuit.populations()}
    sizes = {p.name: p.size for p in circuit.populations()}
    for binding in bindings():
        reason = brian2_plasticity_refusal(binding)
        if reason is not None:
            return reason
        if roles.get(binding.post) not in ("neurons", "readout") or roles.get(binding.pre) not in BOUND_ROLES:
            return (f"binding of {binding.state!r} connects {binding.pre!r} to {binding.post!r}; the Brian2 rules run "
                    "on synapses between simulated, input or readout populations")
        shape = np.shape(circuit.state.get(binding.state))[1:]
        if binding.transposed:
            shape = shape[::-1]
        expected = ((sizes[binding.post],) if binding.rule.kind == "neuron"
                    else (sizes[binding.post], sizes[binding.pre]))
        if circuit.state and shape != expected:
            return (f"binding of {binding.state!r}: its array is {shape} per member, not the {expected} of its "
                    f"populations {binding.pre!r} -> {binding.post!r} (a side is a quantity the circuit derives)")
    if not isinstance(circuit, RuleCircuit) or type(circuit).learn is not RuleCircuit.learn:
        return "its learn is not derived from its rule bindings and steps alone"
    return None


class IFNetwork:
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
        for source, target in edges:
            if self.populations[target].role != "neurons":
                continue
            post = self.groups[target]
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
            n_source, n_target = self.populations[source].size, self.populations[target].size
            member, post_index, pre_index = block_indices(self.ensemble, n_source, n_target, source == target)
            synapse.connect(i=member * n_source + pre_index, j=member * n_target + post_index)
            order = (synapse.j[:] // n_target, synapse.j[:] % n_target, synapse.i[:] % n_source)
            self.synapses[(source, target)] = (synapse, order)
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

    def _brian2_plasticity(self, period: Any) -> list[tuple[Any, Any]]:
        """The circuit's declared rules as Brian2 code (``substrate.plasticity == "brian2"``),
        phase by phase. At each boundary, in the ``start`` slot before the boundary operation
        (order 0) closes the presentation: first the circuit's per-sample quantities of the
        presentation (:meth:`_begin_learning`), then for each phase p of P, at orders from
        :data:`PHASE_ORDERS` · (p − P): the inputs its rules take from Python
        (:meth:`_write_inputs`), the summed variables of its rules, its rules
        (``run_regularly``), its declared steps in Python (:meth:`_apply_steps`)."""
        reason = brian2_plasticity_support(self.circuit)
        if reason is not None:
            raise ValueError(f"{self.circuit.name} cannot learn with plasticity='brian2': {reason}")
        scale = self.substrate.rate_unit * self.substrate.presentation
        circuit: Any = self.circuit  # a RuleCircuit (brian2_plasticity_support)
        bindings, steps = circuit.rule_bindings(), circuit.state_steps()
        plastic: list[tuple[Any, Any]] = []
        ordered = phases(bindings, steps)
        operation = functools.partial(self.b2.NetworkOperation, dt=period, when="start")
        self.learning_operations.append(operation(self._on_boundary(self._begin_learning),
                                                  order=-PHASE_ORDERS * len(ordered) - 1))
        for index, (bound, stepped) in enumerate(ordered):
            order = PHASE_ORDERS * (index - len(ordered))  # inputs; summed variables; rules; steps
            phase = bound[0].phase if bound else stepped[0].phase
            self.phase_order.append(phase)
            for binding in bound:
                plastic.append((binding, self._runner(binding, scale, period, order + PHASE_ORDERS - 2)))
            self.learning_operations.append(operation(self._on_boundary(self._write_inputs, phase), order=order))
            if stepped:
                self.learning_operations.append(operation(self._on_boundary(self._apply_steps, phase),
                                                          order=order + PHASE_ORDERS - 1))
        return plastic

    def _runner(self, binding: Any, scale: float, period: Any, order: int) -> Any:
        """The Brian2 runner of one binding: activities of simulated or input populations as
        Brian2 expressions (a neuron rule reads them through linked variables), the rest inputs."""
        pre, post = self.populations[binding.pre], self.populations[binding.post]
        inputs = [name for name, pop in binding.activities.items()
                  if pop not in self.populations or self.populations[pop].role not in ("neurons", "input")]
        read = {name: self.populations[pop] for name, pop in binding.activities.items() if name not in inputs}
        rule = binding.rule
        if rule.kind == "neuron" or rule.summed or rule.totals:
            # a group of the runner's own, reading the populations through linked variables
            names, linked = {}, {}
            for name, population in read.items():
                variable = "x" if population.role == "input" else "count"
                names[name] = self._brian2_activity(population, scale, local=True)
                linked[f"{variable}_{safe_name(population.name)}"] = (self._group(population), variable)
            if rule.kind == "neuron":
                return Brian2NeuronPlasticity(self.b2, binding, self.ensemble, post.size, names, linked, dt=period,
                                              order=order, inputs=inputs)
            return Brian2Plasticity(self.b2, None, None, binding, self.ensemble, pre.size, post.size, names,
                                    dt=period, order=order, inputs=inputs, linked=linked)
        names = {name: self._brian2_activity(population, scale) for name, population in read.items()}
        return Brian2Plasticity(self.b2, self._group(pre), self._group(post), binding, self.ensemble,
                                pre.size, post.size, names, dt=period, order=order, inputs=inputs)

    def _group(self, population: Any) -> Any:
        """The Brian2 group of a simulated or the input population; for a readout (not
        simulated), a group without dynamics that only indexes the synapses onto it."""
        if population.role == "input":
            return self.input_group
        if population.role == "readout":
            if population.name not in self.readout_groups:
                self.readout_groups[population.name] = self.b2.NeuronGroup(
                    self.ensemble * population.size, "", name="readout_" + safe_name(population.name) + "*")
            return self.readout_groups[population.name]
        return self.groups[population.name]

    @staticmethod
    def _brian2_activity(population: Any, scale: float, local: bool = False) -> str:
        """The Brian2 expression of a population's activity at a boundary: the decoded count of
        a simulated population (``{side}`` for ``_pre``/``_post``), the input value of the input;
        ``local``: as a runner's own group's linked variable (``count_<population>``)."""
        suffix = "_" + safe_name(population.name) if local else ""
        if population.role == "input":
            return f"x{suffix}{{side}}"
        return f"(count{suffix}{{side}} / {scale!r} - {float(population.offset)!r})"

    def _on_boundary(self, method: Any, *arguments: Any) -> Any:
        """``method(*arguments)`` at a boundary that closes a presentation (not the run's first)."""
        def operation() -> None:
            if self.started and self.presented < self.n_presentations:
                method(*arguments)
        return operation

    def _learn_by_hand(self) -> None:
        """The boundary learning of the run's last presentation, which has no boundary after it."""
        self._begin_learning()
        for phase in self.phase_order:
            self._write_inputs(phase)
            for binding, runner in self.plastic:
                if binding.phase == phase:
                    runner.apply()
            self._apply_steps(phase)

    def _begin_learning(self) -> None:
        """The circuit's per-sample quantities of the presentation being closed
        (``rule_activities`` of the decoded activities, read from the state before the update)."""
        circuit: Any = self.circuit  # a RuleCircuit (brian2_plasticity_support)
        index = self.presented
        activities = {name: value[:, None] for name, value in self._decoded().items()}
        self.step_inputs = circuit.rule_activities(activities, self.batch[index : index + 1])

    def _sync_state(self) -> dict[str, np.ndarray]:
        """The circuit's state with the plastic arrays as the Brian2 runners hold them now."""
        state = self.circuit.state
        for binding, runner in self.plastic:
            state[binding.state] = self._read(binding, runner)
        return state

    def _write_inputs(self, phase: int) -> None:
        """Before the rules of ``phase`` run: what they take from Python, the activities of
        this presentation and the neuron states and gates of the circuit's quantities
        (``rule_states``, derived from the state as the earlier phases left it, as
        ``apply_rules`` evaluates them per phase)."""
        runners = [(b, r) for b, r in self.plastic if b.phase == phase and (r.inputs or b.gate is not None)]
        if not runners:
            return
        circuit: Any = self.circuit
        self._sync_state()
        fresh = {binding.state: binding for binding in circuit.rule_bindings()}
        quantities = circuit.rule_states()
        activities = self.step_inputs or {}
        for binding, runner in runners:
            current = fresh[binding.state]
            values: dict[str, np.ndarray] = {}
            for key in runner.inputs.values():
                name = key.removesuffix("_pre").removesuffix("_post") if current.rule.kind == "synaptic" else key
                if name in current.activities:  # none yet at a run's first boundary (gated off): 0
                    source = current.activities[name]
                    value = activities[source][:, 0] if source in activities else np.zeros(())
                else:
                    value = np.asarray(quantities[current.states[name]], dtype=float)
                values[key] = value
            gate = None if current.gate is None else np.asarray(quantities[current.gate], dtype=float)
            runner.write(values, gate)

    def _apply_steps(self, phase: int) -> None:
        """The circuit's declared steps of ``phase`` (its own :class:`StateStep` callables, as
        ``RuleCircuit.learn`` calls them) on the state the Brian2 rules have just written: the
        plastic arrays are read back, the steps run in Python, and every plastic array a step
        changed is written into the synapses (so the next phase's rules and the next
        presentation see it). The steps' per-sample quantities are the circuit's
        ``rule_activities`` of the presentation (:meth:`_begin_learning`)."""
        circuit: Any = self.circuit  # a RuleCircuit (brian2_plasticity_support)
        steps = [step for step in circuit.state_steps() if step.phase == phase]
        if not steps:
            return
        state = self._sync_state()
        for step in steps:
            apply_step(state, step, self.step_inputs or {})
        changed = {step.state for step in steps}
        for binding, runner in self.plastic:
            if binding.state in changed:
                runner.set(np.swapaxes(state[binding.state], -1, -2) if binding.transposed else state[binding.state])

    @staticmethod
    def _read(binding: Any, runner: Any) -> np.ndarray:
        matrix = runner.get()
        return np.swapaxes(matrix, -1, -2) if binding.transposed else matrix

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
        weights = self.circuit.weights()
        for p in self.populations.values():
            if p.role == "readout":
                activities[p.name] = sum(
                    np.einsum("kts,ks->kt", w, activities[s]) for (s, t), w in weights.items() if t == p.name
                )
        return activities

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
        weights, thresholds = self.circuit.weights(), self.circuit.thresholds()
        for (source, target), (synapse, (member, post, pre)) in self.synapses.items():
            synapse.w[:] = weights[(source, target)][member, post, pre]
        for p in self.simulated:
            theta = thresholds[p.name]
            bias = theta * p.offset
            for (source, target), w in weights.items():
                if target == p.name and self.populations[source].role == "neurons":
                    bias = bias - w.sum(axis=-1) * self.populations[source].offset
            self.groups[p.name].theta[:] = theta.reshape(-1)
            self.groups[p.name].bias[:] = bias.reshape(-1)
        check_thresholds(self.circuit.name, thresholds)


def refractory_period(substrate: Any, name: str, population: Any) -> float:
    """The rate cap of a population with a ``ceiling`` as a refractory period (s), in whole
    time steps; a ValueError when ``dt`` cannot realise the cap (circuit ``name``)."""
    offset, ceiling = float(population.offset), float(population.ceiling)
    steps, realised = substrate.neuron.refractory_steps(offset, ceiling, substrate.dt)
    if abs(realised - ceiling) > 0.01 * (offset + ceiling):
        period = 1.0 / (substrate.rate_unit * (offset + ceiling))
        raise ValueError(
            f"{name}: population {population.name!r} has ceiling {ceiling:g} (offset {offset:g}), "
            f"a rate cap of {substrate.rate_unit * (offset + ceiling):g} Hz = one spike per {period * 1e3:.4g} ms; "
            f"with dt = {substrate.dt * 1e3:g} ms the refractory period rounds to {steps} step(s), which caps "
            f"the activity at {realised:.4g} instead: choose dt dividing {period * 1e3:.4g} ms (or a lower "
            f"rate_unit)"
        )
    return steps * substrate.dt


def check_thresholds(name: str, thresholds: dict[str, np.ndarray]) -> None:
    """Refuse non-positive integrate-and-fire thresholds (naming the circuit ``name``)."""
    smallest = min(float(np.min(t)) for t in thresholds.values())
    if smallest <= 0:
        raise ValueError(
            f"{name}: integrate-and-fire thresholds (the populations' self-terms, e.g. a "
            f"leak parameter) must be positive on the spiking substrate; the smallest is {smallest:.3g}"
        )


def block_indices(ensemble: int, n_source: int, n_target: int, recurrent: bool) -> tuple[np.ndarray, ...]:
    """(member, post, pre) of every synapse of K block-diagonal copies (no self-synapse if recurrent)."""
    member, post, pre = np.meshgrid(np.arange(ensemble), np.arange(n_target), np.arange(n_source), indexing="ij")
    member, post, pre = member.ravel(), post.ravel(), pre.ravel()
    if recurrent:
        keep = post != pre
        member, post, pre = member[keep], post[keep], pre[keep]
    return member, post, pre


def safe_name(name: str) -> str:
    """A Brian2-safe identifier from a population name."""
    return "".join(c if c.isalnum() else "_" for c in name)
