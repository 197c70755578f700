"""Whole learning runs in generated code for circuits with neuron-rule arrays, gates, a derived
input and declared state steps (issue 17): NSM's per-neuron rates D, its prewhitened input
``h = W_pre x`` and its warm-up steps.

:class:`PhasedCompiledLearning` extends :class:`~.compiled_multi.MultiCompiledLearning` to:

* **neuron rules** (phase before the synaptic rules that read them): the array (``D``) is a
  variable of its population's group, updated at each presentation boundary by the rule's own
  Brian2 form, before the synaptic rules, which read it as ``D_post`` (the later phase reads
  what the earlier one wrote, as :func:`~bioplausible.rules.declaration.apply_rules` does);
* **a derived input**: a rule whose presynaptic activity is not a population but a fixed
  linear map ``h = A x`` of the circuit's input (``rule_activities``; NSM's prewhitening), with
  the circuit's input weights ``M A`` (both read off by probing): the run's input group holds
  ``h`` (the stimulus is ``A x``, computed once per run) and the synapses carry ``M``;
* **gates** (a learning phase): a run starts only where every gate is 1 for every member and
  the run checks it is still 1 at its end (gates are read as monotone switches);
* **declared state steps**: a run starts only where every step is idle
  (``StateStep.active``) or ``samplewise``; those are applied in Python after the run,
  checkpoint interval by checkpoint interval, to the inputs of the interval, so their arrays
  are exact at every checkpoint too. :meth:`SpikingSubstrate.learning_run` runs the
  presentations before that point on the chunked path (the steps in Python), the rest here.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Any, cast

import numpy as np

from ...circuits.base import Circuit, Population
from ...core import Batch
from ...rules.declaration import apply_step, phases, samples_until_idle
from .compiled_multi import MultiCompiledLearning
from .compiled_structure import multi_structure, probe
from .network import safe_name

__all__ = ["PhasedCompiledLearning", "phased_support", "needs_phased"]


def _steps(circuit: Circuit) -> list[Any]:
    return list(getattr(circuit, "state_steps", list)())


def needs_phased(circuit: Circuit) -> bool:
    """Whether ``circuit``'s learning needs :class:`PhasedCompiledLearning` (declared steps,
    gates, neuron rules beside synaptic ones, rules reading neuron states, derived activities)."""
    bindings = list(getattr(circuit, "rule_bindings", list)())
    names = {p.name for p in circuit.populations()}
    kinds = {b.rule.kind for b in bindings}
    return bool(_steps(circuit)) or any(b.gate is not None for b in bindings) or (
        len(kinds) > 1) or (len(bindings) > 1 and any(b.rule.states for b in bindings)) or any(
        pop not in names for b in bindings for pop in b.activities.values())


def _derived(circuit: Circuit, bindings: list[Any], source: Population) -> tuple[str, np.ndarray] | str | None:
    """The one derived activity (name, A (K, n, m) with ``h = A x``) the synaptic rules read, None
    if they read none, or why it is not realised (not linear in the input, several)."""
    names = {p.name for p in circuit.populations()}
    derived = {pop for b in bindings for pop in b.activities.values() if pop not in names}
    if not derived:
        return None
    if len(derived) > 1:
        return f"its rules read several derived activities ({', '.join(sorted(derived))})"
    name = derived.pop()
    k, m = circuit.ensemble_size, source.size
    simulated = {p.name: p for p in circuit.populations() if p.role == "neurons"}

    def activity(x: np.ndarray) -> np.ndarray:
        silent = {p: np.zeros((k, x.shape[1], q.size)) for p, q in simulated.items()}
        return np.asarray(circuit.rule_activities({**silent, source.name: x}, Batch(x))[name],  # type: ignore[attr-defined]
                          dtype=float)

    transform = np.swapaxes(activity(np.broadcast_to(np.eye(m), (k, m, m)).copy()), -1, -2)  # (K, n, m)
    probe = np.random.default_rng(7).standard_normal((k, 5, m))
    if not np.allclose(activity(probe), probe @ np.swapaxes(transform, -1, -2), atol=1e-10):
        return f"its derived activity {name!r} is not a fixed linear map of the input {source.name!r}"
    for b in bindings:
        if name in b.activities.values() and b.pre != source.name:
            return f"the rule of {b.state!r} reads the derived activity {name!r} but is not from the input"
    return name, transform


def phased_structure(circuit: Circuit) -> dict[str, Any] | str:
    """What :class:`PhasedCompiledLearning` needs of ``circuit`` (``neurons``, ``synaptic``
    bindings, ``derived`` (name, A) or None, ``hosted`` neuron states), or why it cannot run it
    (its steps' reason and its plasticity's, where both stand in the way)."""
    steps = _steps(circuit)
    populations = {p.name: p for p in circuit.populations()}
    never = [s.name for s in steps if s.active is None and not s.samplewise]
    reasons = [f"its state steps after each update ({', '.join(never)}) have no form in generated code and are "
               "never idle (StateStep.active)"] if never else []
    for s in steps:
        if s.samplewise and any(populations.get(a) is None or populations[a].role != "input" for a in s.activities):
            reasons.append(f"its samplewise step {s.name!r} reads activities other than the input")
    structure = _plasticity(circuit)
    if isinstance(structure, str):
        reasons.append(structure)
    return "; ".join(reasons) if reasons else structure


def _plasticity(circuit: Circuit) -> dict[str, Any] | str:
    bindings = list(getattr(circuit, "rule_bindings", list)())
    populations = {p.name: p for p in circuit.populations()}
    inputs = [p for p in populations.values() if p.role == "input"]
    if len(inputs) != 1:
        return "compiled learning runs take one input population"
    neurons = [b for b in bindings if b.rule.kind == "neuron"]
    synaptic = [b for b in bindings if b.rule.kind == "synaptic"]
    if not synaptic:
        return "a phased compiled run needs at least one synaptic rule"
    hosted: dict[str, Any] = {}
    for b in neurons:
        rule = b.rule
        if rule.summed or rule.synaptic or rule.totals or rule.states:
            return f"neuron rule {rule.name!r} reads more than its population's activities and parameters"
        if b.pre != b.post or populations[b.pre].role != "neurons" or set(b.activities.values()) != {b.pre}:
            return f"neuron rule {rule.name!r} must read the activities of the population that holds {b.state!r}"
        if rule.target in hosted or rule.target in {"v", "theta", "bias", "count", "drive", "x"}:
            return f"neuron rule {rule.name!r}: its array name {rule.target!r} clashes with another variable"
        before = probe(circuit, b.state, circuit.state[b.state], False)
        after = probe(circuit, b.state, np.random.default_rng(3).uniform(0.5, 1.5, np.shape(circuit.state[b.state])),
                      False)
        if any(not np.array_equal(before[0][key], after[0][key]) for key in before[0]) or any(
                not np.array_equal(before[1][key], after[1][key]) for key in before[1]):
            return f"its weights or thresholds change with the neuron-rule array {b.state!r}"
        hosted[rule.target] = b
    for b in synaptic:
        for name in b.rule.states:
            value = b.states.get(name)
            owner = hosted.get(name)
            if owner is None or value != owner.state or owner.post != b.post or owner.phase >= b.phase:
                return (f"rule {b.rule.name!r} reads the state {name!r} = {value!r}, which is not a neuron-rule array "
                        f"of its post population updated in an earlier phase")
    derived = _derived(circuit, synaptic, inputs[0])
    if isinstance(derived, str):
        return derived
    segment = _Segment(circuit, synaptic, derived, inputs[0])
    if derived is not None:
        reader = next(b for b in synaptic if derived[0] in b.activities.values())
        key = (reader.pre, reader.post)
        shape = np.shape(circuit.state[reader.state])
        for value in np.random.default_rng(5).uniform(0.5, 1.5, (2, *shape)):
            weight = probe(circuit, reader.state, value, False)[0][key]
            matrix = np.swapaxes(value, -1, -2) if reader.transposed else value
            if not np.allclose(weight, matrix @ derived[1], atol=1e-10):
                return (f"its input weights {key[0]} -> {key[1]} are not {reader.state!r} times the map of its "
                        f"derived activity {derived[0]!r}")
    structure = multi_structure(cast(Circuit, segment), segment.rule_bindings(), hosted=set(hosted))
    if isinstance(structure, str):
        return structure
    return {"neurons": neurons, "synaptic": synaptic, "derived": derived, "hosted": hosted, "segment": segment}


def phased_support(circuit: Circuit) -> str | None:
    """None when :class:`PhasedCompiledLearning` realises ``circuit``'s learning run, else why not."""
    structure = phased_structure(circuit)
    return structure if isinstance(structure, str) else None


class _Segment:
    """``circuit`` as a compiled run sees it: the derived activity as its input population (the
    input weights are the plastic matrix), the synaptic bindings without gates or phases."""

    kind = "fixed-point"

    def __init__(self, circuit: Circuit, synaptic: list[Any], derived: tuple[str, np.ndarray] | None,
                 source: Population) -> None:
        self.real, self.name, self.state = circuit, circuit.name, circuit.state
        self.ensemble_size = circuit.ensemble_size
        self.derived, self.source = derived, source
        self._bindings = [dataclasses.replace(b, gate=None, phase=0, pre=derived[0] if derived is not None and
                                              b.pre == source.name else b.pre) for b in synaptic]

    @property
    def steps(self) -> int:
        return self.real.steps

    @steps.setter
    def steps(self, value: int) -> None:
        self.real.steps = value

    def rule_bindings(self) -> list[Any]:
        return self._bindings

    def populations(self) -> list[Population]:
        if self.derived is None:
            return self.real.populations()
        size = self.derived[1].shape[-2]
        return [Population(self.derived[0], size, role="input") if p.role == "input" else p
                for p in self.real.populations()]

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        weights = dict(self.real.weights())
        if self.derived is not None:
            for b in self._bindings:
                if b.pre == self.derived[0]:
                    del weights[(self.source.name, b.post)]
                    state = np.asarray(self.state[b.state])
                    weights[(b.pre, b.post)] = np.swapaxes(state, -1, -2) if b.transposed else state
        return weights

    def thresholds(self) -> dict[str, np.ndarray]:
        return self.real.thresholds()

    def check_finite(self, step: int) -> None:
        self.real.check_finite(step)


class PhasedCompiledLearning(MultiCompiledLearning):
    """One learning run of a circuit with neuron rules, gates, a derived input or declared
    steps as Brian2 objects (see the module docstring). :meth:`run` returns the checkpoints of
    every plastic array (synaptic and neuron rules) and of the samplewise steps' arrays."""

    def __init__(self, substrate: Any, circuit: Circuit, n_presentations: int, checkpoint_every: int,
                 target: str) -> None:
        from .compiled_structure import check_learning_run

        check_learning_run(circuit, n_presentations, checkpoint_every)
        structure = phased_structure(circuit)
        assert not isinstance(structure, str)
        self.phased, self.real = structure, circuit
        super().__init__(substrate, cast(Circuit, structure["segment"]), n_presentations, checkpoint_every, target)
        scale = substrate.rate_unit * substrate.presentation
        gate = f"int(t > {0.5 * substrate.presentation!r} * second)"
        self.neuron_forms = {}
        for b in structure["neurons"]:
            offset = float(self.populations[b.pre].offset)
            names = {name: f"(count / {scale!r} - {offset!r})" for name in b.activities}
            self.neuron_forms[b.state] = b.rule.brian2(names, gate=gate)

    def _check_run(self, circuit: Any, n_presentations: int, checkpoint_every: int) -> None:
        pass  # the circuit itself was checked (phased_structure); the segment is its view

    def _structure(self, circuit: Any) -> dict[str, Any] | str:
        return multi_structure(circuit, self.bindings, hosted=set(self.phased["hosted"]))

    def key(self) -> str:
        extra = [(b.state, b.pre, b.phase, self.neuron_forms[b.state].statement, sorted(b.parameters))
                 for b in self.phased["neurons"]]
        text = repr((super().key(), type(self.real).__name__, extra, self.phased["derived"] is not None, "phased-1"))
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    # ------------------------------------------------------------------ network
    def _group_lines(self, population: str) -> list[str]:
        lines = []
        for b in self.phased["neurons"]:
            if b.pre == population:
                lines += [self.neuron_forms[b.state].model, *[f"{name} : 1 (shared)" for name in b.parameters]]
        return lines

    def _extra_objects(self, b2: Any, groups: dict[str, Any], period: Any) -> dict[str, Any]:
        """The neuron rules at the boundary (after the summed variables, before the synaptic rules,
        in phase order) and a checkpoint monitor of each of their arrays."""
        extra: dict[str, Any] = {}
        for index, b in enumerate(self.phased["neurons"]):
            group = groups[b.pre]
            extra[f"rule_{b.state}"] = group.run_regularly(
                self.neuron_forms[b.state].statement, dt=period, when="start", order=-1.9 + 0.01 * b.phase,
                name=f"compiled_neuron_rule_{index}")
            extra[f"monitor_{b.state}"] = b2.StateMonitor(group, b.rule.target, record=True,
                                                          dt=self.checkpoint_every * period, when="start", order=-0.7,
                                                          name=f"compiled_neuron_checkpoints_{index}")
        return extra

    # ------------------------------------------------------------------ values
    def arrays(self, batch: Batch) -> dict[str, np.ndarray]:
        derived = self.phased["derived"]
        inputs = batch if derived is None else Batch(np.matmul(batch.inputs, np.swapaxes(derived[1], -1, -2)))
        values = super().arrays(inputs)
        for b in self.phased["neurons"]:
            values[f"neuron_{b.state}"] = np.asarray(self.real.state[b.state], dtype=float).reshape(-1)
            for name, v in b.parameters.items():
                values[f"parameter_{b.state}_{name}"] = np.asarray(float(v))
        return values

    def _run_args(self, objects: dict[str, Any], values: dict[str, np.ndarray]) -> dict[Any, Any]:
        args = super()._run_args(objects, values)
        for b in self.phased["neurons"]:
            group = objects["named"][f"compiled_{safe_name(b.pre)}"]
            args[getattr(group, b.rule.target)] = values[f"neuron_{b.state}"]
            for name in b.parameters:
                args[getattr(group, name)] = values[f"parameter_{b.state}_{name}"]
        return args

    def _outputs(self, objects: dict[str, Any]) -> dict[str, tuple[Any, int]]:
        out = super()._outputs(objects)
        for b in self.phased["neurons"]:
            group = objects["groups"][b.pre]
            out[f"{b.state}:matrix"] = (group.variables[b.rule.target], 0)
            monitor = objects["extra"][f"monitor_{b.state}"]
            out[f"{b.state}:checkpoints"] = (monitor.variables[b.rule.target], len(monitor.record))
        return out

    def _assemble(self, arrays: dict[str, np.ndarray]) -> Any:
        read = super()._assemble(arrays)
        self._neuron_read = {b.state: (arrays[f"{b.state}:matrix"].copy(), arrays[f"{b.state}:checkpoints"].copy())
                             for b in self.phased["neurons"]}
        return read

    # ------------------------------------------------------------------ running
    def _gates(self) -> dict[str, np.ndarray]:
        quantities = self.real.rule_states()  # type: ignore[attr-defined]
        return {b.state: np.asarray(quantities[b.gate], dtype=float) for b in self.real.rule_bindings()  # type: ignore[attr-defined]
                if b.gate is not None}

    def run(self, batch: Batch) -> dict[str, Any]:
        from ...errors import DivergenceError

        steps = _steps(self.real)
        waiting = samples_until_idle(self.real.state, steps)
        if waiting != 0:
            raise ValueError(f"{self.real.name}: its state steps are not idle yet ({waiting} more samples); run "
                             "those on the chunked path first (SpikingSubstrate.learning_run does)")
        closed = [state for state, gate in self._gates().items() if not np.all(gate == 1.0)]
        if closed:
            raise ValueError(f"{self.real.name}: the gates of {closed} are not open for every member; a compiled "
                             "run takes a stretch where they are")
        samplewise = [s for _bound, stepped in phases([], steps) for s in stepped if s.samplewise]
        result = super().run(batch)
        checkpoints = dict(result["checkpoints"])
        count = len(result["checkpoint_steps"])
        for b in self.phased["neurons"]:
            final, history = self._neuron_read[b.state]
            shape = np.shape(self.real.state[b.state])
            self.real.state[b.state] = final.reshape(shape)
            history = history.reshape(-1, *shape)[:count]
            if len(history) < count:  # the run's end (a partial last interval): the final array
                history = np.concatenate([history, final.reshape(1, *shape)])
            checkpoints[b.state] = history
            for step, value in zip(result["checkpoint_steps"], checkpoints[b.state]):
                if not np.all(np.isfinite(value)):
                    raise DivergenceError(b.state, int(step), "not finite at a checkpoint")
        if samplewise:
            stepped: dict[str, list[np.ndarray]] = {s.state: [self.real.state[s.state].copy()] for s in samplewise}
            for first in range(0, batch.size, self.checkpoint_every):
                chunk = batch[first: first + self.checkpoint_every]
                activities = self._activities(chunk)
                for s in samplewise:
                    apply_step(self.real.state, s, activities)
                for s in samplewise:
                    stepped[s.state].append(self.real.state[s.state].copy())
            for state, values in stepped.items():
                checkpoints[state] = np.stack(values)[:count]
        closed = [state for state, gate in self._gates().items() if not np.all(gate == 1.0)]
        if closed:
            raise ValueError(f"{self.real.name}: the gates of {closed} closed during the compiled run; gates must "
                             "be monotone switches for a compiled run")
        return {**result, "checkpoints": checkpoints}

    def _activities(self, chunk: Batch) -> Mapping[str, np.ndarray]:
        simulated = {p.name: np.zeros((self.ensemble, chunk.size, p.size)) for p in self.simulated}
        return self.real.rule_activities({**simulated, self.phased["segment"].source.name: chunk.inputs},  # type: ignore[attr-defined]
                                         chunk)
