"""A whole spiking learning run inside Brian2's generated code (issue 17).

:class:`CompiledLearning` builds, for a fixed-point circuit whose plasticity is one declared
rule on a recurrent matrix, every part of a learning run as Brian2 objects, so that one
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
* the reset of every presentation (voltage to ``dither · θ``, counts to 0) as ``run_regularly``;
* checkpoints of the plastic matrix every ``checkpoint_every`` updates by a ``StateMonitor``,
  scored afterwards.

For ``cpp_standalone`` the binary is built once per architecture in a user cache directory
keyed by everything that changes the generated code (:meth:`CompiledLearning.key`) and re-run
with ``device.run(run_args=...)`` for new inputs, dither values, initial matrices and learning
rates. Differences from the runtime path: divergence is checked at the checkpoints only (the
runtime path checks after every update), and observers are not called.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ...circuits.base import Circuit
from ...core import Batch
from ...models.neurons import IntegrateAndFire

__all__ = ["CompiledLearning", "compiled_support", "standalone_cache_dir", "available_targets"]


def available_targets() -> tuple[str, ...]:
    """The Brian2 targets this machine can run: numpy always; cython and cpp_standalone with a
    C++ compiler (and Cython for the former)."""
    targets = ["numpy"]
    if shutil.which(os.environ.get("CXX", "g++")) is not None:
        try:
            import Cython  # noqa: F401
            targets.append("cython")
        except ImportError:
            pass
        if shutil.which("make") is not None:
            targets.append("cpp_standalone")
    return tuple(targets)


def standalone_cache_dir() -> Path:
    """Where cpp_standalone builds are kept: ``$BIOPLAUSIBLE_CACHE_DIR`` or
    ``$XDG_CACHE_HOME/bioplausible`` (``~/.cache/bioplausible``), subfolder ``brian2_standalone``."""
    root = os.environ.get("BIOPLAUSIBLE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "bioplausible")
    return Path(root) / "brian2_standalone"


def _probe(circuit: Circuit, key: str, value: np.ndarray) -> tuple[dict[Any, np.ndarray], dict[str, np.ndarray]]:
    original = circuit.state[key]
    try:
        circuit.state[key] = value
        return ({k: np.array(w, dtype=float) for k, w in circuit.weights().items()},
                {k: np.array(t, dtype=float) for k, t in circuit.thresholds().items()})
    finally:
        circuit.state[key] = original


def compiled_support(circuit: Circuit) -> str | None:
    """None when :class:`CompiledLearning` realises ``circuit``'s learning run, else why not."""
    if circuit.kind != "fixed-point":
        return f"its kind is {circuit.kind!r}; compiled learning runs realise 'fixed-point' circuits"
    bindings = getattr(circuit, "rule_bindings", None)
    if bindings is None:
        return "it declares no rule bindings (the rules' Brian2 form is what runs in generated code)"
    bindings = bindings()
    if len(bindings) != 1:
        return f"it has {len(bindings)} plastic arrays; compiled learning runs take one recurrent matrix so far"
    binding = bindings[0]
    rule = binding.rule
    populations = circuit.populations()
    simulated = [p for p in populations if p.role == "neurons"]
    inputs = [p for p in populations if p.role == "input"]
    if len(simulated) != 1 or len(inputs) != 1 or any(p.role not in ("neurons", "input") for p in populations):
        return "compiled learning runs take one input and one simulated population so far"
    if binding.pre != binding.post or binding.pre != simulated[0].name or binding.transposed:
        return "its plastic matrix is not the recurrent matrix of its simulated population"
    if rule.kind != "synaptic" or rule.summed or rule.synaptic or rule.states:
        return f"rule {rule.name!r} needs more than activities (summed variables, states or other matrices)"
    if simulated[0].ceiling is not None:
        return "box-constrained (refractory) populations are not in compiled learning runs yet"
    coefficients = _coefficients(circuit, binding.state, simulated[0].name, inputs[0].name)
    return coefficients if isinstance(coefficients, str) else None


def _coefficients(circuit: Circuit, key: str, population: str, source: str) -> dict[str, np.ndarray] | str:
    """``c_w`` (K, n, n) and ``c_theta`` (K, n) with recurrent weight ``c_w ⊙ M`` and threshold
    ``c_theta ⊙ diag M``, and the fixed input weights; a reason when the circuit's maps are not so."""
    shape = circuit.state[key].shape
    rng = np.random.default_rng(12345)
    probes = [rng.uniform(0.5, 1.5, shape) for _ in range(2)]
    zero_w, zero_t = _probe(circuit, key, np.zeros(shape))
    (w1, t1), (w2, t2) = (_probe(circuit, key, p) for p in probes)
    recurrent, drive = (population, population), (source, population)
    if set(w1) - {recurrent, drive} or set(t1) != {population}:
        return "its weights or thresholds involve more than the input drive and the recurrent matrix"
    c_w = w1.get(recurrent, np.zeros(shape)) / probes[0]
    c_theta = t1[population] / np.diagonal(probes[0], axis1=-2, axis2=-1)
    linear = (np.allclose(w2.get(recurrent, np.zeros(shape)), c_w * probes[1], atol=1e-12)
              and np.allclose(zero_w.get(recurrent, 0.0), 0.0) and np.allclose(zero_t[population], 0.0)
              and np.allclose(t2[population], c_theta * np.diagonal(probes[1], axis1=-2, axis2=-1), atol=1e-12))
    if not linear:
        return "its recurrent weights and thresholds are not elementwise linear in the plastic matrix"
    if drive not in w1 or not (np.array_equal(w1[drive], w2[drive]) and np.array_equal(w1[drive], zero_w[drive])):
        return "its input weights change with the plastic matrix"
    return {"c_w": c_w, "c_theta": c_theta, "input": w1[drive]}


class CompiledLearning:
    """One learning run of ``n_presentations`` (batch size 1) as Brian2 objects on ``target``.

    :meth:`run` presents a batch (K, P, n), learns at every boundary, writes the final matrix
    into ``circuit.state`` (and ``circuit.steps``) and returns the checkpoints
    (``checkpoints``: (C, K, n, n) after 0, e, 2e, ... updates, ``checkpoint_steps``).
    """

    def __init__(self, substrate: Any, circuit: Circuit, n_presentations: int, checkpoint_every: int,
                 target: str) -> None:
        reason = compiled_support(circuit)
        if reason:
            raise ValueError(f"{circuit.name} cannot learn in generated code: {reason}")
        if n_presentations < 1 or checkpoint_every < 1:
            raise ValueError(f"n_presentations and checkpoint_every must be >= 1, got {n_presentations}, "
                             f"{checkpoint_every}")
        self.substrate, self.circuit, self.target = substrate, circuit, target
        self.n_presentations, self.checkpoint_every = int(n_presentations), int(checkpoint_every)
        self.binding = circuit.rule_bindings()[0]
        self.population = next(p for p in circuit.populations() if p.role == "neurons")
        self.input = next(p for p in circuit.populations() if p.role == "input")
        self.ensemble = circuit.ensemble_size
        self.coefficients = _coefficients(circuit, self.binding.state, self.population.name, self.input.name)
        scale = substrate.rate_unit * substrate.presentation
        names = {name: f"(count{{side}} / {scale!r} - {float(self.population.offset)!r})"
                 for name in self.binding.activities}
        # the gate keeps the boundary at t = 0 (nothing counted yet) from learning
        self.form = self.binding.rule.brian2(names, gate=f"int(t > {0.5 * substrate.presentation!r} * second)")

    # ------------------------------------------------------------------ key and inputs
    def key(self) -> str:
        """What changes the generated code: target, sizes, clocks, the rule's code, Brian2's version."""
        import brian2

        s, p = self.substrate, self.population
        text = json.dumps({
            "target": self.target, "circuit": type(self.circuit).__name__, "K": self.ensemble, "n": p.size,
            "n_input": self.input.size, "P": self.n_presentations, "every": self.checkpoint_every,
            "dt": s.dt, "T": s.presentation, "r0": s.rate_unit, "offset": float(p.offset),
            "model": self.form.model, "statement": self.form.statement, "parameters": sorted(self.binding.parameters),
            "brian2": brian2.__version__, "version": 1,
        }, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def arrays(self, batch: Batch) -> dict[str, np.ndarray]:
        """The per-run values: stimulus, dither (from the substrate's generator, in the runtime
        path's order), the initial matrix and the rule's parameters."""
        k, n, n_in, count = self.ensemble, self.population.size, self.input.size, self.n_presentations
        if batch.inputs.shape != (k, count, n_in):
            raise ValueError(f"batch.inputs must have shape {(k, count, n_in)}, got {batch.inputs.shape}")
        stimulus = np.zeros((count + 1, k * n_in))
        stimulus[:count] = batch.inputs.transpose(1, 0, 2).reshape(count, -1)
        dither = np.zeros((count + 1, k * n))
        if self.substrate.dither:
            dither[:count] = self.substrate.rng.uniform(0.0, 1.0, (count, k * n))
        matrix = np.asarray(self.circuit.state[self.binding.state], dtype=float)
        return {"stimulus": stimulus, "dither": dither, "matrix": matrix.reshape(-1),
                **{name: np.asarray(float(v)) for name, v in self.binding.parameters.items()}}

    # ------------------------------------------------------------------ network
    def build(self, b2: Any) -> dict[str, Any]:
        """The Brian2 objects (placeholders for the per-run values, set by :meth:`load`)."""
        s, p = self.substrate, self.population
        k, n, n_in, count = self.ensemble, p.size, self.input.size, self.n_presentations
        period, step = s.presentation * b2.second, s.dt * b2.second
        stimulus = b2.TimedArray(np.zeros((count + 1, k * n_in)), dt=period, name="stimulus")
        dither = b2.TimedArray(np.zeros((count + 1, k * n)), dt=period, name="dither")
        inputs = b2.NeuronGroup(k * n_in, "x : 1", dt=period, namespace={"stimulus": stimulus}, name="compiled_input")
        inputs.run_regularly("x = stimulus(t, i)", dt=period, when="start", order=-10, name="compiled_input_sample")
        equations = IntegrateAndFire.equations.format(drives="drive", drive_declarations="drive : 1")
        group = b2.NeuronGroup(k * n, equations, threshold=IntegrateAndFire.threshold, reset=IntegrateAndFire.reset,
                               method="euler", dt=step, namespace={"rate_unit": s.rate_unit * b2.Hz, "dither": dither},
                               name="compiled_population")
        group.run_regularly("v = dither(t, i) * theta\ncount = 0", dt=period, when="start", order=0,
                            name="compiled_reset")
        drive = b2.Synapses(inputs, group, "w : 1 (constant)\ndrive_post = w * x_pre : 1 (summed)", dt=period,
                            name="compiled_drive")
        member, post, pre = np.meshgrid(np.arange(k), np.arange(n), np.arange(n_in), indexing="ij")
        drive.connect(i=(member * n_in + pre).ravel(), j=(member * n + post).ravel())
        drive.w = self.coefficients["input"][member.ravel(), post.ravel(), pre.ravel()]
        offset = float(p.offset)
        target = self.binding.rule.target
        parameters = "\n".join(f"{name} : 1 (shared)" for name in self.binding.parameters)
        model = (f"{self.form.model}\n{parameters}\nc_w : 1 (constant)\nc_theta : 1 (constant)\n"
                 f"c_bias : 1 (constant)\ntheta_post = c_theta * {target} : 1 (summed)\n"
                 f"bias_post = c_bias * {target} : 1 (summed)")
        plastic = b2.Synapses(group, group, model, on_pre=f"v_post += c_w * {target}", dt=step,
                              name="compiled_plastic")
        member, post, pre = np.meshgrid(np.arange(k), np.arange(n), np.arange(n), indexing="ij")
        member, post, pre = member.ravel(), post.ravel(), pre.ravel()
        plastic.connect(i=member * n + pre, j=member * n + post)
        c_w = self.coefficients["c_w"][member, post, pre]
        c_theta = np.where(post == pre, self.coefficients["c_theta"][member, post], 0.0)
        plastic.c_w, plastic.c_theta = c_w, c_theta
        plastic.c_bias = c_theta * offset - c_w * offset  # bias = θ y0 − Σ_j w_ij y0 (offset code)
        plastic.run_regularly(self.form.statement, dt=period, when="start", order=-1, name="compiled_rule")
        for updater in (*plastic.summed_updaters.values(), *drive.summed_updaters.values()):
            updater.when = "start"
            updater._clock = drive.clock  # recompute only at presentation boundaries
        for updater in plastic.summed_updaters.values():
            updater.order = -0.5  # after the rule, before the reset (dither uses the new θ)
        for updater in drive.summed_updaters.values():
            updater.order = 5
        monitor = b2.StateMonitor(plastic, target, record=True, dt=self.checkpoint_every * period, when="start",
                                  order=-0.7, name="compiled_checkpoints")
        network = b2.Network(inputs, group, drive, plastic, monitor, name="compiled_network")
        return {"network": network, "stimulus": stimulus, "dither": dither, "plastic": plastic, "monitor": monitor,
                "group": group, "duration": count * period + step}

    def _run_args(self, objects: dict[str, Any], values: dict[str, np.ndarray]) -> dict[Any, Any]:
        plastic = objects["plastic"]
        args: dict[Any, Any] = {objects["stimulus"]: values["stimulus"], objects["dither"]: values["dither"],
                                getattr(plastic, self.binding.rule.target): values["matrix"]}
        for name in self.binding.parameters:
            args[getattr(plastic, name)] = values[name]
        return args

    # ------------------------------------------------------------------ running
    def run(self, batch: Batch) -> dict[str, Any]:
        values = self.arrays(batch)
        if self.target == "cpp_standalone":
            matrix, checkpoints = self._run_standalone(values)
        else:
            matrix, checkpoints = self._run_runtime(values)
        shape = self.circuit.state[self.binding.state].shape
        matrix = matrix.reshape(shape)
        checkpoints = checkpoints.reshape(-1, *shape)
        self.circuit.state[self.binding.state] = matrix
        self.circuit.steps += self.n_presentations
        steps = self.circuit.steps - self.n_presentations + self.checkpoint_every * np.arange(len(checkpoints))
        for step, state in zip(steps, checkpoints):
            if not np.all(np.isfinite(state)):
                from ...errors import DivergenceError
                raise DivergenceError(self.binding.state, int(step), "not finite at a checkpoint")
        self.circuit.check_finite(int(self.circuit.steps))
        return {"checkpoints": checkpoints, "checkpoint_steps": steps, "codegen": self.target}

    def _run_runtime(self, values: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        import brian2 as b2

        previous = b2.prefs.codegen.target
        b2.prefs.codegen.target = self.target
        try:
            objects = self.build(b2)
            objects["stimulus"].values[:] = values["stimulus"]
            objects["dither"].values[:] = values["dither"]
            plastic = objects["plastic"]
            getattr(plastic, self.binding.rule.target)[:] = values["matrix"]
            for name in self.binding.parameters:
                setattr(plastic, name, float(values[name]))
            objects["network"].run(objects["duration"], namespace={})
            target = self.binding.rule.target
            return (np.asarray(getattr(plastic, target)[:]),
                    np.asarray(getattr(objects["monitor"], target)).T.copy())
        finally:
            b2.prefs.codegen.target = previous

    def _run_standalone(self, values: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        import gc

        import brian2 as b2

        key = self.key()
        directory = standalone_cache_dir() / key
        directory.parent.mkdir(parents=True, exist_ok=True)
        built = _STANDALONE.get("key") == key
        b2.set_device("cpp_standalone", build_on_run=False)
        try:
            if built:  # this process built the binary: re-run it with new values
                objects = _STANDALONE["objects"]
            else:
                _STANDALONE.clear()
                b2.device.reinit()
                b2.device.activate(build_on_run=False)
                gc.collect()  # free the last build's objects, so generated names (and files) repeat
                b2.prefs.devices.cpp_standalone.extra_make_args_unix = ["-j2"]
                objects = self.build(b2)
                objects["network"].run(objects["duration"], namespace={})
                # unchanged files are not rewritten, so make rebuilds nothing for a cached key
                b2.device.build(run=False, directory=str(directory))
                _STANDALONE.update(key=key, objects=objects)
            b2.device.run(directory=str(directory), run_args=self._run_args(objects, values))
            target = self.binding.rule.target
            return (np.asarray(getattr(objects["plastic"], target)[:]).copy(),
                    np.asarray(getattr(objects["monitor"], target)).T.copy())
        except BaseException:
            _STANDALONE.clear()
            b2.device.reinit()
            raise
        finally:
            b2.set_device("runtime")


#: The standalone build this process holds (key and Brian2 objects), re-run by ``run_args``.
_STANDALONE: dict[str, Any] = {}
