"""Whole learning runs in generated code for a plastic matrix modulated by plastic gains
(issue 17): multi-timescale whitening (Duong, Simoncelli, Chklovskii & Lipshutz, NeurIPS 2023),
fast interneuron gains g and slow synapses W in one ``run()``.

:class:`GainedCompiledLearning` realises a circuit with one synaptic rule on a matrix M between
two simulated populations P → Q and one neuron rule on an array g of Q, with:

* M on the ``Synapses`` P → Q: ``v_post += c_f · M`` (``on_pre``) and the feedback
  ``v_pre += c_b · M · g_post`` (``on_post``), the weight that is *bilinear* in M and g
  (``−W diag(g)``); g a variable of Q's group;
* the synaptic rule's Brian2 form reading g as ``g_post`` as it stood before the update, then
  the neuron rule's (one phase: no rule reads another's new value);
* a neuron rule's state that the circuit derives from M, when it is the per-neuron squared
  synaptic norm ``Σ_pre M²`` (multi-timescale whitening's gain target ``‖w_j‖²``), a summed
  variable of M computed before the rules; a constant state, a per-neuron value;
* a declared step on M that rescales each postsynaptic neuron's synapses to unit norm
  (``unit-norm-columns`` of the stored W) as a summed ``Σ_pre M²`` after the rules and a
  division on the synapses, gated as the rules are;
* the biases of the offset code, ``θ y0 − Σ w y0_pre``, summed variables of M (and g) after
  the rules and the step.

Each of these is read off the circuit's own ``weights()``, ``thresholds()``, ``rule_states()``
and steps by probing (:func:`gained_structure`), so nothing here restates the circuit's
equations; what has another form is refused with the reason, before anything is built.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, cast

import numpy as np

from ...circuits.base import Circuit
from ...core import Batch
from .compiled import CompiledLearning, learning_network
from .network import safe_name

__all__ = ["GainedCompiledLearning", "gained_structure", "needs_gained"]

#: Names of a compiled group's variables a hosted array may not take.
_TAKEN = {"v", "theta", "bias", "count", "drive", "x", "saturated", "sqnorm", "colnorm", "lastspike",
          "not_refractory"}


def needs_gained(circuit: Circuit) -> bool:
    """Whether ``circuit`` has the shape :class:`GainedCompiledLearning` takes: one neuron
    rule and one synaptic rule of one phase, the synaptic one reading the neuron rule's array."""
    bindings = list(getattr(circuit, "rule_bindings", list)())
    if sorted(b.rule.kind for b in bindings) != ["neuron", "synaptic"]:
        return False
    neuron = next(b for b in bindings if b.rule.kind == "neuron")
    synaptic = next(b for b in bindings if b.rule.kind == "synaptic")
    return neuron.phase == synaptic.phase and neuron.state in set(synaptic.states.values())


def _probe(circuit: Circuit, values: dict[str, np.ndarray]) -> tuple[dict[Any, np.ndarray], dict[str, np.ndarray],
                                                                       dict[str, np.ndarray]]:
    """The circuit's weights, thresholds and rule states with ``values`` in its state arrays."""
    originals = {key: circuit.state[key] for key in values}
    try:
        circuit.state.update(values)
        return ({k: np.array(w, dtype=float) for k, w in circuit.weights().items()},
                {k: np.array(t, dtype=float) for k, t in circuit.thresholds().items()},
                {k: np.array(s, dtype=float) for k, s in cast(Any, circuit).rule_states().items()})
    finally:
        circuit.state.update(originals)


def gained_structure(circuit: Circuit) -> dict[str, Any] | str:
    """What :class:`GainedCompiledLearning` needs of ``circuit``, or why it cannot run it.

    Returns ``synaptic``/``neuron`` (the bindings), ``P``/``Q`` (population names), ``forward``
    c_f (K, n_Q, n_P) with weight(P → Q) = c_f ⊙ M, ``backward`` c_b (K, n_Q, n_P) with
    weight(Q → P) = (c_b ⊙ M ⊙ g_post)ᵀ, ``inputs`` (fixed input weights per population),
    ``theta`` (fixed thresholds per population), ``constants``/``derived`` (the neuron rule's
    states: a value per neuron, or ``"squared-norm"``) and ``normalise`` (the step on M, or None)."""
    bindings = list(getattr(circuit, "rule_bindings", list)())
    kinds = sorted(b.rule.kind for b in bindings)
    if kinds != ["neuron", "synaptic"]:
        return "a gain-modulated compiled run takes one neuron rule and one synaptic rule"
    neuron = next(b for b in bindings if b.rule.kind == "neuron")
    synaptic = next(b for b in bindings if b.rule.kind == "synaptic")
    for b in bindings:
        if b.gate is not None or b.trace is not None or b.batch_sum or b.recruit is not None:
            return f"the binding of {b.state!r} is gated, traced, batch-summed or recruiting"
    if neuron.phase != synaptic.phase:
        return "its two rules are updated in different phases"
    populations = {p.name: p for p in circuit.populations()}
    inputs = [p for p in populations.values() if p.role == "input"]
    if len(inputs) != 1 or any(p.role not in ("neurons", "input") for p in populations.values()):
        return "compiled learning runs take one input population and simulated populations only (no readouts)"
    if any(p.ceiling is not None for p in populations.values() if p.role == "neurons"):
        return "box-constrained (refractory) populations are not in gain-modulated compiled runs"
    q, p = synaptic.post, synaptic.pre
    simulated = {name for name, pop in populations.items() if pop.role == "neurons"}
    if simulated != {p, q} or p == q:
        return "the plastic matrix must join the two simulated populations"
    if neuron.pre != q or neuron.post != q or set(neuron.activities.values()) != {q}:
        return f"the neuron rule must hold and read an array of {q!r}, the plastic matrix's post population"
    if set(synaptic.activities.values()) - {p, q}:
        return f"the rule of {synaptic.state!r} reads activities of other populations"
    for name, pop in synaptic.activities.items():
        for side in ("_pre", "_post"):
            if synaptic.rule._uses(name + side) and pop != (p if side == "_pre" else q):
                return f"rule {synaptic.rule.name!r} reads {name}{side} but {name!r} is the activity of {pop!r}"
    if synaptic.rule.summed or synaptic.rule.synaptic or synaptic.rule.totals:
        return f"rule {synaptic.rule.name!r} needs summed variables, totals or other matrices"
    if neuron.rule.summed or neuron.rule.synaptic or neuron.rule.totals:
        return f"rule {neuron.rule.name!r} needs summed variables, totals or other matrices"
    if neuron.rule.target in _TAKEN:
        return f"the neuron rule's array name {neuron.rule.target!r} clashes with a variable of the group"
    for name in synaptic.rule.states:
        if synaptic.states.get(name) != neuron.state:
            return f"rule {synaptic.rule.name!r} reads the state {name!r}, which is not the gains {neuron.state!r}"
        if synaptic.rule._uses(name + "_pre") or not synaptic.rule._uses(name + "_post"):
            return f"rule {synaptic.rule.name!r} reads {name!r} other than as its post population's array"
    stored = np.asarray(circuit.state[synaptic.state], dtype=float)
    shape = np.swapaxes(stored, -1, -2).shape if synaptic.transposed else stored.shape  # (K, n_Q, n_P)
    gains_shape = np.shape(circuit.state[neuron.state])
    rng = np.random.default_rng(2024)
    ms = [rng.uniform(0.5, 1.5, shape) for _ in range(2)]
    gs = [rng.uniform(0.5, 1.5, gains_shape) for _ in range(2)]

    def values(m: np.ndarray, g: np.ndarray) -> dict[str, np.ndarray]:
        return {synaptic.state: np.swapaxes(m, -1, -2).copy() if synaptic.transposed else m, neuron.state: g}

    probes = [_probe(circuit, values(m, g)) for m, g in zip(ms, gs)]
    zero_m = _probe(circuit, values(np.zeros(shape), gs[0]))
    zero_g = _probe(circuit, values(ms[0], np.zeros(gains_shape)))
    (w1, t1, s1), (w2, t2, s2) = probes
    source = inputs[0].name
    result: dict[str, Any] = {"synaptic": synaptic, "neuron": neuron, "P": p, "Q": q, "inputs": {}, "theta": {},
                              "constants": {}, "derived": {}, "normalise": None}
    for key in set(w1) | set(zero_m[0]):
        if key[0] == source:
            if not all(np.array_equal(w[key], w1[key]) for w in (w2, zero_m[0], zero_g[0])):
                return "its input weights change with the plastic arrays"
            result["inputs"][key[1]] = w1[key]
        elif key not in {(p, q), (q, p)}:
            return f"its weights {key[0]} -> {key[1]} are not the plastic matrix (or its transpose)"
    forward = w1.get((p, q), np.zeros(shape)) / ms[0]
    if not (np.allclose(w2.get((p, q), 0.0), forward * ms[1], atol=1e-12)
            and np.allclose(zero_m[0].get((p, q), 0.0), 0.0) and np.allclose(zero_g[0].get((p, q), 0.0),
                                                                              forward * ms[0], atol=1e-12)):
        return f"its weights {p} -> {q} are not elementwise linear in the plastic matrix (and free of the gains)"

    def back(w: dict[Any, np.ndarray]) -> np.ndarray:
        return np.swapaxes(w.get((q, p), np.zeros(shape[:-2] + shape[-2:][::-1])), -1, -2)

    backward = back(w1) / (ms[0] * gs[0][..., :, None])
    if not (np.allclose(back(w2), backward * ms[1] * gs[1][..., :, None], atol=1e-12)
            and np.allclose(back(zero_m[0]), 0.0) and np.allclose(back(zero_g[0]), 0.0)):
        return f"its weights {q} -> {p} are not the plastic matrix times the gains (elementwise)"
    for name in (p, q):
        if not all(np.array_equal(t[name], t1[name]) for t in (t2, zero_m[1], zero_g[1])):
            return f"the thresholds of {name!r} change with the plastic arrays"
        result["theta"][name] = t1[name]
    for name in neuron.rule.states:
        value = neuron.states.get(name)
        if not isinstance(value, str):
            if value is None:
                return f"rule {neuron.rule.name!r} reads the state {name!r}, which its binding does not give"
            result["constants"][name] = np.broadcast_to(np.asarray(value, dtype=float), gains_shape).copy()
            continue
        if not all(np.allclose(s[value], np.sum(m ** 2, axis=-1), atol=1e-12) for s, m in ((s1, ms[0]), (s2, ms[1]))):
            return (f"rule {neuron.rule.name!r} reads the state {name!r} = {value!r}, which is not the squared "
                    f"synaptic norm of {synaptic.state!r} (the one derived state realised here)")
        result["derived"][name] = "squared-norm"
    steps = list(getattr(circuit, "state_steps", list)())
    for step in steps:
        test = ms[0] * rng.uniform(0.2, 3.0, shape[:-1])[..., None]
        expected = test / np.sqrt(np.sum(test ** 2, axis=-1, keepdims=True))
        stored_test = np.swapaxes(test, -1, -2) if synaptic.transposed else test
        if step.state != synaptic.state or step.reads or step.activities or step.phase != synaptic.phase or \
                step.active is not None or result["normalise"] is not None:
            return (f"its state step {step.name!r} has no form in generated code (one unit-norm step on the "
                    f"plastic matrix is realised)")
        got = np.asarray(step.function(stored_test.copy()), dtype=float)
        got = np.swapaxes(got, -1, -2) if synaptic.transposed else got
        if not np.allclose(got, expected, atol=1e-12):
            return (f"its state step {step.name!r} is not a rescaling of each neuron's synapses to unit norm "
                    "(the one step realised here)")
        result["normalise"] = step.name
    result["forward"], result["backward"] = forward, backward
    return result


class GainedCompiledLearning(CompiledLearning):
    """One learning run of a gain-modulated plastic matrix as Brian2 objects (module docstring);
    :meth:`run` returns ``checkpoints`` as a dict per plastic state (the matrix and the gains)."""

    def __init__(self, substrate: Any, circuit: Circuit, n_presentations: int, checkpoint_every: int,
                 target: str) -> None:
        from .compiled_structure import check_learning_run

        check_learning_run(circuit, n_presentations, checkpoint_every)
        structure = gained_structure(circuit)
        assert not isinstance(structure, str)
        self.substrate, self.circuit, self.target, self.structure = substrate, circuit, target, structure
        self.n_presentations, self.checkpoint_every = int(n_presentations), int(checkpoint_every)
        self.binding, self.gain = structure["synaptic"], structure["neuron"]
        self.populations = {p.name: p for p in circuit.populations()}
        self.simulated = [p for p in circuit.populations() if p.role == "neurons"]
        self.pre, self.post = self.populations[structure["P"]], self.populations[structure["Q"]]
        self.input = next(p for p in circuit.populations() if p.role == "input")
        self.ensemble = circuit.ensemble_size
        self.rows = 1 << int(self.n_presentations).bit_length()
        scale = substrate.rate_unit * substrate.presentation
        self.gate = f"int(t > {0.5 * substrate.presentation!r} * second)"

        def decoded(population: str) -> str:
            return f"(count{{side}} / {scale!r} - {float(self.populations[population].offset)!r})"

        names = {name: decoded(pop) for name, pop in self.binding.activities.items()}
        names.update({name: f"{self.gain.rule.target}{{side}}" for name in self.binding.rule.states})
        self.form = self.binding.rule.brian2(names, gate=self.gate)
        gain_names = {name: decoded(pop) for name, pop in self.gain.activities.items()}
        gain_names.update({name: "sqnorm" for name in structure["derived"]})
        gain_names.update({name: f"constant_{name}" for name in structure["constants"]})
        # the group's own names for the neuron rule's parameters (the synapses may share them)
        gain_names.update({name: f"gain_{name}" for name in self.gain.parameters})
        self.gain_form = self.gain.rule.brian2(gain_names, gate=self.gate)

    # ------------------------------------------------------------------ key and values
    def key(self) -> str:
        import brian2

        s, st = self.substrate, self.structure
        text = json.dumps({
            "target": self.target, "circuit": type(self.circuit).__name__, "K": self.ensemble,
            "populations": [(p.name, p.role, p.size, float(p.offset)) for p in self.circuit.populations()],
            "forms": [self.form.model, self.form.statement, self.gain_form.model, self.gain_form.statement],
            "parameters": [sorted(self.binding.parameters), sorted(self.gain.parameters)],
            "constants": sorted(st["constants"]), "derived": sorted(st["derived"]), "normalise": st["normalise"],
            "inputs": sorted(st["inputs"]), "P": self.n_presentations, "every": self.checkpoint_every,
            "dt": s.dt, "T": s.presentation, "r0": s.rate_unit, "brian2": brian2.__version__, "version": "gained-1",
            "compiler": list(brian2.prefs.codegen.cpp.extra_compile_args_gcc),
        }, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def arrays(self, batch: Batch) -> dict[str, np.ndarray]:
        values = self._inputs(batch)
        values["matrix"] = self._matrix().reshape(-1)
        values["gains"] = np.asarray(self.circuit.state[self.gain.state], dtype=float).reshape(-1)
        for prefix, binding in (("parameter", self.binding), ("gain_parameter", self.gain)):
            for name, v in binding.parameters.items():
                values[f"{prefix}_{name}"] = np.asarray(float(v))
        for name, value in self.structure["constants"].items():
            values[f"constant_{name}"] = value.reshape(-1)
        return values

    def _indices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(member, post, pre) of every plastic synapse, in creation order."""
        return cast(tuple[np.ndarray, np.ndarray, np.ndarray], tuple(a.ravel() for a in np.meshgrid(
            np.arange(self.ensemble), np.arange(self.post.size), np.arange(self.pre.size), indexing="ij")))

    # ------------------------------------------------------------------ network
    def build(self, b2: Any) -> dict[str, Any]:
        s, count, st = self.substrate, self.n_presentations, self.structure
        period, step = s.presentation * b2.second, s.dt * b2.second
        stimulus, inputs = self._input_group(b2, order=-0.3)
        groups, dithers, drives = self._groups(b2, inputs, {self.post.name: [
            self.gain_form.model, "sqnorm : 1", "colnorm : 1", *[f"constant_{c} : 1" for c in st["constants"]],
            *[f"gain_{c} : 1 (shared)" for c in self.gain.parameters]]})
        target, gain = self.binding.rule.target, self.gain.rule.target
        lines = [self.form.model, *[f"{name} : 1 (shared)" for name in self.binding.parameters],
                 "c_f : 1 (constant)", "c_b : 1 (constant)", "c_bias_q : 1 (constant)", "c_const_q : 1 (constant)",
                 "c_bias_p : 1 (constant)", "c_const_p : 1 (constant)",
                 f"bias_post = c_bias_q * {target} + c_const_q : 1 (summed)",
                 f"bias_pre = c_bias_p * {target} * {gain}_post + c_const_p : 1 (summed)"]
        if st["derived"]:
            lines.append(f"sqnorm_post = {target}**2 : 1 (summed)")
        if st["normalise"]:
            lines.append(f"colnorm_post = {target}**2 : 1 (summed)")
        plastic = b2.Synapses(groups[self.pre.name], groups[self.post.name], "\n".join(lines),
                              on_pre=f"v_post += c_f * {target}", on_post=f"v_pre += c_b * {target} * {gain}_post",
                              dt=step, name="compiled_plastic")
        member, post, pre = self._indices()
        plastic.connect(i=member * self.pre.size + pre, j=member * self.post.size + post)
        # at each boundary: the derived norms (old M), the synaptic rule (old g), the neuron rule,
        # the step's norms and the step, checkpoints, the biases, the input, the reset, the drive
        plastic.run_regularly(self.form.statement, dt=period, when="start", order=-1.2, name="compiled_rule")
        groups[self.post.name].run_regularly(self.gain_form.statement, dt=period, when="start", order=-1.1,
                                             name="compiled_gain_rule")
        if st["normalise"]:
            plastic.run_regularly(f"{target} = {target} / ({self.gate} * sqrt(colnorm_post) + (1 - {self.gate}))",
                                  dt=period, when="start", order=-0.9, name="compiled_step")
        orders = {"sqnorm_post": -2.0, "colnorm_post": -1.0, "bias_post": -0.5, "bias_pre": -0.5}
        for variable, updater in plastic.summed_updaters.items():
            updater.when, updater.order = "start", orders[variable]
            updater._clock = inputs.clock  # recompute only at presentation boundaries
        for d in drives:
            for updater in d.summed_updaters.values():
                updater.when, updater.order = "start", 5
                updater._clock = inputs.clock
        monitors = {
            self.binding.state: b2.StateMonitor(plastic, target, record=True, dt=self.checkpoint_every * period,
                                                when="start", order=-0.7, name="compiled_checkpoints"),
            self.gain.state: b2.StateMonitor(groups[self.post.name], gain, record=True,
                                             dt=self.checkpoint_every * period, when="start", order=-0.7,
                                             name="compiled_gain_checkpoints")}
        network = learning_network(b2, inputs, *groups.values(), *drives, plastic, *monitors.values(),
                                   name="compiled_network")
        return {"network": network, "stimulus": stimulus, "dithers": dithers, "plastic": plastic, "groups": groups,
                "monitors": monitors, "duration": count * period + step,
                "named": {o.name: o for o in (*groups.values(), *drives, plastic)}}

    def _coefficients(self) -> list[tuple[str, str, np.ndarray]]:
        """Every value the structure gives the network (object, variable, values), per run."""
        st = self.structure
        out = self._drive_values()
        out += [(f"compiled_{safe_name(p.name)}", "theta", st["theta"][p.name].reshape(-1)) for p in self.simulated]
        member, post, pre = self._indices()
        y_p, y_q = float(self.pre.offset), float(self.post.offset)
        c_f, c_b = st["forward"][member, post, pre], st["backward"][member, post, pre]
        # bias = θ y0 − Σ w y0_pre (offset code); each θ term sits on one synapse of its neuron
        theta_p, theta_q = st["theta"][self.pre.name], st["theta"][self.post.name]
        values = {"c_f": c_f, "c_b": c_b, "c_bias_q": -c_f * y_p,
                  "c_const_q": np.where(pre == 0, theta_q[member, post] * y_q, 0.0),
                  "c_bias_p": -c_b * y_q, "c_const_p": np.where(post == 0, theta_p[member, pre] * y_p, 0.0)}
        return out + [("compiled_plastic", name, value) for name, value in values.items()]

    def _run_args(self, objects: dict[str, Any], values: dict[str, np.ndarray]) -> dict[Any, Any]:
        plastic, group = objects["plastic"], objects["named"][f"compiled_{safe_name(self.post.name)}"]
        args: dict[Any, Any] = {objects["stimulus"]: values["stimulus"],
                                getattr(plastic, self.binding.rule.target): values["matrix"],
                                getattr(group, self.gain.rule.target): values["gains"]}
        for name, dither in objects["dithers"].items():
            args[dither] = values[f"dither_{safe_name(name)}"]
        for name in self.binding.parameters:
            args[getattr(plastic, name)] = values[f"parameter_{name}"]
        for name in self.gain.parameters:
            args[getattr(group, f"gain_{name}")] = values[f"gain_parameter_{name}"]
        for name in self.structure["constants"]:
            args[getattr(group, f"constant_{name}")] = values[f"constant_{name}"]
        for owner, name, value in self._coefficients():
            args[getattr(objects["named"][owner], name)] = value
        return args

    def _outputs(self, objects: dict[str, Any]) -> dict[str, tuple[Any, int]]:
        group, out = objects["groups"][self.post.name], {}
        sources = {self.binding.state: (objects["plastic"], self.binding.rule.target),
                   self.gain.state: (group, self.gain.rule.target)}
        for state, (owner, variable) in sources.items():
            monitor = objects["monitors"][state]
            out[f"{state}:matrix"] = (owner.variables[variable], 0)
            out[f"{state}:checkpoints"] = (monitor.variables[variable], len(monitor.record))
        return out

    def _assemble(self, arrays: dict[str, np.ndarray]) -> Any:
        return {state: (arrays[f"{state}:matrix"].copy(), arrays[f"{state}:checkpoints"].copy())
                for state in (self.binding.state, self.gain.state)}

    def _labels(self) -> dict[str, Any]:
        from .standalone import AnyNamed, Named

        return {"stimulus": "stimulus.values", "named": AnyNamed(), "plastic": Named("compiled_plastic"),
                "dithers": {p.name: f"dither_{safe_name(p.name)}.values" for p in self.simulated}}

    # ------------------------------------------------------------------ running
    def run(self, batch: Batch) -> dict[str, Any]:
        from .network import check_thresholds

        check_thresholds(self.circuit.name, self.circuit.thresholds())
        values = self.arrays(batch)
        read = self._run_standalone(values) if self.target == "cpp_standalone" else self._run_runtime(values)
        shapes = {self.binding.state: self._matrix().shape,
                  self.gain.state: np.shape(self.circuit.state[self.gain.state])}
        checkpoints = {}
        for state, (final, history) in read.items():
            final, history = final.reshape(shapes[state]), history.reshape(-1, *shapes[state])
            if state == self.binding.state and self.binding.transposed:
                final, history = np.swapaxes(final, -1, -2).copy(), np.swapaxes(history, -1, -2).copy()
            self.circuit.state[state] = final
            checkpoints[state] = history
        return self._finish(checkpoints)
