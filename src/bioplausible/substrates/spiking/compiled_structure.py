"""What a learning run in generated code can realise (issue 17): the refusals, and the
structure of a circuit's weights and thresholds in its plastic arrays, read off by probing
the circuit's own ``weights()``/``thresholds()`` (:mod:`~bioplausible.substrates.spiking.compiled` builds from it)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from ...circuits.base import Circuit
from .groups import safe_name

__all__ = ["check_learning_run", "compiled_support", "realised_steps", "interval_steps", "interval_bounds",
           "plasticity_support", "matrix_structure", "neuron_structure", "multi_structure", "probe"]


def probe(circuit: Circuit, key: str, value: np.ndarray, transposed: bool
           ) -> tuple[dict[Any, np.ndarray], dict[str, np.ndarray]]:
    original = circuit.state[key]
    try:
        circuit.state[key] = np.swapaxes(value, -1, -2) if transposed else value
        return ({k: np.array(w, dtype=float) for k, w in circuit.weights().items()},
                {k: np.array(t, dtype=float) for k, t in circuit.thresholds().items()})
    finally:
        circuit.state[key] = original


def check_learning_run(circuit: Circuit, n_presentations: int, checkpoint_every: int) -> None:
    """Refuse, in one line, a learning run generated code cannot realise (:func:`compiled_support`)
    or one of fewer than one presentation or checkpoint interval."""
    reason = compiled_support(circuit)
    if reason:
        raise ValueError(f"{circuit.name} cannot learn in generated code: {reason}")
    if n_presentations < 1 or checkpoint_every < 1:
        raise ValueError(f"n_presentations and checkpoint_every must be >= 1, got {n_presentations}, "
                         f"{checkpoint_every}")


def compiled_support(circuit: Circuit) -> str | None:
    """None when :class:`CompiledLearning` realises ``circuit``'s learning run, else why not."""
    if circuit.kind != "fixed-point":
        return f"its kind is {circuit.kind!r}; compiled learning runs realise 'fixed-point' circuits"
    bindings = getattr(circuit, "rule_bindings", None)
    if bindings is None:
        return "it declares no rule bindings (the rules' Brian2 form is what runs in generated code)"
    from .compiled_gained import gained_structure, needs_gained
    from .compiled_phased import needs_phased, phased_support

    if needs_gained(circuit):
        structure = gained_structure(circuit)
        return structure if isinstance(structure, str) else None
    if interval_steps(circuit) is not None:  # one neuron array, each step a projection onto an interval
        return plasticity_support(circuit, bindings())
    if needs_phased(circuit):
        return phased_support(circuit)
    steps: list[Any] = getattr(circuit, "state_steps", list)()
    reasons = [plasticity_support(circuit, bindings())]
    if steps:
        reasons.append(f"its state steps after each update ({', '.join(step.name for step in steps)}) have no "
                       "form in generated code yet")
    return "; ".join(r for r in reasons if r) or None


def interval_bounds(step: Any, shape: tuple[int, ...]) -> tuple[float, float] | None:
    """``(low, high)`` when the declared ``step`` maps an array of ``shape`` to its elementwise
    projection onto ``[low, high]`` (either may be infinite), read off by probing; else None."""
    if step.reads or step.activities or step.active is not None:
        return None
    try:
        with np.errstate(all="ignore"):  # a step that overflows on the probe is simply not an interval
            low = np.asarray(step.function(np.full(shape, -1e300)), dtype=float)
            high = np.asarray(step.function(np.full(shape, 1e300)), dtype=float)
    except Exception:  # noqa: BLE001 - a step that cannot take the probe is not an interval step
        return None
    if np.isnan(low).any() or np.isnan(high).any():
        return None
    if low.shape != shape or high.shape != shape or np.ptp(low) != 0 or np.ptp(high) != 0:
        return None
    lower, upper = float(low.flat[0]), float(high.flat[0])
    lower, upper = (-np.inf if lower == -1e300 else lower), (np.inf if upper == 1e300 else upper)
    if not lower <= upper:
        return None
    rng = np.random.default_rng(17)
    for centre in (0.0, *[b for b in (lower, upper) if np.isfinite(b)]):  # both sides of every bound, and of 0
        for scale in (1e-3, 1.0, 1e3):
            probe = centre + scale * rng.standard_normal(shape)
            if not np.array_equal(np.asarray(step.function(probe.copy()), dtype=float), np.clip(probe, lower, upper)):
                return None
    return lower, upper


def interval_steps(circuit: Circuit) -> dict[str, tuple[float, float]] | None:
    """For a circuit whose plasticity is one neuron rule and whose every declared step projects
    that rule's array onto an interval (gain whitening's ``clamp_gains``): step name →
    ``(low, high)``, applied in generated code after the rule (:class:`~.compiled.CompiledLearning`);
    None for any other circuit."""
    bindings = list(getattr(circuit, "rule_bindings", list)())
    steps = list(getattr(circuit, "state_steps", list)())
    if len(bindings) != 1 or bindings[0].rule.kind != "neuron" or not steps or bindings[0].gate is not None:
        return None
    binding, shape = bindings[0], np.shape(circuit.state[bindings[0].state])
    out = {}
    for step in steps:
        bounds = interval_bounds(step, shape) if step.state == binding.state and step.phase == binding.phase else None
        if bounds is None:
            return None
        out[step.name] = bounds
    return out


def realised_steps(circuit: Circuit) -> set[str]:
    """The names of ``circuit``'s declared state steps that its compiled run realises in
    generated code (a gain-modulated run's unit-norm step, :mod:`~.compiled_gained`; a neuron
    array's interval projections, :func:`interval_steps`)."""
    from .compiled_gained import gained_structure, needs_gained

    intervals = interval_steps(circuit)
    if intervals is not None:
        return set(intervals)
    if not needs_gained(circuit):
        return set()
    structure = gained_structure(circuit)
    return set() if isinstance(structure, str) or structure["normalise"] is None else {structure["normalise"]}


def plasticity_support(circuit: Circuit, bindings: list[Any]) -> str | None:
    """None when the plastic arrays and what derives from them are realised in generated code."""
    if len(bindings) > 1:
        structure = multi_structure(circuit, bindings)
        return structure if isinstance(structure, str) else None
    if not bindings:
        return "it declares no plastic arrays"
    binding = bindings[0]
    rule = binding.rule
    if rule.kind == "neuron":
        structure = neuron_structure(circuit, binding)
        return structure if isinstance(structure, str) else None
    if rule.summed or rule.synaptic or rule.states or rule.totals:
        return f"rule {rule.name!r} needs more than activities (summed variables, states or other matrices)"
    populations = circuit.populations()
    simulated = {p.name for p in populations if p.role == "neurons"}
    inputs = [p for p in populations if p.role == "input"]
    if len(inputs) != 1 or any(p.role not in ("neurons", "input") for p in populations):
        return "compiled learning runs take one input population and simulated populations only (no readouts)"
    if simulated != {binding.pre, binding.post}:
        return ("its plastic matrix does not connect all its simulated populations (compiled learning runs take "
                "one population with a plastic recurrent matrix, or two joined by one plastic matrix)")
    if binding.pre != binding.post:
        for argument in rule.signature():
            base, _, side = argument.rpartition("_")
            if base in binding.activities and binding.activities[base] != getattr(binding, side):
                return (f"rule {rule.name!r} reads {argument} but {base!r} is the activity of "
                        f"{binding.activities[base]!r}")
    if any(p.ceiling is not None for p in populations if p.role == "neurons"):
        return "box-constrained (refractory) populations are not in compiled learning runs yet"
    structure = matrix_structure(circuit, binding, inputs[0].name)
    return structure if isinstance(structure, str) else None


def matrix_structure(circuit: Circuit, binding: Any, source: str) -> dict[str, Any] | str:
    """How the circuit's weights and thresholds depend on the rule's matrix M (K, n_post, n_pre),
    read off by probing; a reason when they are not of a form realised here.

    ``forward``: c with weight(pre → post) = c ⊙ M; ``backward`` (two populations): c with
    weight(post → pre) = (c ⊙ M)ᵀ; ``theta``: per population, ``("linear", c)`` with
    θ = c ⊙ diag M (a recurrent matrix) or ``("fixed", θ)``; ``inputs``: the fixed input
    weights per population.
    """
    state = circuit.state[binding.state]
    shape = np.swapaxes(state, -1, -2).shape if binding.transposed else state.shape
    rng = np.random.default_rng(12345)
    probes = [rng.uniform(0.5, 1.5, shape) for _ in range(2)]
    (w0, t0), (w1, t1), (w2, t2) = (probe(circuit, binding.state, p, binding.transposed)
                                    for p in (np.zeros(shape), *probes))
    pre, post = binding.pre, binding.post
    recurrent = pre == post
    edges = {(pre, post): "forward"} if recurrent else {(pre, post): "forward", (post, pre): "backward"}
    result: dict[str, Any] = {"inputs": {}, "theta": {}}

    def linear(key: tuple[str, str], flip: bool) -> np.ndarray | None:
        def read(weights: dict[Any, np.ndarray]) -> np.ndarray:
            value = weights.get(key, np.zeros(shape[:-2] + shape[-2:][::-1] if flip else shape))
            return np.swapaxes(value, -1, -2) if flip else value
        c = read(w1) / probes[0]
        ok = np.allclose(read(w2), c * probes[1], atol=1e-12) and np.allclose(read(w0), 0.0)
        return c if ok else None

    for key in set(w1) | set(w0):
        if key[0] == source:
            if not (np.array_equal(w1[key], w2[key]) and np.array_equal(w1[key], w0[key])):
                return "its input weights change with the plastic matrix"
            result["inputs"][key[1]] = w1[key]
        elif key not in edges:
            return f"its weights {key[0]} -> {key[1]} are not the plastic matrix (or its transpose)"
    for key, role in edges.items():
        c = linear(key, role == "backward")
        if c is None:
            return "its weights are not elementwise linear in the plastic matrix"
        result[role] = c
    for name in {pre, post}:
        if np.array_equal(t0[name], t1[name]) and np.array_equal(t1[name], t2[name]):
            result["theta"][name] = ("fixed", t1[name])
            continue
        diagonal = [np.diagonal(p, axis1=-2, axis2=-1) for p in probes] if recurrent else None
        if diagonal is None:
            return "its thresholds change with a plastic matrix between two populations"
        c_theta = t1[name] / diagonal[0]
        if not (np.allclose(t2[name], c_theta * diagonal[1], atol=1e-12) and np.allclose(t0[name], 0.0)):
            return "its thresholds are not elementwise linear in the plastic matrix's diagonal"
        result["theta"][name] = ("linear", c_theta)
    return result


def neuron_structure(circuit: Circuit, binding: Any) -> dict[str, Any] | str:
    """For a neuron rule on a per-neuron array g of one population P (e.g. interneuron
    gains): how the circuit's weights depend on g, read off by probing; a reason when they
    are not of a form realised here.

    ``inputs``: the fixed input weights per population; ``fixed``: the weights between simulated
    populations that do not change with g; ``gained``: c per connection from P with
    weight(P → q) = c ⊙ g (g along the presynaptic axis); ``theta``: every population's
    fixed threshold ``("fixed", θ)``; ``constants``: the rule's states, numbers per neuron.
    """
    rule = binding.rule
    if rule.summed or rule.synaptic or rule.totals:
        return f"rule {rule.name!r} needs more than activities and constants (summed variables or matrices)"
    constants = {}
    for name in rule.states:
        value = binding.states.get(name)
        if isinstance(value, str) or value is None:
            return (f"rule {rule.name!r} reads the state {name!r} = {value!r}, an array the circuit derives "
                    "from its other plastic arrays (compiled runs take constants)")
        constants[name] = float(value)
    populations = circuit.populations()
    inputs = [p for p in populations if p.role == "input"]
    if len(inputs) != 1 or any(p.role not in ("neurons", "input") for p in populations):
        return "compiled learning runs take one input population and simulated populations only (no readouts)"
    if any(p.ceiling is not None for p in populations if p.role == "neurons"):
        return "box-constrained (refractory) populations are not in compiled learning runs yet"
    owner = binding.pre
    if binding.post != owner or any(pop != owner for pop in binding.activities.values()):
        return f"rule {rule.name!r} reads activities of populations other than the one that holds {binding.state!r}"
    source = inputs[0].name
    shape = np.asarray(circuit.state[binding.state]).shape
    rng = np.random.default_rng(12345)
    probes = [rng.uniform(0.5, 1.5, shape) for _ in range(2)]
    (w0, t0), (w1, t1), (w2, t2) = (probe(circuit, binding.state, p, False) for p in (np.zeros(shape), *probes))
    result: dict[str, Any] = {"inputs": {}, "fixed": {}, "gained": {}, "theta": {}, "constants": constants}
    for key in set(w1) | set(w0):
        fixed = np.array_equal(w1[key], w2[key]) and np.array_equal(w1[key], w0[key])
        if key[0] == source:
            if not fixed:
                return "its input weights change with the plastic array"
            result["inputs"][key[1]] = w1[key]
        elif fixed:
            result["fixed"][key] = w1[key]
        elif key[0] != owner:
            return f"its weights {key[0]} -> {key[1]} change with the plastic array of {owner!r}"
        else:
            c = w1[key] / probes[0][..., None, :]
            if not (np.allclose(w2[key], c * probes[1][..., None, :], atol=1e-12) and np.allclose(w0[key], 0.0)):
                return f"its weights {key[0]} -> {key[1]} are not the plastic array times fixed weights"
            result["gained"][key] = c
    for p in populations:
        if p.role != "neurons":
            continue
        if not (np.array_equal(t0[p.name], t1[p.name]) and np.array_equal(t1[p.name], t2[p.name])):
            return "its thresholds change with the plastic array"
        result["theta"][p.name] = ("fixed", t1[p.name])
    return result


#: Variables of a compiled group that a rule's summed variable may not be named after.
_GROUP_NAMES = {"v", "bias", "theta", "count", "drive", "x", "lastspike", "not_refractory", "i", "t", "N"}


def _side_population(binding: Any, side: str) -> str:
    return binding.pre if side == "_pre" else binding.post


def multi_structure(circuit: Circuit, bindings: Sequence[Any], hosted: Collection[str] = ()
                    ) -> dict[str, Any] | str:
    """How the weights, thresholds and biases of ``circuit`` depend on its several plastic
    matrices (read off by probing), or the reason :class:`MultiCompiledLearning` cannot run it.

    Returns ``bindings`` (per binding: its edges ``(kind, source, target, w0, c)`` with kind
    ``"drive"``, ``"readout"`` or ``"lateral"``, and its ``theta``/``bias`` coefficients),
    ``fixed`` (edges between simulated populations that no matrix changes), ``inputs`` (fixed
    input weights per population), ``theta``/``bias`` (fixed values per population) and
    ``readouts`` (readout population -> the binding whose synapses compute it). ``hosted``:
    neuron states a rule may read (``D_post``), variables of its post group that a phased run
    (:mod:`~.compiled_phased`) updates by their own neuron rule."""
    head = f"it has {len(bindings)} plastic arrays"
    for binding in bindings:
        rule = binding.rule
        if rule.kind != "synaptic":
            return (f"{head}; with several, compiled runs take synaptic rules only ({binding.state!r} has the "
                    f"neuron rule {rule.name!r})")
        if rule.totals:
            return (f"{head}; rule {rule.name!r} needs a per-sample total ({', '.join(rule.totals)}), which has no "
                    "Brian2 form yet")
        if rule.synaptic or set(rule.states) - set(hosted):
            return f"{head}; rule {rule.name!r} reads other matrices or neuron states (not in generated code yet)"
        if binding.gate is not None or binding.trace is not None or binding.batch_sum:
            return f"{head}; the binding of {binding.state!r} is gated, traced or batch-summed"
    if len({b.phase for b in bindings}) > 1:
        return f"{head} updated in {len({b.phase for b in bindings})} phases; compiled runs take one phase so far"
    populations = {p.name: p for p in circuit.populations()}
    inputs = [p for p in populations.values() if p.role == "input"]
    if len(inputs) != 1 or any(p.role not in ("neurons", "input", "readout") for p in populations.values()):
        return "compiled learning runs take one input population, simulated populations and readouts"
    source = inputs[0].name
    pairs = [(b.pre, b.post) for b in bindings]
    if len(set(pairs)) != len(pairs):
        return f"{head}; two of them join the same populations"
    for binding in bindings:
        if populations[binding.post].role != "neurons" or binding.pre not in (source, binding.post):
            return (f"{head}; the matrix {binding.state!r} ({binding.pre} -> {binding.post}) is neither from the "
                    "input nor recurrent (compiled runs with several matrices take those two kinds)")
    shapes = {}
    for b in bindings:
        state = np.asarray(circuit.state[b.state])
        shapes[b.state] = np.swapaxes(state, -1, -2).shape if b.transposed else state.shape
    rng = np.random.default_rng(12345)
    probes = {b.state: [rng.uniform(0.5, 1.5, shapes[b.state]) for _ in range(2)] for b in bindings}
    originals = {b.state: circuit.state[b.state] for b in bindings}

    def probe(values: dict[str, np.ndarray]) -> tuple[dict[Any, np.ndarray], dict[str, np.ndarray]]:
        try:
            for b in bindings:
                value = values.get(b.state, np.zeros(shapes[b.state]))
                circuit.state[b.state] = np.swapaxes(value, -1, -2) if b.transposed else value
            return ({k: np.array(w, dtype=float) for k, w in circuit.weights().items()},
                    {k: np.array(t, dtype=float) for k, t in circuit.thresholds().items()})
        finally:
            for b in bindings:
                circuit.state[b.state] = originals[b.state]

    w0, t0 = probe({})
    probed = {b.state: [probe({b.state: p}) for p in probes[b.state]] for b in bindings}
    result: dict[str, Any] = {"bindings": {b.state: {"edges": [], "theta": None, "bias": None} for b in bindings},
                              "fixed": {}, "inputs": {}, "theta": {}, "bias": {}, "readouts": {}}
    by_state = {b.state: b for b in bindings}

    def dependence(read: Any) -> list[str]:
        return [state for state, ((w1, t1), (w2, t2)) in probed.items()
                if not (np.array_equal(read(w1, t1), read(w0, t0)) and np.array_equal(read(w2, t2), read(w0, t0)))]

    for key in w0:
        s, t = key
        deps = dependence(lambda w, _t, key=key: w[key])
        if len(deps) > 1:
            return f"its weights {s} -> {t} change with several plastic matrices ({', '.join(deps)})"
        role = populations[t].role
        if not deps:
            if role == "readout":
                return f"its readout {t!r} does not read a plastic matrix (fixed readouts are not compiled yet)"
            if s == source:
                result["inputs"][t] = w0[key]
            else:
                result["fixed"][key] = w0[key]
            continue
        b = by_state[deps[0]]
        if (s, t) != (b.pre, b.post) and not (role == "readout" and s == b.pre == source):
            return f"its weights {s} -> {t} change with {b.state!r} but do not join its populations {b.pre} -> {b.post}"
        (w1, _), (w2, _) = probed[b.state]
        first, second = probes[b.state]
        c = (w1[key] - w0[key]) / first
        if c.shape != first.shape or not np.allclose(w2[key] - w0[key], c * second, atol=1e-12):
            return f"its weights {s} -> {t} are not affine (elementwise) in the plastic matrix {b.state!r}"
        if role == "readout":
            if populations[t].size != populations[b.post].size:
                return f"its readout {t!r} does not have the size of {b.post!r}, whose neurons would hold it"
            kind = "readout"
            result["readouts"][t] = b.state
        else:
            kind = "drive" if s == source else "lateral"
        result["bindings"][b.state]["edges"].append((kind, s, t, w0[key], c))
    for binding in bindings:
        for name, pop in binding.activities.items():
            for side in ("_pre", "_post"):
                if not binding.rule._uses(name + side):
                    continue
                if populations[pop].role == "readout":
                    holder = result["readouts"].get(pop)
                    if side != "_post" or holder is None or by_state[holder].post != binding.post:
                        return (f"rule {binding.rule.name!r} reads the readout {pop!r} as {name}{side}, which "
                                f"compiled runs hold only on the neurons of {binding.post!r} it shares a size with")
                elif pop != _side_population(binding, side):
                    return f"rule {binding.rule.name!r} reads {name}{side} but {name!r} is the activity of {pop!r}"
    summed_names: dict[str, set[str]] = {}
    for binding in bindings:
        taken = summed_names.setdefault(binding.post, set())
        clash = (set(binding.rule.summed) & (taken | _GROUP_NAMES)) or \
            {f"readout_{safe_name(r)}" for r in result["readouts"]} & set(binding.rule.summed)
        if clash:
            return f"rule {binding.rule.name!r}'s summed variables {sorted(clash)} clash with other variables"
        taken |= set(binding.rule.summed)
    for name, p in populations.items():
        if p.role != "neurons":
            continue
        deps = dependence(lambda _w, t, name=name: t[name])
        if len(deps) > 1:
            return f"the thresholds of {name!r} change with several plastic matrices"
        if deps:
            b = by_state[deps[0]]
            if (b.pre, b.post) != (name, name):
                return f"the thresholds of {name!r} change with {b.state!r}, which is not recurrent on {name!r}"
            (_, t1), (_, t2) = probed[b.state]
            first, second = (np.diagonal(p_, axis1=-2, axis2=-1) for p_ in probes[b.state])
            c = (t1[name] - t0[name]) / first
            if not np.allclose(t2[name] - t0[name], c * second, atol=1e-12):
                return f"the thresholds of {name!r} are not affine in the diagonal of {b.state!r}"
            result["bindings"][b.state]["theta"] = (t0[name], c)
        else:
            result["theta"][name] = t0[name]
    # biases of the offset code, bias_t = θ_t y0_t − Σ_s (Σ_j w_ts,ij) y0_s over simulated s
    for name, p in populations.items():
        if p.role != "neurons":
            continue
        sources = [(s, t) for (s, t) in w0 if t == name and populations[s].role == "neurons"
                   and float(populations[s].offset) != 0.0]
        changing = [st for st in result["bindings"] if result["bindings"][st]["theta"] is not None
                    and by_state[st].post == name and float(p.offset) != 0.0]
        changing += [st for st in result["bindings"] for kind, s, t, _, _ in result["bindings"][st]["edges"]
                     if kind == "lateral" and t == name and (s, t) in sources]
        fixed = (t0[name] if name in result["theta"] else 0.0 * t0[name]) * float(p.offset)
        for key in sources:
            if key in result["fixed"]:
                fixed = fixed - result["fixed"][key].sum(axis=-1) * float(populations[key[0]].offset)
        if not changing:
            result["bias"][name] = fixed
            continue
        if len(set(changing)) > 1:
            return f"the biases of {name!r} change with several plastic matrices"
        state = changing[0]
        entry = result["bindings"][state]
        k, n = shapes[state][0], shapes[state][-1]
        c_bias, const = np.zeros(shapes[state]), np.zeros(shapes[state])
        constant = fixed.copy()
        if entry["theta"] is not None:
            theta0, c_theta = entry["theta"]
            eye = np.eye(n, dtype=bool)[None]
            c_bias = c_bias + np.where(eye, c_theta[..., :, None], 0.0) * float(p.offset)
            constant = constant + theta0 * float(p.offset)
        for kind, s, _t, w0_edge, c in entry["edges"]:
            if kind == "lateral":
                c_bias = c_bias - c * float(populations[s].offset)
                constant = constant - w0_edge.sum(axis=-1) * float(populations[s].offset)
        const[..., 0] = constant.reshape(k, -1)
        entry["bias"] = (const, c_bias)
    return result
