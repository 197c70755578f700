"""``plasticity="brian2"`` on the integrate-and-fire network: the circuit's declared rules as
their Brian2 form (``run_regularly`` code at presentation boundaries), its declared steps in
Python after the rules of their phase, and the substrate's answer of what it runs
(:func:`brian2_support`). :class:`Brian2Learning` is the part of
:class:`~bioplausible.substrates.spiking.network.IFNetwork` that builds and drives them."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ...circuits.base import RuleCircuit
from ...rules.declaration import (
    Brian2NeuronPlasticity,
    Brian2Plasticity,
    apply_step,
    brian2_plasticity_refusal,
    phases,
)
from .groups import safe_name

__all__ = ["Brian2Learning", "brian2_plasticity_support", "brian2_support", "BRIAN2_PLASTICITY_KINDS",
           "PHASE_ORDERS", "BOUND_ROLES"]


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
    if circuit.kind == "threshold-unit" and _split_threshold_outputs(circuit):
        return ("plasticity='brian2' runs the rules on the circuit's own populations, but its signed outputs are "
                "realised as ON/OFF halves with a readout between them (the threshold unit senses |y|): use "
                "plasticity='python'")
    return brian2_plasticity_support(circuit) if circuit.initialized else None


def _split_threshold_outputs(circuit: Any) -> bool:
    """Whether the threshold network realises ``circuit``'s outputs as ON/OFF halves."""
    from .threshold import ThresholdPlan  # the threshold network builds on this module's network

    return ThresholdPlan(circuit).split


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


class Brian2Learning:
    """The ``plasticity="brian2"`` part of the integrate-and-fire network: the runners of the
    circuit's bindings (:attr:`plastic`) and the network operations around them
    (:attr:`learning_operations`); the network's groups, populations and presentation
    bookkeeping are those of :class:`~bioplausible.substrates.spiking.network.IFNetwork`."""

    b2: Any
    substrate: Any
    circuit: Any
    ensemble: int
    populations: dict[str, Any]
    groups: dict[str, Any]
    input_group: Any
    batch: Any
    presented: int
    n_presentations: int
    started: bool
    plastic: list[tuple[Any, Any]]
    phase_order: list[int]
    learning_operations: list[Any]
    readout_groups: dict[str, Any]
    step_inputs: Mapping[str, np.ndarray] | None
    #: The decoded activities of the presentation being closed (the network's).
    _decoded: Callable[[], dict[str, np.ndarray]]

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
