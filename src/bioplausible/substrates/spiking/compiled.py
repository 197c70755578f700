"""A whole spiking learning run inside Brian2's generated code (issue 17).

:class:`CompiledLearning` builds, for a fixed-point circuit whose plasticity is one declared
rule (a synaptic rule on a matrix, or a neuron rule on a per-neuron array such as the
interneuron gains of gain whitening), every part of a learning run as Brian2 objects, so that one
``run()`` covers all presentations, on the ``numpy``, ``cython`` and ``cpp_standalone``
targets alike:

* the stimulus stream and the dither values as two ``TimedArray``\\ s sampled once per
  presentation (the dither values are drawn from the substrate's generator in the order the
  runtime path draws them, so both paths see the same numbers);
* the rule's Brian2 form (:meth:`~bioplausible.rules.declaration.Rule.brian2`) as
  ``run_regularly`` code on the plastic synapses at every presentation boundary, reading the
  rates decoded from the spike counts of the presentation that just ended;
* the weights and thresholds the circuit derives from the plastic matrix, realised on the same
  synapses: each recurrent weight is ``c_w · M`` (``on_pre``), each threshold and bias a summed
  variable ``Σ_j c · M`` recomputed after the update (the coefficients are read off the
  circuit's own ``weights()``/``thresholds()`` by probing: they must be elementwise linear in
  the plastic matrix, which :func:`compiled_support` checks);
* for a neuron rule on the array g of a population P: g a variable of P's group updated by the
  rule's Brian2 form, the weights from P ``c ⊙ g`` (``v_post += c · g_pre``), the biases that
  depend on g summed variables, the other weights fixed (read off by probing, as above);
* the reset of every presentation (voltage to ``dither · θ``, counts to 0) as ``run_regularly``;
* checkpoints of the plastic matrix every ``checkpoint_every`` updates by a ``StateMonitor``,
  scored afterwards.

Circuits with several plastic matrices (CorInfoMax: W and B_y) run through
:class:`~.compiled_multi.MultiCompiledLearning` (:func:`compiled_learning` picks).

For ``cpp_standalone`` the binary is built once per architecture in a user cache directory
keyed by everything that changes the generated code (:meth:`CompiledLearning.key`) and re-run
with ``device.run(run_args=...)`` for new inputs, dither values, initial matrices, learning
rates and every value the circuit's structure gives the network (fixed weights such as a
random frame, thresholds, bias coefficients). The TimedArrays have a power-of-two number
of rows, since Brian2 writes their shape into the generated code (runs of similar length
share a cython module). Differences from the
runtime path: divergence is checked at the checkpoints only (the runtime path checks after
every update), and observers are not called.
"""

from __future__ import annotations

import gc
import hashlib
import json
from typing import Any, cast

import numpy as np

from ...circuits.base import Circuit
from ...core import Batch
from ...models.neurons import IntegrateAndFire
from .compiled_structure import (
    check_learning_run,
    compiled_support,
    interval_steps,
    matrix_structure,
    neuron_structure,
)
from .learning_network import SATURATED, available_targets, learning_network, reset_statement
from .network import check_thresholds, refractory_period, safe_name
from .standalone import STANDALONE, AnyNamed, Named, StandaloneRuns, standalone_cache_dir

__all__ = ["CompiledLearning", "compiled_learning", "compiled_support", "standalone_cache_dir", "available_targets",
           "reset_statement", "learning_network"]


def compiled_learning(substrate: Any, circuit: Circuit, n_presentations: int, checkpoint_every: int,
                      target: str) -> CompiledLearning:
    """The compiled run of ``circuit``: :class:`CompiledLearning` for one plastic array,
    :class:`~.compiled_multi.MultiCompiledLearning` for several."""
    from .compiled_gained import GainedCompiledLearning, needs_gained
    from .compiled_phased import PhasedCompiledLearning, needs_phased

    if needs_gained(circuit):
        return GainedCompiledLearning(substrate, circuit, n_presentations, checkpoint_every, target)
    if needs_phased(circuit) and interval_steps(circuit) is None:
        return PhasedCompiledLearning(substrate, circuit, n_presentations, checkpoint_every, target)
    if len(circuit.rule_bindings()) > 1:  # type: ignore[attr-defined]
        from .compiled_multi import MultiCompiledLearning

        return MultiCompiledLearning(substrate, circuit, n_presentations, checkpoint_every, target)
    return CompiledLearning(substrate, circuit, n_presentations, checkpoint_every, target)


class CompiledLearning(StandaloneRuns):
    """One learning run of ``n_presentations`` (batch size 1) as Brian2 objects on ``target``.

    :meth:`run` presents a batch (K, P, n), learns at every boundary, writes the final matrix
    into ``circuit.state`` (and ``circuit.steps``) and returns the checkpoints
    (``checkpoints``: (C, K, …) of the plastic state after 0, e, 2e, ... updates,
    ``checkpoint_steps``).
    """

    def __init__(self, substrate: Any, circuit: Circuit, n_presentations: int, checkpoint_every: int,
                 target: str) -> None:
        check_learning_run(circuit, n_presentations, checkpoint_every)
        self.substrate, self.circuit, self.target = substrate, circuit, target
        self.n_presentations, self.checkpoint_every = int(n_presentations), int(checkpoint_every)
        self.binding = cast(Any, circuit).rule_bindings()[0]
        populations = {p.name: p for p in circuit.populations()}
        #: The simulated populations in the circuit's order (the runtime path's dither order).
        self.simulated = [p for p in circuit.populations() if p.role == "neurons"]
        self.pre, self.post = populations[self.binding.pre], populations[self.binding.post]
        self.recurrent = self.pre.name == self.post.name
        self.input = next(p for p in circuit.populations() if p.role == "input")
        self.ensemble = circuit.ensemble_size
        #: Rows of the stimulus and dither TimedArrays: the presentations (and one past the
        #: last) rounded up to a power of two, because Brian2 bakes a TimedArray's shape into
        #: the generated code: runs of 600 and 1000 presentations share one cython module.
        self.rows = 1 << int(self.n_presentations).bit_length()
        #: A neuron rule on a per-neuron array (gains) or a synaptic rule on a matrix.
        self.neuron = self.binding.rule.kind == "neuron"
        structure = (neuron_structure(circuit, self.binding) if self.neuron
                     else matrix_structure(circuit, self.binding, self.input.name))
        assert not isinstance(structure, str)
        self.structure = structure
        scale = substrate.rate_unit * substrate.presentation
        names = {name: f"(count{{side}} / {scale!r} - {float(populations[pop].offset)!r})"
                 for name, pop in self.binding.activities.items()}
        # the gate keeps the boundary at t = 0 (nothing counted yet) from learning
        self.gate = f"int(t > {0.5 * substrate.presentation!r} * second)"
        self.form = self.binding.rule.brian2(names, gate=self.gate)
        #: The declared steps run as clips after the rule (:func:`interval_steps`), by name.
        self.intervals = interval_steps(circuit) or {}

    # ------------------------------------------------------------------ key and inputs
    def key(self) -> str:
        """What changes the generated code: target, sizes, clocks, the rule's code, Brian2's version."""
        import brian2

        s = self.substrate
        text = json.dumps({
            "target": self.target, "circuit": type(self.circuit).__name__, "K": self.ensemble,
            "populations": [(p.name, p.size, float(p.offset)) for p in self.simulated],
            "pre": self.pre.name, "post": self.post.name, "n_input": self.input.size,
            "inputs": sorted(self.structure["inputs"]),
            "theta": sorted((k, v[0]) for k, v in self.structure["theta"].items()),
            "P": self.n_presentations, "every": self.checkpoint_every,
            "dt": s.dt, "T": s.presentation, "r0": s.rate_unit,
            "model": self.form.model, "statement": self.form.statement, "parameters": sorted(self.binding.parameters),
            "neuron": self.neuron, "fixed": sorted(map(list, self.structure.get("fixed", {}))),
            "gained": sorted(map(list, self.structure.get("gained", {}))),
            "steps": sorted(self.intervals.values()),
            "brian2": brian2.__version__, "version": 5,
            "compiler": list(brian2.prefs.codegen.cpp.extra_compile_args_gcc),
        }, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def _matrix(self) -> np.ndarray:
        state = np.asarray(self.circuit.state[self.binding.state], dtype=float)
        return np.swapaxes(state, -1, -2) if self.binding.transposed else state

    def arrays(self, batch: Batch) -> dict[str, np.ndarray]:
        """The per-run values: stimulus, dither per population (:meth:`_inputs`), the initial
        matrix and the rule's parameters."""
        values = self._inputs(batch)
        values.update({"matrix": self._matrix().reshape(-1),
                       **{name: np.asarray(float(v)) for name, v in self.binding.parameters.items()}})
        for name, value in self.structure.get("constants", {}).items():
            values[f"constant_{name}"] = np.full(self.ensemble * self.pre.size, value)
        return values

    def _inputs(self, batch: Batch) -> dict[str, np.ndarray]:
        """The stimulus and the dither values per population (from the substrate's generator,
        in the runtime path's order), as TimedArray rows."""
        k, n_in, count = self.ensemble, self.input.size, self.n_presentations
        if batch.inputs.shape != (k, count, n_in):
            raise ValueError(f"batch.inputs must have shape {(k, count, n_in)}, got {batch.inputs.shape}")
        stimulus = np.zeros((self.rows, k * n_in))
        stimulus[:count] = batch.inputs.transpose(1, 0, 2).reshape(count, -1)
        sizes = [k * p.size for p in self.simulated]
        drawn = np.zeros((count, sum(sizes)))
        self.substrate.resume_dither(self.circuit.steps, sum(sizes))
        if self.substrate.dither:  # per presentation, population after population
            drawn = self.substrate.rng.uniform(0.0, 1.0, (count, sum(sizes)))
        self.substrate.presented += count
        values = {"stimulus": stimulus}
        for p, part in zip(self.simulated, np.split(drawn, np.cumsum(sizes)[:-1], axis=1)):
            values[f"dither_{safe_name(p.name)}"] = np.concatenate([part, np.zeros((self.rows - count, part.shape[1]))])
        return values

    # ------------------------------------------------------------------ network
    def _input_group(self, b2: Any, order: float) -> tuple[Any, Any]:
        """The stimulus TimedArray (a placeholder, one row per presentation) and the input group
        that samples it at every presentation boundary, at ``order`` within the boundary."""
        period, k, n_in = self.substrate.presentation * b2.second, self.ensemble, self.input.size
        stimulus = b2.TimedArray(np.zeros((self.rows, k * n_in)), dt=period, name="stimulus")
        inputs = b2.NeuronGroup(k * n_in, "x : 1", dt=period, namespace={"stimulus": stimulus}, name="compiled_input")
        inputs.run_regularly("x = stimulus(t, i)", dt=period, when="start", order=order, name="compiled_input_sample")
        return stimulus, inputs

    def build(self, b2: Any) -> dict[str, Any]:
        """The Brian2 objects (placeholders for the per-run values, set by :meth:`load`)."""
        s, count, structure = self.substrate, self.n_presentations, self.structure
        period, step = s.presentation * b2.second, s.dt * b2.second
        stimulus, inputs = self._input_group(b2, order=-10)
        lines = {self.pre.name: [self.form.model, *[f"{c} : 1" for c in structure["constants"]],
                                 *[f"{c} : 1 (shared)" for c in self.binding.parameters]]} if self.neuron else {}
        groups, dithers, drives = self._groups(b2, inputs, lines)  # the plastic array, its constants, parameters
        if self.neuron:
            plastic = groups[self.pre.name]
            derived = self._gained(b2, groups, step)
        else:
            plastic = self._plastic(b2, groups[self.pre.name], groups[self.post.name], step)
            derived = [plastic]
        plastic.run_regularly(self.form.statement, dt=period, when="start", order=-1, name="compiled_rule")
        target = self.binding.rule.target
        for index, (low, high) in enumerate(self.intervals.values()):
            bounds = ", ".join("inf" if b == np.inf else "-inf" if b == -np.inf else repr(b) for b in (low, high))
            gate = self.gate
            plastic.run_regularly(f"{target} = {gate} * clip({target}, {bounds}) + (1 - {gate}) * {target}",
                                  dt=period, when="start", order=-0.95 + 0.01 * index, name=f"compiled_step_{index}")
        summed = [u for d in derived for u in d.summed_updaters.values()]
        for updater in (*summed, *[u for d in drives for u in d.summed_updaters.values()]):
            updater.when = "start"
            updater._clock = inputs.clock  # recompute only at presentation boundaries
        for updater in summed:
            updater.order = -0.5  # after the rule, before the reset (dither uses the new θ)
        for drive in drives:
            for updater in drive.summed_updaters.values():
                updater.order = 5
        monitor = b2.StateMonitor(plastic, target, record=True, dt=self.checkpoint_every * period, when="start",
                                  order=-0.7, name="compiled_checkpoints")
        extra = derived if self.neuron else [plastic]
        network = learning_network(b2, inputs, *groups.values(), *drives, *extra, monitor, name="compiled_network")
        return {"network": network, "stimulus": stimulus, "dithers": dithers, "plastic": plastic, "monitor": monitor,
                "groups": groups, "duration": count * period + step,
                "named": {o.name: o for o in (*groups.values(), *drives, *derived)}}

    def _groups(self, b2: Any, inputs: Any, lines: dict[str, list[str]]) -> tuple[dict[str, Any], dict[str, Any],
                                                                                   list[Any]]:
        """The IF group of every simulated population (``lines``: further model lines per
        population; a ceiling as a refractory period), reset at each boundary, its dither
        TimedArray, and the fixed input drives."""
        s, k, n_in = self.substrate, self.ensemble, self.input.size
        period, step = s.presentation * b2.second, s.dt * b2.second
        equations = IntegrateAndFire.equations.format(drives="drive", drive_declarations="drive : 1")
        groups, dithers, drives = {}, {}, []
        for p in self.simulated:
            name = safe_name(p.name)
            dithers[p.name] = b2.TimedArray(np.zeros((self.rows, k * p.size)), dt=period, name=f"dither_{name}")
            capped = p.ceiling is not None  # a rate cap as a refractory period (compiled_multi)
            refractory = refractory_period(s, self.circuit.name, p) * b2.second if capped else False
            group = b2.NeuronGroup(k * p.size, "\n".join([equations, SATURATED, *lines.get(p.name, [])]),
                                   threshold=IntegrateAndFire.threshold, reset=IntegrateAndFire.reset, method="euler",
                                   dt=step, namespace={"rate_unit": s.rate_unit * b2.Hz, "dither": dithers[p.name]},
                                   refractory=refractory, name=f"compiled_{name}")
            group.run_regularly(reset_statement(capped, s.steps_per_presentation), dt=period, when="start", order=0,
                                name=f"compiled_reset_{name}")
            groups[p.name] = group
            if p.name in self.structure["inputs"]:
                drive = b2.Synapses(inputs, group, "w : 1 (constant)\ndrive_post = w * x_pre : 1 (summed)",
                                    dt=period, name=f"compiled_drive_{name}")
                member, post, pre = np.meshgrid(np.arange(k), np.arange(p.size), np.arange(n_in), indexing="ij")
                drive.connect(i=(member * n_in + pre).ravel(), j=(member * p.size + post).ravel())
                drives.append(drive)
        return groups, dithers, drives

    def _drive_values(self) -> list[tuple[str, str, np.ndarray]]:
        """The fixed input weights of :meth:`_groups`' drives, as (object, variable, values)."""
        k, n_in, sizes = self.ensemble, self.input.size, {p.name: p.size for p in self.simulated}
        out = []
        for name, w in self.structure["inputs"].items():
            member, post, pre = (a.ravel() for a in np.meshgrid(np.arange(k), np.arange(sizes[name]), np.arange(n_in),
                                                                 indexing="ij"))
            out.append((f"compiled_drive_{safe_name(name)}", "w", w[member, post, pre]))
        return out

    def _finish(self, checkpoints: dict[str, np.ndarray]) -> dict[str, Any]:
        """After the states are written back: count the presentations, check every checkpoint
        and the final state (a divergence names its state and step), and the run's result."""
        from ...errors import DivergenceError

        self.circuit.steps += self.n_presentations
        first = self.circuit.steps - self.n_presentations
        steps = first + self.checkpoint_every * np.arange(len(next(iter(checkpoints.values()))))
        if self.n_presentations % self.checkpoint_every:  # the run's end, as the chunked path records it
            steps = np.append(steps, self.circuit.steps)
            checkpoints = {state: np.concatenate([history, np.asarray(self.circuit.state[state])[None]])
                           for state, history in checkpoints.items()}
        for state, history in checkpoints.items():
            for step, value in zip(steps, history):
                if not np.all(np.isfinite(value)):
                    raise DivergenceError(state, int(step), "not finite at a checkpoint")
        self.circuit.check_finite(int(self.circuit.steps))
        return {"checkpoints": checkpoints, "checkpoint_steps": steps, "codegen": self.target}

    def _plastic(self, b2: Any, pre_group: Any, post_group: Any, step: Any) -> Any:
        """The plastic synapses: the rule's target M, the weights ``c ⊙ M`` on the forward
        pathway (and ``(c ⊙ M)ᵀ`` on the backward one, ``on_post``), and the thresholds and
        biases derived from M as summed variables (coefficients: :meth:`_plastic_values`)."""
        k, n_pre, n_post = self.ensemble, self.pre.size, self.post.size
        target = self.binding.rule.target
        member, post, pre = (a.ravel() for a in np.meshgrid(np.arange(k), np.arange(n_post), np.arange(n_pre),
                                                             indexing="ij"))
        kind = self.structure["theta"][self.post.name][0]
        lines = [self.form.model, *[f"{name} : 1 (shared)" for name in self.binding.parameters],
                 "c_w : 1 (constant)", "c_bias : 1 (constant)", "c_const : 1 (constant)",
                 f"bias_post = c_bias * {target} + c_const : 1 (summed)"]
        if kind == "linear":
            lines += ["c_theta : 1 (constant)", f"theta_post = c_theta * {target} : 1 (summed)"]
        pathways: dict[str, str] = {"on_pre": f"v_post += c_w * {target}"}
        if not self.recurrent:
            lines += ["c_back : 1 (constant)", "c_bias_back : 1 (constant)", "c_const_back : 1 (constant)",
                      f"bias_pre = c_bias_back * {target} + c_const_back : 1 (summed)"]
            pathways["on_post"] = f"v_pre += c_back * {target}"
        plastic = b2.Synapses(pre_group, post_group, "\n".join(lines), dt=step, name="compiled_plastic", **pathways)
        plastic.connect(i=member * n_pre + pre, j=member * n_post + post)
        return plastic

    def _plastic_values(self) -> dict[str, np.ndarray]:
        """The coefficients of the plastic synapses (per synapse, (member, post, pre) order)."""
        k, n_pre, n_post, structure = self.ensemble, self.pre.size, self.post.size, self.structure
        y_pre, y_post = float(self.pre.offset), float(self.post.offset)
        member, post, pre = (a.ravel() for a in np.meshgrid(np.arange(k), np.arange(n_post), np.arange(n_pre),
                                                             indexing="ij"))
        c_w = structure["forward"][member, post, pre]
        # bias_i = θ_i y0_i − Σ_j w_ij y0_j (offset code); a fixed θ term sits on the first synapse
        kind, theta = structure["theta"][self.post.name]
        values = {"c_w": c_w}
        if kind == "linear":
            c_theta = np.where(post == pre, theta[member, post], 0.0)
            values.update(c_theta=c_theta, c_bias=c_theta * y_pre - c_w * y_pre, c_const=np.zeros_like(c_w))
        else:
            values.update(c_bias=-c_w * y_pre, c_const=np.where(pre == 0, theta[member, post] * y_post, 0.0))
        if not self.recurrent:
            pre_theta = structure["theta"][self.pre.name][1]
            c_back = structure["backward"][member, post, pre]
            values.update(c_back=c_back, c_bias_back=-c_back * y_post,
                          c_const_back=np.where(post == 0, pre_theta[member, pre] * y_pre, 0.0))
        return values

    def _gained(self, b2: Any, groups: dict[str, Any], step: Any) -> list[Any]:
        """The synapses between simulated populations for a neuron rule on the array g of the
        plastic population P: fixed ones ``v_post += w``, those from P ``v_post += c · g_pre``
        with each target's bias (θ y0 − Σ weight · y0_pre, the offset code) a summed variable
        ``Σ_j −c y0_P g_j`` plus its fixed part (values: :meth:`_gained_values`)."""
        k, structure = self.ensemble, self.structure
        sizes = {p.name: p.size for p in self.simulated}
        synapses: list[Any] = []
        for source, target in sorted(structure["fixed"]):
            member, post, pre = (a.ravel() for a in np.meshgrid(np.arange(k), np.arange(sizes[target]),
                                                                 np.arange(sizes[source]), indexing="ij"))
            synapse = b2.Synapses(groups[source], groups[target], "w : 1 (constant)", on_pre="v_post += w", dt=step,
                                  name=f"compiled_fixed_{safe_name(source)}_{safe_name(target)}")
            synapse.connect(i=member * sizes[source] + pre, j=member * sizes[target] + post)
            synapses.append(synapse)
        target_name = self.binding.rule.target
        for source, target in sorted(structure["gained"]):
            member, post, pre = (a.ravel() for a in np.meshgrid(np.arange(k), np.arange(sizes[target]),
                                                                 np.arange(sizes[source]), indexing="ij"))
            synapse = b2.Synapses(
                groups[source], groups[target],
                "c : 1 (constant)\nc_bias : 1 (constant)\nc_const : 1 (constant)\n"
                f"bias_post = c_bias * {target_name}_pre + c_const : 1 (summed)",
                on_pre=f"v_post += c * {target_name}_pre", dt=step,
                name=f"compiled_gained_{safe_name(source)}_{safe_name(target)}")
            synapse.connect(i=member * sizes[source] + pre, j=member * sizes[target] + post)
            synapses.append(synapse)
        return synapses

    def _gained_values(self) -> list[tuple[str, str, np.ndarray]]:
        """The values of :meth:`_gained`'s synapses and of the fixed biases, as (object, variable, values)."""
        k, structure = self.ensemble, self.structure
        sizes = {p.name: p.size for p in self.simulated}
        offsets = {p.name: float(p.offset) for p in self.simulated}
        fixed_bias = {name: structure["theta"][name][1] * offsets[name] for name in sizes}
        for (source, target), w in structure["fixed"].items():
            fixed_bias[target] = fixed_bias[target] - w.sum(axis=-1) * offsets[source]
        out: list[tuple[str, str, np.ndarray]] = []
        for (source, target), w in sorted(structure["fixed"].items()):
            member, post, pre = (a.ravel() for a in np.meshgrid(np.arange(k), np.arange(sizes[target]),
                                                                 np.arange(sizes[source]), indexing="ij"))
            out.append((f"compiled_fixed_{safe_name(source)}_{safe_name(target)}", "w", w[member, post, pre]))
        for (source, target), c in sorted(structure["gained"].items()):
            member, post, pre = (a.ravel() for a in np.meshgrid(np.arange(k), np.arange(sizes[target]),
                                                                 np.arange(sizes[source]), indexing="ij"))
            owner, values = f"compiled_gained_{safe_name(source)}_{safe_name(target)}", c[member, post, pre]
            out += [(owner, "c", values), (owner, "c_bias", -values * offsets[source]),
                    (owner, "c_const", np.where(pre == 0, fixed_bias.pop(target)[member, post], 0.0))]
        for name, bias in fixed_bias.items():
            out.append((f"compiled_{safe_name(name)}", "bias", bias.reshape(-1)))
        return out

    def _coefficients(self) -> list[tuple[str, str, np.ndarray]]:
        """Every value the structure gives the network (object name, variable, values): per-run
        values (``run_args`` in standalone), so one build serves every circuit of one
        architecture (other initial frames, leaks, seeds)."""
        out = self._drive_values()
        for p in self.simulated:
            kind, theta = self.structure["theta"][p.name]
            if kind == "fixed":
                out.append((f"compiled_{safe_name(p.name)}", "theta", theta.reshape(-1)))
        if self.neuron:
            return out + self._gained_values()
        return out + [("compiled_plastic", name, value) for name, value in self._plastic_values().items()]

    def _run_args(self, objects: dict[str, Any], values: dict[str, np.ndarray]) -> dict[Any, Any]:
        plastic = objects["plastic"]
        args: dict[Any, Any] = {objects["stimulus"]: values["stimulus"],
                                getattr(plastic, self.binding.rule.target): values["matrix"]}
        for name, dither in objects["dithers"].items():
            args[dither] = values[f"dither_{safe_name(name)}"]
        for name in self.binding.parameters:
            args[getattr(plastic, name)] = values[name]
        for name in self.structure.get("constants", {}):
            args[getattr(plastic, name)] = values[f"constant_{name}"]
        for owner, name, value in self._coefficients():
            args[getattr(objects["named"][owner], name)] = value
        return args

    # ------------------------------------------------------------------ running
    def run(self, batch: Batch) -> dict[str, Any]:
        check_thresholds(self.circuit.name, self.circuit.thresholds())
        values = self.arrays(batch)
        if self.target == "cpp_standalone":
            matrix, checkpoints = self._run_standalone(values)
        else:
            matrix, checkpoints = self._run_runtime(values)
        shape = self._matrix().shape
        matrix = matrix.reshape(shape)
        checkpoints = checkpoints.reshape(-1, *shape)
        if self.binding.transposed:
            matrix, checkpoints = np.swapaxes(matrix, -1, -2).copy(), np.swapaxes(checkpoints, -1, -2).copy()
        self.circuit.state[self.binding.state] = matrix
        result = self._finish({self.binding.state: checkpoints})
        return {**result, "checkpoints": result["checkpoints"][self.binding.state]}

    def _run_runtime(self, values: dict[str, np.ndarray]) -> Any:
        import brian2 as b2

        previous = b2.prefs.codegen.target
        b2.prefs.codegen.target = self.target
        try:
            objects = self.build(b2)
            self._load(objects, values)
            # Network.run() starts with a full gc.collect(); freezing what exists now keeps it
            # from rescanning a big process's heap (as the chunked path does)
            gc.freeze()
            try:
                objects["network"].run(objects["duration"], namespace={})
            finally:
                gc.unfreeze()
            return self._read(objects)
        finally:
            b2.prefs.codegen.target = previous

    def _load(self, objects: dict[str, Any], values: dict[str, np.ndarray]) -> None:
        """Write the per-run values into the runtime objects (what ``run_args`` does in standalone)."""
        for variable, value in self._run_args(objects, values).items():
            if hasattr(variable, "values"):  # a TimedArray
                variable.values[:] = value
            else:  # a VariableView: an array, or a shared scalar
                value = np.asarray(value, dtype=float)
                variable[:] = float(value) if value.ndim == 0 else value

    def _read(self, objects: dict[str, Any]) -> Any:
        """The final plastic matrix and its checkpoints (after a run)."""
        return self._all_assemble({label: np.asarray(variable.get_value()).reshape(-1, columns) if columns else
                                   np.asarray(variable.get_value()).copy()
                                   for label, (variable, columns) in self._all_outputs(objects).items()})

    def _all_outputs(self, objects: dict[str, Any]) -> dict[str, tuple[Any, int]]:
        """:meth:`_outputs` and each simulated group's saturation count."""
        groups = objects["groups"]
        return {**self._outputs(objects),
                **{f"saturated:{p.name}": (groups[p.name].variables["saturated"], 0) for p in self.simulated}}

    def _all_assemble(self, arrays: dict[str, np.ndarray]) -> Any:
        """:meth:`_assemble`, after handing the saturation counts to the substrate."""
        for p in self.simulated:
            counts = arrays.pop(f"saturated:{p.name}")
            self.substrate.note_saturation(self.circuit.name, p, int(np.sum(counts)),
                                           self.n_presentations * counts.size)
        return self._assemble(arrays)

    def _outputs(self, objects: dict[str, Any]) -> dict[str, tuple[Any, int]]:
        """The Brian2 variables a run's result is read from, by label, with the columns of a
        monitor's (time, recorded) array (0 for a plain array)."""
        target, monitor = self.binding.rule.target, objects["monitor"]
        return {"matrix": (objects["plastic"].variables[target], 0),
                "checkpoints": (monitor.variables[target], len(monitor.record))}

    def _assemble(self, arrays: dict[str, np.ndarray]) -> Any:
        return arrays["matrix"].copy(), arrays["checkpoints"].copy()

    def _labels(self) -> dict[str, Any]:
        """Stand-ins for the objects of :meth:`build` that :meth:`_run_args` reads: each
        variable and TimedArray as its command-line name in a standalone binary, so that a
        binary found on disk runs without building the Brian2 objects again."""
        plastic = f"compiled_{safe_name(self.pre.name)}" if self.neuron else "compiled_plastic"
        return {"stimulus": "stimulus.values", "plastic": Named(plastic), "named": AnyNamed(),
                "dithers": {p.name: f"dither_{safe_name(p.name)}.values" for p in self.simulated}}


#: (the same dict as :data:`.standalone.STANDALONE`)
_STANDALONE = STANDALONE
