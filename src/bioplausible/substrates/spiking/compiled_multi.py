"""Whole learning runs in generated code for circuits with several plastic matrices (issue 17).

:class:`MultiCompiledLearning` extends :class:`~.compiled.CompiledLearning` to circuits whose
plasticity is several declared synaptic rules of one phase (e.g. CorInfoMax: the feedforward
W and the lateral B_y), each on its own ``Synapses`` object holding the rule's target, with:

* the rule's summed variables (``z = B y``) and the circuit's readouts (the dendritic
  prediction ``ŷ = W x``) as summed variables on the rule's synapses, recomputed at every
  presentation boundary before the rules, from the counts and the input of the presentation
  that just ended;
* every rule's Brian2 form (:meth:`~bioplausible.rules.declaration.Rule.brian2`) at the
  boundary, all reading the quantities above (one phase: no rule reads another's new value);
* the circuit's weights, thresholds and biases *affine* in the plastic matrices, each
  depending on one matrix at most, read off by probing (:func:`~.compiled_structure.multi_structure` checks):
  a weight ``w0 + c ⊙ M`` on M's synapses (``on_pre`` between simulated populations, a
  summed drive ``(w0 + c ⊙ M) x`` from the input), a threshold ``θ0 + c ⊙ diag M`` and a bias
  (offset code) as summed variables recomputed after the rules;
* rate caps (populations with a ``ceiling``) as refractory periods, reset at each boundary.

The input is sampled after the rules (they read the presentation that ended), the drive
after the input. Coefficients, initial matrices and parameters are per-run values
(``run_args`` in standalone), so one binary serves every setting of one architecture.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from ...circuits.base import Circuit
from ...core import Batch
from .compiled import CompiledLearning, learning_network
from .compiled_structure import check_learning_run, multi_structure
from .network import refractory_period, safe_name

__all__ = ["MultiCompiledLearning", "multi_structure"]


class MultiCompiledLearning(CompiledLearning):
    """One learning run of a circuit with several plastic matrices as Brian2 objects (see the
    module docstring); :meth:`run` returns ``checkpoints`` as a dict per plastic state."""

    def __init__(self, substrate: Any, circuit: Circuit, n_presentations: int, checkpoint_every: int,
                 target: str) -> None:
        self._check_run(circuit, n_presentations, checkpoint_every)
        self.substrate, self.circuit, self.target = substrate, circuit, target
        self.n_presentations, self.checkpoint_every = int(n_presentations), int(checkpoint_every)
        self.bindings = list(circuit.rule_bindings())  # type: ignore[attr-defined]
        self.binding = self.bindings[0]
        self.populations = {p.name: p for p in circuit.populations()}
        self.simulated = [p for p in circuit.populations() if p.role == "neurons"]
        self.input = next(p for p in circuit.populations() if p.role == "input")
        self.ensemble = circuit.ensemble_size
        self.rows = 1 << int(self.n_presentations).bit_length()
        self.neuron = False
        for p in self.simulated:  # a rate cap dt cannot realise is refused before anything is built
            if p.ceiling is not None:
                refractory_period(substrate, circuit.name, p)
        structure = self._structure(circuit)
        assert not isinstance(structure, str)
        self.structure = structure
        scale = substrate.rate_unit * substrate.presentation
        gate = f"int(t > {0.5 * substrate.presentation!r} * second)"
        self.forms = {}
        for binding in self.bindings:
            names = {}
            for name, pop in binding.activities.items():
                role = self.populations[pop].role
                names[name] = ("x{side}" if role == "input" else f"readout_{safe_name(pop)}{{side}}"
                               if role == "readout" else
                               f"(count{{side}} / {scale!r} - {float(self.populations[pop].offset)!r})")
            self.forms[binding.state] = binding.rule.brian2(names, gate=gate)

    def _check_run(self, circuit: Circuit, n_presentations: int, checkpoint_every: int) -> None:
        check_learning_run(circuit, n_presentations, checkpoint_every)

    def _structure(self, circuit: Circuit) -> dict[str, Any] | str:
        return multi_structure(circuit, self.bindings)

    def _extra_objects(self, b2: Any, groups: dict[str, Any], period: Any) -> dict[str, Any]:
        """Further Brian2 objects of the network, by name (none here; a phased run adds its neuron rules')."""
        return {}

    # ------------------------------------------------------------------ key and inputs
    def key(self) -> str:
        import brian2

        s = self.substrate
        text = json.dumps({
            "target": self.target, "circuit": type(self.circuit).__name__, "K": self.ensemble,
            "populations": [(p.name, p.role, p.size, float(p.offset), p.ceiling) for p in self.circuit.populations()],
            "bindings": [(b.state, b.pre, b.post, self.forms[b.state].model, self.forms[b.state].statement,
                          sorted(b.parameters),
                          [e[:3] for e in self.structure["bindings"][b.state]["edges"]],
                          self.structure["bindings"][b.state]["theta"] is not None,
                          self.structure["bindings"][b.state]["bias"] is not None) for b in self.bindings],
            "fixed": sorted(map(list, self.structure["fixed"])), "inputs": sorted(self.structure["inputs"]),
            "P": self.n_presentations, "every": self.checkpoint_every, "dt": s.dt, "T": s.presentation,
            "r0": s.rate_unit, "brian2": brian2.__version__, "version": "multi-2",
            "compiler": list(brian2.prefs.codegen.cpp.extra_compile_args_gcc),
        }, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def _matrices(self) -> dict[str, np.ndarray]:
        out = {}
        for b in self.bindings:
            state = np.asarray(self.circuit.state[b.state], dtype=float)
            out[b.state] = np.swapaxes(state, -1, -2) if b.transposed else state
        return out

    def arrays(self, batch: Batch) -> dict[str, np.ndarray]:
        values = self._inputs(batch)
        for state, matrix in self._matrices().items():
            values[f"matrix_{state}"] = matrix.reshape(-1)
        for b in self.bindings:
            for name, v in b.parameters.items():
                values[f"parameter_{b.state}_{name}"] = np.asarray(float(v))
        return values

    # ------------------------------------------------------------------ network
    def build(self, b2: Any) -> dict[str, Any]:
        s, k, count = self.substrate, self.ensemble, self.n_presentations
        structure = self.structure
        period, step = s.presentation * b2.second, s.dt * b2.second
        # after the rules (order -1) and the derived thresholds (-0.5): the rules read the ended presentation
        stimulus, inputs = self._input_group(b2, order=-0.3)
        hosted: dict[str, list[str]] = {p.name: [] for p in self.simulated}
        for readout, state in structure["readouts"].items():
            hosted[self._binding(state).post].append(f"readout_{safe_name(readout)}")
        for b in self.bindings:
            hosted[b.post] += list(b.rule.summed)
        groups, dithers, drive_synapses = self._groups(b2, inputs, {
            p.name: [*[f"{v} : 1" for v in hosted[p.name]], *self._group_lines(p.name)] for p in self.simulated})
        synapses, early, late = list(drive_synapses), [], []
        drives = [u for d in drive_synapses for u in d.summed_updaters.values()]
        for source, target in sorted(structure["fixed"]):
            n_s, n_t = self.populations[source].size, self.populations[target].size
            member, post, pre = (a.ravel() for a in np.meshgrid(np.arange(k), np.arange(n_t), np.arange(n_s),
                                                                 indexing="ij"))
            fixed = b2.Synapses(groups[source], groups[target], "w : 1 (constant)", on_pre="v_post += w", dt=step,
                                name=f"compiled_fixed_{safe_name(source)}_{safe_name(target)}")
            fixed.connect(i=member * n_s + pre, j=member * n_t + post)
            synapses.append(fixed)
        plastic, monitors = {}, {}
        for index, b in enumerate(self.bindings):
            entry, form, target = structure["bindings"][b.state], self.forms[b.state], b.rule.target
            n_pre, n_post = self.populations[b.pre].size, self.populations[b.post].size
            member, post, pre = (a.ravel() for a in np.meshgrid(np.arange(k), np.arange(n_post), np.arange(n_pre),
                                                                 indexing="ij"))
            lines = [form.model, *[f"{name} : 1 (shared)" for name in b.parameters]]
            on_pre = []
            derived = []  # summed variables recomputed after the rules
            for e, (kind, _source, edge_target, _w0, _c) in enumerate(entry["edges"]):
                lines += [f"w0_{e} : 1 (constant)", f"c_{e} : 1 (constant)"]
                if kind == "lateral":
                    on_pre.append(f"v_post += w0_{e} + c_{e} * {target}")
                elif kind == "drive":
                    lines.append(f"drive_post = (w0_{e} + c_{e} * {target}) * x_pre : 1 (summed)")
                else:
                    lines.append(f"readout_{safe_name(edge_target)}_post = (w0_{e} + c_{e} * {target}) * x_pre : 1 "
                                 "(summed)")
            if entry["theta"] is not None:
                lines += ["theta0 : 1 (constant)", "c_theta : 1 (constant)",
                          f"theta_post = c_theta * {target} + theta0 : 1 (summed)"]
                derived.append("theta")
            if entry["bias"] is not None:
                lines += ["bias0 : 1 (constant)", "c_bias : 1 (constant)",
                          f"bias_post = c_bias * {target} + bias0 : 1 (summed)"]
                derived.append("bias")
            lateral = any(e[0] == "lateral" for e in entry["edges"])
            synapse = b2.Synapses(inputs if b.pre == self.input.name else groups[b.pre], groups[b.post],
                                  "\n".join(lines), on_pre="\n".join(on_pre) or None, dt=step if lateral else period,
                                  name=f"compiled_plastic_{index}")
            synapse.connect(i=member * n_pre + pre, j=member * n_post + post)
            synapse.run_regularly(form.statement, dt=period, when="start", order=-1, name=f"compiled_rule_{index}")
            for variable, updater in synapse.summed_updaters.items():
                updater.when = "start"
                updater._clock = inputs.clock  # recompute only at presentation boundaries
                base = variable[:-len("_post")] if variable.endswith("_post") else variable
                if base == "drive":
                    drives.append(updater)
                elif base in derived:
                    late.append(updater)
                else:
                    early.append(updater)
            monitors[b.state] = b2.StateMonitor(synapse, target, record=True, dt=self.checkpoint_every * period,
                                                when="start", order=-0.7, name=f"compiled_checkpoints_{index}")
            plastic[b.state] = synapse
            synapses.append(synapse)
        for updater in early:
            updater.order = -2  # the rules' summed variables and the readouts: before the rules
        for updater in late:
            updater.order = -0.5  # thresholds and biases: after the rules, before the reset
        for updater in drives:
            updater.order = 5  # after the input has been sampled
        extra = self._extra_objects(b2, groups, period)
        network = learning_network(b2, inputs, *groups.values(), *synapses, *monitors.values(), *extra.values(),
                                   name="compiled_network")
        return {"network": network, "stimulus": stimulus, "dithers": dithers, "plastic": plastic,
                "monitors": monitors, "groups": groups, "extra": extra,
                "named": {o.name: o for o in (*groups.values(), *synapses)},
                "duration": count * period + step}

    def _coefficients(self) -> list[tuple[str, str, np.ndarray]]:
        """The per-run values of the coefficients (Brian2 object name, variable, values) from
        this run's structure: fixed thresholds, biases and weights, and on each plastic
        synapse set the affine coefficients of the quantities derived from its matrix."""
        k, structure, sizes = self.ensemble, self.structure, {p.name: p.size for p in self.circuit.populations()}
        out: list[tuple[str, str, np.ndarray]] = []

        def indices(n_post: int, n_pre: int) -> tuple[np.ndarray, ...]:
            return tuple(a.ravel() for a in np.meshgrid(np.arange(k), np.arange(n_post), np.arange(n_pre),
                                                        indexing="ij"))

        for p in self.simulated:
            if p.name in structure["theta"]:
                out.append((f"compiled_{safe_name(p.name)}", "theta", structure["theta"][p.name].reshape(-1)))
            if p.name in structure["bias"]:
                out.append((f"compiled_{safe_name(p.name)}", "bias", np.asarray(structure["bias"][p.name]).reshape(-1)))
        out += self._drive_values()
        for (source, target), w in sorted(structure["fixed"].items()):
            member, post, pre = indices(sizes[target], sizes[source])
            # no self-synapse on a recurrent pathway, as the runtime network (block_indices)
            keep = (post != pre) if source == target else True
            out.append((f"compiled_fixed_{safe_name(source)}_{safe_name(target)}", "w",
                        np.where(keep, w[member, post, pre], 0.0)))
        for index, b in enumerate(self.bindings):
            entry, owner = structure["bindings"][b.state], f"compiled_plastic_{index}"
            member, post, pre = indices(sizes[b.post], sizes[b.pre])
            for e, (kind, source, target, w0, c) in enumerate(entry["edges"]):
                keep = (post != pre) if kind == "lateral" and source == target else True
                out += [(owner, f"w0_{e}", np.where(keep, w0[member, post, pre], 0.0)),
                        (owner, f"c_{e}", np.where(keep, c[member, post, pre], 0.0))]
            if entry["theta"] is not None:
                theta0, c_theta = entry["theta"]
                out += [(owner, "theta0", np.where(post == pre, theta0[member, post], 0.0)),
                        (owner, "c_theta", np.where(post == pre, c_theta[member, post], 0.0))]
            if entry["bias"] is not None:
                const, c_bias = entry["bias"]
                out += [(owner, "bias0", const[member, post, pre]), (owner, "c_bias", c_bias[member, post, pre])]
        return out

    def _group_lines(self, population: str) -> list[str]:
        """Further model lines of a population's group (a phased run's neuron-rule arrays)."""
        return []

    def _binding(self, state: str) -> Any:
        return next(b for b in self.bindings if b.state == state)

    def _run_args(self, objects: dict[str, Any], values: dict[str, np.ndarray]) -> dict[Any, Any]:
        args: dict[Any, Any] = {objects["stimulus"]: values["stimulus"]}
        for name, dither in objects["dithers"].items():
            args[dither] = values[f"dither_{safe_name(name)}"]
        for b in self.bindings:
            synapse = objects["plastic"][b.state]
            args[getattr(synapse, b.rule.target)] = values[f"matrix_{b.state}"]
            for name in b.parameters:
                args[getattr(synapse, name)] = values[f"parameter_{b.state}_{name}"]
        for owner, name, value in self._coefficients():
            args[getattr(objects["named"][owner], name)] = value
        return args

    def _outputs(self, objects: dict[str, Any]) -> dict[str, tuple[Any, int]]:
        out = {}
        for b in self.bindings:
            monitor, target = objects["monitors"][b.state], b.rule.target
            out[f"{b.state}:matrix"] = (objects["plastic"][b.state].variables[target], 0)
            out[f"{b.state}:checkpoints"] = (monitor.variables[target], len(monitor.record))
        return out

    def _assemble(self, arrays: dict[str, np.ndarray]) -> Any:
        return {b.state: (arrays[f"{b.state}:matrix"].copy(), arrays[f"{b.state}:checkpoints"].copy())
                for b in self.bindings}

    def _labels(self) -> dict[str, Any]:
        from .standalone import AnyNamed, Named

        return {"stimulus": "stimulus.values", "named": AnyNamed(),
                "plastic": {b.state: Named(f"compiled_plastic_{i}") for i, b in enumerate(self.bindings)},
                "dithers": {p.name: f"dither_{safe_name(p.name)}.values" for p in self.simulated}}

    # ------------------------------------------------------------------ running
    def run(self, batch: Batch) -> dict[str, Any]:
        from .network import check_thresholds

        check_thresholds(self.circuit.name, self.circuit.thresholds())
        values = self.arrays(batch)
        read = self._run_standalone(values) if self.target == "cpp_standalone" else self._run_runtime(values)
        shapes = {state: m.shape for state, m in self._matrices().items()}
        checkpoints = {}
        for b in self.bindings:
            matrix, history = read[b.state]
            matrix, history = matrix.reshape(shapes[b.state]), history.reshape(-1, *shapes[b.state])
            if b.transposed:
                matrix, history = np.swapaxes(matrix, -1, -2).copy(), np.swapaxes(history, -1, -2).copy()
            self.circuit.state[b.state] = matrix
            checkpoints[b.state] = history
        return self._finish(checkpoints)
