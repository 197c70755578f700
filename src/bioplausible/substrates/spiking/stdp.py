"""Spike-timing plasticity on the integrate-and-fire network (``plasticity="stdp"``).

The second, more biological plasticity variant of the spiking substrate (issue 17, item 4):
each plastic synapse's rule in its pair-trace form (:mod:`bioplausible.rules.stdp`, derived
from the declared rule). For every pair of simulated populations whose spikes a rule
multiplies, one Brian2 ``Synapses`` object (block-diagonal over ensemble members, self-pairs
included) carries symmetric exponential traces and the pair sum::

    dapre/dt = -apre/tau (event-driven)     on_pre:  apre += 1;  pairs += apost
    dapost/dt = -apost/tau (event-driven)   on_post: apost += 1; pairs += apre

reset at each presentation onset (as the voltages are). ``pairs_ij`` is then
``Σ exp(−|t − s|/τ)`` over the spike pairs of the presentation, and ``P̂ = pairs/(r0² κ(T, τ))``
has the count product ``ρ_i ρ_j`` as its expectation for uncorrelated constant-rate trains
(:func:`~bioplausible.rules.stdp.pair_window`). τ is ``trace_time_constant`` of the substrate
(default: the presentation T, the window matched to the counting window).

The update at the end of each presentation (or batch) is the circuit's own declared update
(:class:`~bioplausible.circuits.base.RuleCircuit`: phases, gates, steps) with each synaptic
rule's change ``Δ_count + Σ_terms c ⊙ (P̂ − ρ_post ρ_preᵀ)``: its degree-2 spike-rate terms
read from the traces, the rest (exact functions of the counts) as in the count form.

Where we differ from a fully online rule (stated plainly): the pair increments are
accumulated at spike times (``c · Δpairs / (r0² κ)`` per spike) but the weights the *network*
uses (voltage jumps, thresholds, biases, derived from the plastic matrix) are refreshed at
presentation boundaries, as in the count form; the coefficient c (e.g. ``η``, ``1/D_i``,
``−W_ij/D_i``) is read as it stands at the presentation's start. Both differ from
per-spike application by O(η²) per presentation. Neuron-level rules (gains, NSM's learning
rates) keep their presentation-level form; a circuit whose only plastic arrays are
neuron-level, or one with a synaptic rule without a faithful pair-trace form, is refused
(:func:`stdp_support`).

The sequence family's one-pass write (kind ``"windowed-replay"``, SeqNet) has its own
realisation, :func:`stdp_write`: a *causal* trace from the cue window's spikes read by the next
window's spikes, the temporally asymmetric window of "pre at μ, post at μ+1".

Measured agreement with the count form: ``benchmarks/stdp_agreement.py``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ...circuits.base import Circuit, RuleCircuit
from ...core import Batch
from ...rules.declaration import apply_step, phases, rule_changes
from ...rules.stdp import PairTerm, TraceForm, causal_pair_window, pair_window, trace_form

__all__ = ["SpikeTimingPlasticity", "stdp_support", "binding_forms", "learn_with_pairs", "stdp_write", "write_form"]


def binding_forms(circuit: Circuit) -> dict[str, TraceForm]:
    """The trace form of each synaptic binding of ``circuit`` (by state name); raises
    ``ValueError`` with the reason for a synaptic rule without one."""
    circuit = declared(circuit)
    populations = {p.name: p for p in circuit.populations()}
    forms = {}
    for binding in circuit.rule_bindings():  # type: ignore[attr-defined]
        if binding.rule.kind != "synaptic":
            continue
        if binding.trace is not None:
            raise ValueError(f"the binding of {binding.state!r} runs an eligibility trace ({binding.trace.name!r}) "
                             "over trial time steps, not over spikes")
        spiking = {name: float(populations[pop].offset) for name, pop in binding.activities.items()
                   if pop in populations and populations[pop].role == "neurons"}
        forms[binding.state] = trace_form(binding.rule, spiking)
    return forms


#: The ±1 code of a clamped unit that fires at r0 (+1) or not (−1): ξ = 2ρ − 1.
CLAMPED = (2.0, 1.0)


def declared(circuit: Circuit) -> Circuit:
    """``circuit``, or, when it is not initialised yet (``supports`` is asked before a run), a
    small initialised copy whose bindings have the same structure."""
    if circuit.initialized:
        return circuit
    n = getattr(circuit.params, "n_inputs", None) or getattr(circuit.params, "n_sources", None) or 4
    for targets in (0, n):
        try:
            return copy.deepcopy(circuit).initialize(n, targets)
        except (ValueError, TypeError):
            continue
    return circuit


def write_form(circuit: Circuit) -> TraceForm:
    """The trace form of a sequence circuit's one-pass write on clamped windows (kind
    ``"windowed-replay"``): one binding on the visible units whose pre is the cue window
    (``cue``) and whose post is the next window (``next``); raises ``ValueError`` otherwise."""
    bindings = declared(circuit).rule_bindings()  # type: ignore[attr-defined]
    recruiting = [f"{b.state!r}" for b in bindings if b.recruit is not None]
    if recruiting:
        raise ValueError(f"its write recruits one memory unit per transition ({', '.join(recruiting)} grow by a "
                         "one-hot recruitment signal, not by the timing of visible spikes)")
    if len(bindings) != 1:
        raise ValueError(f"its write has {len(bindings)} plastic arrays; the clamped-window trace form takes one")
    binding = bindings[0]
    sides = {binding.activities.get(name) for name in binding.rule.activities}
    if binding.pre != binding.post or sides != {"cue", "next"}:
        raise ValueError("its write is not one product of the cue window's and the next window's visible spikes "
                         "(memory units are recruited by a one-hot signal, not by spike timing)")
    form = trace_form(binding.rule, {name: CLAMPED for name in binding.rule.activities})
    if any(t.kind != "pair" or binding.activities[t.pre] != "cue" or binding.activities[t.post] != "next"
           for t in form.terms) or not form.terms:
        raise ValueError("its write does not pair a cue-window spike (pre) with a next-window spike (post)")
    return form


def stdp_support(circuit: Circuit) -> str | None:
    """None when ``plasticity="stdp"`` realises ``circuit``, else why not."""
    if circuit.kind == "windowed-replay":
        if not isinstance(circuit, RuleCircuit) or type(circuit).learn is not RuleCircuit.learn:
            return ("its learn is not derived from its rule bindings, so there is no declared rule whose spike "
                    "products a trace could read")
        try:
            write_form(circuit)
        except ValueError as error:
            return f"no faithful spike-timing form: {error}"
        return None
    if circuit.kind != "fixed-point":
        return (f"plasticity='stdp' is built on the integrate-and-fire network (kind 'fixed-point'); kind "
                f"{circuit.kind!r} has no spike-timing form here yet")
    if not isinstance(circuit, RuleCircuit) or type(circuit).learn is not RuleCircuit.learn:
        return "plasticity='stdp' replaces the declared rules' spike products: the circuit's learn must be derived " \
               "from its rule bindings"
    try:
        forms = binding_forms(circuit)
    except ValueError as error:
        return f"no faithful spike-timing form: {error}"
    if not any(form.terms for form in forms.values()):
        return ("none of its plastic arrays is a synapse read by a product of two spike trains (its plasticity is "
                "neuron-level or analog × spike, exact in the counts): spike timing has nothing to change")
    return None


class SpikeTimingPlasticity:
    """The pair traces of one :class:`~.network.IFNetwork` and the update that reads them.

    ``log``: set to a list to have each update append ``{state: (count change, trace change)}``
    (the benchmark's per-presentation agreement); None by default."""

    def __init__(self, network: Any) -> None:
        reason = stdp_support(network.circuit)
        if reason:
            raise ValueError(f"{network.circuit.name} cannot learn with plasticity='stdp': {reason}")
        b2, substrate, circuit = network.b2, network.substrate, network.circuit
        self.network, self.circuit, self.substrate = network, circuit, substrate
        tau = substrate.trace_time_constant
        self.time_constant = substrate.presentation if tau is None else float(tau)
        self.window = pair_window(substrate.presentation, self.time_constant)
        self.scale = 1.0 / (substrate.rate_unit ** 2 * self.window)
        self.forms = binding_forms(circuit)
        self.log: list[dict[str, tuple[np.ndarray, np.ndarray]]] | None = None
        bindings = {b.state: b for b in circuit.rule_bindings()}  # type: ignore[attr-defined]
        #: population pairs (post, pre) whose spike pairs some term reads
        needed: set[tuple[str, str]] = set()
        for state, form in self.forms.items():
            activities = bindings[state].activities
            for term in form.terms:
                needed.add((activities[term.post], activities[term.pre]))
        k = circuit.ensemble_size
        if math.isinf(self.time_constant):
            model = "apre : 1\napost : 1\npairs : 1"
            namespace: dict[str, Any] = {}
        else:
            model = "dapre/dt = -apre / tau : 1 (event-driven)\ndapost/dt = -apost / tau : 1 (event-driven)\npairs : 1"
            namespace = {"tau": self.time_constant * b2.second}
        any_form = next(iter(self.forms.values()))
        self.synapses: dict[tuple[str, str], Any] = {}
        for post, pre in sorted(needed):
            n_post, n_pre = network.populations[post].size, network.populations[pre].size
            synapses = b2.Synapses(network.groups[pre], network.groups[post], model, on_pre=any_form.on_pre(),
                                   on_post=any_form.on_post(), namespace=namespace, dt=substrate.dt * b2.second,
                                   name=f"stdp_{_safe(pre)}_{_safe(post)}*")
            member, i, j = np.meshgrid(np.arange(k), np.arange(n_post), np.arange(n_pre), indexing="ij")
            synapses.connect(i=(member * n_pre + j).ravel(), j=(member * n_post + i).ravel())
            self.synapses[(post, pre)] = synapses
        self.pending: list[dict[tuple[str, str], np.ndarray]] = []

    @property
    def objects(self) -> list[Any]:
        return list(self.synapses.values())

    def start(self) -> None:
        """A presentation begins: traces and pair sums to zero."""
        for synapses in self.synapses.values():
            synapses.apre[:] = 0.0
            synapses.apost[:] = 0.0
            synapses.pairs[:] = 0.0

    def close(self) -> None:
        """A presentation ended: keep its pair estimates ``P̂`` (K, n_post, n_pre) per population pair."""
        k = self.circuit.ensemble_size
        estimates = {}
        for (post, pre), synapses in self.synapses.items():
            shape = (k, self.network.populations[post].size, self.network.populations[pre].size)
            estimates[(post, pre)] = np.asarray(synapses.pairs[:]).reshape(shape) * self.scale
        self.pending.append(estimates)

    def learn(self, activities: Mapping[str, np.ndarray], batch: Batch) -> None:
        """The circuit's declared update on the pending presentations, with each synaptic rule's
        spike-pair terms read from the traces (the module docstring)."""
        estimates = {key: np.stack([p[key] for p in self.pending], axis=1) for key in self.pending[0]}
        self.pending = []
        rates = {p.name: activities[p.name] + float(p.offset) for p in self.network.simulated}  # (K, B, n)

        def excess(binding: Any, term: PairTerm) -> np.ndarray:
            post_pop, pre_pop = binding.activities[term.post], binding.activities[term.pre]
            pairs = estimates[(post_pop, pre_pop)]
            if term.kind == "pair":
                return pairs - rates[post_pop][..., :, None] * rates[pre_pop][..., None, :]
            own = np.diagonal(pairs, axis1=-2, axis2=-1) - rates[post_pop] ** 2  # one neuron with itself
            return own[..., :, None] if term.kind == "post-self" else own[..., None, :]

        learn_with_pairs(self.substrate, self.circuit, self.forms, activities, batch, excess, self.log)


def learn_with_pairs(substrate: Any, circuit: Any, forms: Mapping[str, TraceForm], activities: Mapping[str, np.ndarray],
                     batch: Batch, excess: Callable[[Any, PairTerm], np.ndarray],
                     log: list[dict[str, tuple[np.ndarray, np.ndarray]]] | None = None) -> None:
    """One update of a :class:`~bioplausible.circuits.base.RuleCircuit` as its own ``learn``
    (phases, gates, steps), each synaptic binding with a trace form changed by its count-based
    change plus ``Σ_terms c ⊙ ⟨excess(binding, term)⟩_batch`` (``excess``: (K, B, n_post, n_pre)
    pair estimate minus count product; a ``batch_sum`` binding sums it over the batch)."""
    for observer in substrate.observers:
        observer(activities, batch)
    rule_activities = circuit.rule_activities(activities, batch)
    record: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    state = circuit.state
    for bound, stepped in phases(circuit.rule_bindings(), circuit.state_steps()):
        current = circuit.rule_states()
        changes = rule_changes(state, bound, rule_activities, current)
        for binding in bound:
            form = forms.get(binding.state)
            if form is None or binding.state not in changes or not form.terms:
                continue
            target = state[binding.state]
            target = np.swapaxes(target, -1, -2) if binding.transposed else target
            values = {binding.rule.target: target, **binding.parameters,
                      **{name: current[v] if isinstance(v, str) else v for name, v in binding.states.items()}}
            extra: Any = 0.0
            for term in form.terms:
                value = excess(binding, term)
                mean = np.sum(value, axis=1) if binding.batch_sum else np.mean(value, axis=1)
                extra = extra + form.correction(term, mean, **values)
            extra = np.broadcast_to(extra, target.shape)
            extra = np.swapaxes(extra, -1, -2) if binding.transposed else extra
            if binding.gate is not None:
                gate = np.asarray(current[binding.gate], dtype=float)
                extra = extra * gate.reshape(gate.shape + (1,) * (extra.ndim - gate.ndim))
            if log is not None:
                record[binding.state] = (changes[binding.state].copy(), changes[binding.state] + extra)
            changes[binding.state] = changes[binding.state] + extra
        for key, change in changes.items():
            state[key] = state[key] + change
        for step in stepped:
            apply_step(state, step, rule_activities)
    circuit.steps += 1
    if log is not None:
        log.append(record)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def stdp_write(substrate: Any, circuit: Any, batch: Batch, batch_size: int, first_step: int) -> dict[str, np.ndarray]:
    """The sequence write on clamped windows with a causal pair trace (``plasticity="stdp"``).

    As the count form (:func:`~bioplausible.substrates.spiking.replay.spiking_write`), each
    transition is two clamped windows of length T, ξ^μ then ξ^{μ+1} (active units fire at r0,
    silent ones not: ``ξ = 2ρ − 1``), in one Brian2 run. A visible→visible ``Synapses`` object
    (block-diagonal over members, self-pairs included) holds a presynaptic trace that only
    cue-window spikes raise and that postsynaptic spikes only in the next window read::

        dapre/dt = -apre/tau (event-driven)
        on_pre:  apre += cue(t)          on_post: pairs += apre * (1 - cue(t))

    reset at each transition's onset, so ``pairs_ij = Σ exp(−(t − s)/τ)`` over (cue spike s of
    j, next spike t of i): the temporally asymmetric, causal STDP window the rule's "pre at μ,
    post at μ+1" describes. ``P̂ = pairs/(r0² κ_c)``, ``κ_c = τ² (1 − e^{−T/τ})²``
    (:func:`~bioplausible.rules.stdp.causal_pair_window`), has ``ρ^{μ+1}_i ρ^μ_j`` as its
    expectation, and the write's change is the count form's with its pair term
    ``4η ρ_i ρ_j`` read from the trace (:func:`learn_with_pairs`).
    """
    from .replay import clamped_group, clamped_window_states, spiking_options
    from .substrate import run_network

    if batch.targets is None:
        raise ValueError("batch.targets must hold the next pattern of each transition, got None")
    form = write_form(circuit)
    binding = circuit.rule_bindings()[0]
    options = spiking_options(substrate)
    b2 = substrate.brian2()
    inputs = np.asarray(batch.inputs, dtype=float)
    targets = np.asarray(batch.targets, dtype=float)
    k, samples, n = inputs.shape
    window, dt, r0 = float(options["window"]), float(options["dt"]), float(options["rate_unit"])
    tau = window if substrate.trace_time_constant is None else float(substrate.trace_time_constant)
    period = window * b2.second
    cue = b2.TimedArray(np.tile([1.0, 0.0], samples), dt=period)
    group = clamped_group(substrate, inputs, targets, options, name="clamped_stdp*")
    spikes = b2.SpikeMonitor(group)
    if math.isinf(tau):
        model, namespace = "apre : 1\npairs : 1", {"cue": cue}
    else:
        model, namespace = "dapre/dt = -apre / tau : 1 (event-driven)\npairs : 1", {"cue": cue, "tau": tau * b2.second}
    synapses = b2.Synapses(group, group, model, on_pre="apre += cue(t)", on_post="pairs += apre * (1 - cue(t))",
                           namespace=namespace, dt=dt * b2.second, name="write_stdp*")
    member, post, pre = (a.ravel() for a in np.meshgrid(np.arange(k), np.arange(n), np.arange(n), indexing="ij"))
    synapses.connect(i=member * n + pre, j=member * n + post)
    synapses.run_regularly("apre = 0", dt=2 * period, when="start", order=-1)
    cumulative = b2.StateMonitor(synapses, "pairs", record=True, dt=2 * period, when="start", order=-2)
    run_network(b2.Network(group, spikes, synapses, cumulative), 2 * samples * period, namespace={})
    totals = np.concatenate([np.asarray(cumulative.pairs).T, np.asarray(synapses.pairs[:])[None]])
    pairs = np.diff(totals, axis=0).reshape(samples, k, n, n).transpose(1, 0, 2, 3)  # (K, S, n_post, n_pre)
    estimate = pairs / (r0**2 * causal_pair_window(window, tau))
    cue_states, next_states = clamped_window_states(b2, spikes, inputs.shape, options)  # the count form's decoding
    activities: dict[str, np.ndarray] = {}
    for update, start in enumerate(range(0, samples, batch_size)):
        part = slice(start, start + batch_size)
        activities = {"cue": cue_states[:, part], "visible": next_states[:, part]}
        rho_pre, rho_post = (cue_states[:, part] + 1.0) / 2.0, (next_states[:, part] + 1.0) / 2.0
        excess_part = estimate[:, part] - rho_post[..., :, None] * rho_pre[..., None, :]
        info = {key: value[:, part] for key, value in batch.info.items()}

        def excess(_binding: Any, _term: PairTerm, value: np.ndarray = excess_part) -> np.ndarray:
            return value

        learn_with_pairs(substrate, circuit, {binding.state: form}, activities,
                         Batch(cue_states[:, part], next_states[:, part], info), excess)
        circuit.check_finite(first_step + update + 1)
    return activities
