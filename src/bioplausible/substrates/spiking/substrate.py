"""The spiking substrate: Brian2 networks built from a circuit's declaration, by its kind.

Default model ("integrate-and-fire", see :ref:`rate-to-spikes`): every population of
role ``"neurons"`` becomes a group of non-leaky IF units with reset by subtraction; the
fixed-point equation the circuit declares,

    threshold_p ∘ a_p = φ_p(Σ_q weight_qp a_q),

is realised by offset coding (rate = r0 (y0 + a)) as

* drive from an input population q: a ``(summed)`` synaptic variable ``w · x_pre`` with the
  inputs of all presentations in one ``TimedArray`` (one long run, no ``run()`` per trial);
* connection between simulated populations: a voltage jump ``v_post += w`` per spike;
* the threshold (self-term) as the reset ``v −= θ``, and the constant part of the offset
  code in a per-neuron ``bias = θ y0 − Σ_q weight_qp y0_q``.

Counting then gives ``a = count/(r0 T) − y0`` at the fixed point, up to O(1/(r0 T)). At each
presentation boundary a ``network_operation`` decodes the counts, calls the circuit's own
``learn`` (the same rule functions as the rate substrate) every ``batch_size``
presentations, writes the new weights into the synapses, and resets the voltage to a
uniform random value in ``[0, θ)`` (dithering; without it counts round down).

Box-constrained populations (``Population.ceiling`` c set) realise the clipped fixed point
``a = clip(Σ_q weight_qp a_q / θ_p, −y0, c)``: the lower clip is the zero-rate rectification
of the offset code (so a box ``[lo, c]`` takes ``y0 = −lo``), the upper one a rate cap, an
absolute refractory period ``t_ref = 1/(r0 (y0 + c))`` (Brian2 ``refractory=`` without
``(unless refractory)``: the voltage keeps integrating, only the threshold is not checked).
A unit driven past the cap fires exactly every ``t_ref``, its surplus accumulating in ``v``;
a unit below it is an ordinary sigma–delta IF unit. Together they solve the coordinate-wise
box condition ``a_i = clip((b_i − Σ_{j≠i} A_ij a_j)/A_ii, lo, c)``, i.e. the box-QP
``argmin_{lo≤a≤c} ½aᵀAa − bᵀa`` for symmetric positive definite A, up to O(1/(r0 T)).
Brian2 counts ``t_ref`` in whole steps of ``dt``: the builder rounds it to ``n`` steps and
refuses (naming the population) when the realised ceiling ``1/(r0 n dt) − y0`` differs
from the declared one by more than 1 % of ``y0 + c``; choose ``dt`` dividing ``t_ref``
(e.g. r0 = 100 Hz, dt = 1 ms: ``t_ref`` = 10 ms for [0, 1], 5 ms for [−1, 1]). The count
of a capped unit is at most ``⌈T/t_ref⌉``, exactly ``T/t_ref`` when ``T`` is a multiple of
``t_ref``. Refractoriness is reset with the voltage at each presentation.

K ensemble members are K blocks of neurons in the same groups (block-diagonal synapses).
Builders. A circuit declares the *kind* of its dynamics (``circuit.kind``, e.g.
``"fixed-point"``, ``"threshold-unit"``, ``"layered"``, ``"windowed-replay"``); this package
registers one Brian2 builder per kind with :func:`register_builder` (Nengo's
``Builder.register`` by type; a second builder for a kind is refused). A kind this substrate
has no faithful realisation of is registered with :func:`register_refusal` and the reason;
:meth:`SpikingSubstrate.supports` answers ``None`` or that reason for any circuit, and
``learn`` / ``rollout`` refuse an unsupported circuit with it.
:meth:`SpikingSubstrate.estimate_cost` reckons what a run would take here (time steps, code
objects, units, ``Network.run`` calls, the target ``codegen="auto"`` picks); the quick
comparison runs on spikes what the substrate supports and estimates within its budget, and
prints the reason (refusal or estimate) for everything else.

Resumption is exact for the same target and seed: the dither values are drawn from the
substrate's generator presentation by presentation, and a run that resumes a circuit trained
for ``circuit.steps`` presentations first advances the generator past their values
(:meth:`SpikingSubstrate.resume_dither`), so run(N) equals run(N/2) then run(N/2).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...circuits.base import Circuit
from ...core import AnyBatch, Registry
from ...models.neurons import IntegrateAndFire
from ...validation import check_choice, check_positive
from ..base import Cost, Substrate, register_substrate
from .learning_runs import LearningRuns

__all__ = ["SpikingSubstrate", "Builder", "BUILDERS", "REFUSALS", "register_builder", "register_refusal",
           "CODEGEN_TARGETS", "run_network"]

CODEGEN_TARGETS = ("auto", "numpy", "cython", "cpp_standalone")
#: Cost model of :meth:`SpikingSubstrate.estimate_cost` (seconds; measured on the 2-core machine,
#: Brian2 2.9 numpy target): per time step and code object that runs every step, per time step
#: and simulated unit, per time step and input synapse (summed drives), per ``Network.run``
#: call, per network built, per Python rule call between presentations, the fixed cost of a
#: run (import, network construction), and a cold cpp_standalone build.
COST_MODEL = {"object_step": 8e-6, "unit_step": 4e-8, "synapse_step": 2e-9, "network_run": 0.03,
              "network_build": 0.4, "python_update": 3e-4, "setup": 1.5, "standalone_build": 8.0,
              "standalone_speedup": 40.0}
Learn = Callable[["SpikingSubstrate", Circuit, Any, int, int], dict[str, np.ndarray]]
Replay = Callable[["SpikingSubstrate", Circuit, np.ndarray, int], np.ndarray]
#: ``work(substrate, circuit, task, steps, eval_every) -> (windows, copies, runs, builds)``: how
#: many counting windows a run simulates one after the other, how many copies of the circuit's
#: units run side by side (trials folded into the network), how many ``Network.run`` calls and
#: how many networks it builds.
Work = Callable[["SpikingSubstrate", Circuit, Any, int, int], tuple[int, int, int, int]]


@dataclass(frozen=True)
class Builder:
    """How this substrate realises one kind of circuit: ``learn(substrate, circuit, batch,
    batch_size, first_step) -> activities`` (like :meth:`SpikingSubstrate.learn`), optionally
    ``rollout(substrate, circuit, cue, n_steps) -> states``, ``supports(circuit) -> None |
    reason`` for configurations of the kind it cannot build, and ``plasticity(circuit,
    plasticity) -> None | reason`` for a ``plasticity`` other than "python" it cannot run
    (asked before the substrate's generic answer for that plasticity)."""

    kind: str
    learn: Learn
    rollout: Replay | None = None
    supports: Callable[[Circuit], str | None] | None = None
    work: Work | None = None
    plasticity: Callable[[Circuit, str], str | None] | None = None


#: Builders by the circuit kind they realise.
BUILDERS: Registry = Registry("spiking builder")
#: Kinds this substrate has no faithful realisation of: kind -> reason(circuit).
REFUSALS: Registry = Registry("spiking refusal")


def register_builder(kind: str, *, rollout: Replay | None = None,
                     supports: Callable[[Circuit], str | None] | None = None,
                     work: Work | None = None,
                     plasticity: Callable[[Circuit, str], str | None] | None = None) -> Callable[[Learn], Learn]:
    """Decorator: register ``learn`` (and ``rollout``, ``supports``, ``work`` for the cost
    estimate, ``plasticity`` for the plasticity options it refuses) as the builder of
    ``kind``; a second builder for the same kind is refused."""

    def decorator(learn: Learn) -> Learn:
        BUILDERS[kind] = Builder(kind, learn, rollout, supports, work, plasticity)
        return learn

    return decorator


def register_refusal(kind: str, reason: str | Callable[[Circuit], str]) -> None:
    """Declare that this substrate does not realise ``kind``, and why (a sentence, or a
    function of the circuit returning one)."""
    REFUSALS[kind] = reason if callable(reason) else (lambda circuit, text=reason: text)


def run_network(network: Any, duration: Any, **options: Any) -> None:
    """``network.run(duration, **options)`` with the objects that exist now frozen (``gc.freeze``):
    Brian2 starts every ``Network.run`` with a full ``gc.collect()`` (to warn of objects left
    out of a network), which walks the whole heap of the process, 0.1–0.3 s beside pandas,
    xarray and sympy, often more than a short run's simulation; frozen, it walks only what was
    made since."""
    gc.freeze()
    try:
        network.run(duration, **options)
    finally:
        gc.unfreeze()


def _default_work(substrate: SpikingSubstrate, circuit: Circuit, task: Any, steps: int,
                  eval_every: int) -> tuple[int, int, int, int]:
    """One counting window per sample, the samples one after the other, a ``Network.run`` per
    evaluation interval, one network."""
    batch_size = int(getattr(task, "default_batch_size", 1))
    return steps * batch_size, 1, -(-steps // eval_every), 1


@register_substrate
class SpikingSubstrate(LearningRuns, Substrate):
    """Brian2 realisation of any circuit (see the module docstring).

    Parameters
    ----------
    rate_unit:
        r0 in Hz: the firing rate that encodes one unit of activity.
    presentation:
        T in seconds: how long each sample is presented (the counting window).
    dt:
        Simulation time step in seconds; keep ``r0 (y0 + a) dt`` well below 1.
    dither:
        Reset each unit's voltage uniformly in ``[0, θ)`` at every presentation.
    codegen:
        Brian2 code-generation target: ``"numpy"`` (no compiler, fast start),
        ``"cython"`` (compiled; cold compile takes minutes on 2 cores), ``"cpp_standalone"``
        (whole learning runs only, :meth:`learning_run`: one binary per architecture, cached on
        disk) or ``"auto"``: for :meth:`learning_run`, cpp_standalone when a compiler is there
        and the run is long enough to pay for the build (or the build is cached), else numpy;
        for the chunked runtime paths (``learn``, ``rollout``), numpy. The default is ``"auto"``. The pick is
        ``codegen_used`` in :meth:`config` (and so in a run's attrs).
    cache_dir:
        Cython compile cache (default: Brian2's, ``$CYTHON_CACHE_DIR`` or ``~/.cython``).
    plasticity:
        ``"python"`` (default): the circuit's ``learn`` between presentations;
        ``"brian2"``: the declared rules' Brian2 form (``circuit.rule_bindings()``) as
        ``run_regularly`` code at presentation boundaries (synaptic and neuron rules of
        activities and constant states), with batch size 1, phase by phase,
        each phase's declared steps (``circuit.state_steps()``) run in Python after its rules
        (:func:`~.brian2_learning.brian2_plasticity_support` names what it cannot run);
        ``"stdp"``: spike-timing plasticity, each synaptic rule's products of two spike trains
        read by pre/post exponential traces at spike times (:mod:`bioplausible.substrates.spiking.stdp`, derived by
        :mod:`bioplausible.rules.stdp`); runs on the chunked runtime path.
    trace_time_constant:
        τ (s) of the ``"stdp"`` traces; default (None) the presentation T; ``math.inf``: no
        decay within a presentation (the pair sums are then the count products exactly).
    compiled_runs:
        Let the runner (:func:`~bioplausible.experiments.run`) run a whole learning run as one
        Brian2 run in generated code (:meth:`learning_run`) where the circuit allows it
        (:meth:`learning_run_reason`); ``False`` keeps the chunked path with Python between
        presentations.
    record_spikes:
        Record every spike of the simulated populations (a ``SpikeMonitor`` per population,
        drained and cleared after every chunk of presentations). The runner stores them as
        ``spikes_<population>`` (times in s from the start of the training stream).
    parallel_batch:
        Layered (supervised) circuits with Python rules and a batch size B > 1: present the B
        samples of each mini-batch at once, each to its own copy of the network, instead of one
        after another (:mod:`bioplausible.substrates.spiking.layered`); the presentations of
        one update are independent either way (each starts from a dithered voltage, the
        weights change between mini-batches), so the counts the rule sees are the same in
        distribution, in one counting window per update instead of B.

    :meth:`learning_run` runs a whole learning run in generated code (stimulus, dithering,
    the rules' Brian2 forms at boundaries, checkpoints) on any target, for the circuits
    :func:`~.compiled.compiled_support` accepts (one plastic array, or several synaptic
    matrices of one phase such as CorInfoMax's W and B_y, :mod:`~.compiled_multi`; it names
    the reason for the others, e.g. NSM's state steps); the chunked ``learn`` path calls the
    circuit's Python rules between presentations and so runs on numpy or cython only.
    """

    name = "spiking"
    description = "spiking network (Brian2): IF units, reset by subtraction, offset coding, count decoding"

    def __init__(
        self,
        rate_unit: float = 100.0,
        presentation: float = 0.1,
        dt: float = 1e-4,
        dither: bool = True,
        codegen: str = "auto",
        cache_dir: str | os.PathLike[str] | None = None,
        record_spikes: bool = False,
        plasticity: str = "python",
        compiled_runs: bool = True,
        trace_time_constant: float | None = None,
        parallel_batch: bool = False,
    ) -> None:
        self.rate_unit = check_positive("rate_unit", rate_unit)
        self.presentation = check_positive("presentation", presentation)
        self.dt = check_positive("dt", dt)
        if self.presentation < 10 * self.dt:
            raise ValueError(f"presentation must be at least 10 × dt = {10 * self.dt} s, got {presentation}")
        if not isinstance(dither, bool):
            raise TypeError(f"dither must be a bool, got {dither!r}")
        self.dither = dither
        #: The requested target; ``codegen`` is the one the chunked runtime paths use.
        self.codegen_option = check_choice("codegen", codegen, CODEGEN_TARGETS)
        self.codegen = "numpy" if codegen == "auto" else codegen
        #: The target the last run used (``codegen="auto"`` records its pick here).
        self.codegen_used: str | None = None
        self.cache_dir = None if cache_dir is None else str(cache_dir)
        if not isinstance(record_spikes, bool):
            raise TypeError(f"record_spikes must be a bool, got {record_spikes!r}")
        self.record_spikes = record_spikes
        self.plasticity = check_choice("plasticity", plasticity, ["python", "brian2", "stdp"])
        if trace_time_constant is not None and trace_time_constant != float("inf"):
            trace_time_constant = check_positive("trace_time_constant", trace_time_constant)
        self.trace_time_constant = trace_time_constant
        if not isinstance(compiled_runs, bool):
            raise TypeError(f"compiled_runs must be a bool, got {compiled_runs!r}")
        self.compiled_runs = compiled_runs
        if not isinstance(parallel_batch, bool):
            raise TypeError(f"parallel_batch must be a bool, got {parallel_batch!r}")
        self.parallel_batch = parallel_batch
        #: Why the last learning run used the target it used.
        self.codegen_reason: str | None = None
        #: Recorded spikes per population: a list of (member, unit, time in s) array triples.
        self.spikes: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self.neuron = IntegrateAndFire(self.rate_unit, self.presentation)
        self.rng = np.random.default_rng(0)
        #: Presentations of the circuit's training stream whose dither values ``rng`` has drawn.
        self.presented = 0
        #: Seed of this run's Brian2 and replay randomness (set by ``prepare`` from the run seed).
        self.seed = 0
        #: Networks built by spiking models, kept between chunks of one run (see ``close``).
        self.cache: dict[Any, Any] = {}
        #: (circuit, population) pairs warned of saturation since ``prepare`` (:meth:`note_saturation`).
        self.saturation_warned: set[tuple[str, str]] = set()

    def prepare(self, circuit: Circuit, seed: int | np.random.SeedSequence) -> None:
        sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        self.rng = np.random.default_rng(sequence)
        self.presented = 0
        self.seed = int(sequence.generate_state(1)[0] % (2**31 - 1))
        self.cache = {}
        self.spikes = {}
        self.saturation_warned = set()
        self.brian2()

    def close(self) -> None:
        self.cache = {}

    @property
    def steps_per_presentation(self) -> int:
        """Time steps of one presentation: the most spikes a unit can fire in it."""
        return max(int(round(self.presentation / self.dt)), 1)

    def note_saturation(self, circuit: str, population: Any, saturated: int, presentations: int) -> None:
        """Warn (:class:`~bioplausible.errors.SaturationWarning`, once per population after ``prepare``)
        when units of ``population`` fired at every time step in ``saturated`` of
        ``presentations`` unit-presentations: their activity was clipped at ``1/(r0 dt) − y0``."""
        if saturated <= 0 or (circuit, population.name) in self.saturation_warned:
            return
        self.saturation_warned.add((circuit, population.name))
        import warnings

        from ...errors import SaturationWarning

        bound = 1.0 / (self.rate_unit * self.dt) - float(population.offset)
        warnings.warn(SaturationWarning(
            f"{circuit} on spikes: units of {population.name!r} fired at every time step (first seen in {saturated} "
            f"of {presentations} unit-presentations), so their activity above 1/(rate_unit dt) - offset = {bound:g} "
            f"was clipped; lower dt or rate_unit (each unit fires at most once per step)"), stacklevel=2)

    def resume_dither(self, presented: int, per_presentation: int) -> None:
        """Before presenting the stream from presentation ``presented`` on: advance the dither
        generator past the values of the presentations it has not drawn (those a resumed
        circuit learned from in an earlier run, ``per_presentation`` values each), so that a
        run split in two draws what the whole run draws (exact resume for the same target and
        seed); then count the presentations from there."""
        behind = int(presented) - self.presented
        if self.dither and behind > 0:
            self.rng.uniform(0.0, 1.0, (behind, int(per_presentation)))
        self.presented = max(self.presented, int(presented))

    def supports(self, circuit: Circuit) -> str | None:
        """None when a builder realises ``circuit`` on spikes, else the reason it cannot run here."""
        kind = circuit.kind
        if kind in REFUSALS:
            return REFUSALS[kind](circuit)
        if kind not in BUILDERS:
            return f"no spiking builder is registered for its kind {kind!r} (registered: {sorted(BUILDERS)})"
        check, plasticity = BUILDERS[kind].supports, BUILDERS[kind].plasticity
        reason = None if check is None else check(circuit)
        if reason is None and plasticity is not None and self.plasticity != "python":
            reason = plasticity(circuit, self.plasticity)
        if reason is None and self.plasticity == "stdp":
            from .stdp import stdp_support

            reason = stdp_support(circuit)
        if reason is None and self.plasticity == "brian2":
            from .network import brian2_support

            reason = brian2_support(circuit)
        return reason

    def estimate_cost(self, circuit: Circuit, task: Any, steps: int, n_members: int = 1,
                      eval_every: int | None = None) -> Cost:
        """What training ``circuit`` on ``task`` for ``steps`` updates (``n_members`` ensemble
        members folded into one network, scored every ``eval_every``) costs on this substrate,
        reckoned from the work (time steps × the code objects and units that run each step,
        ``Network.run`` calls, Python rule calls) and the target :meth:`pick_codegen` would
        choose, with the constants of :data:`COST_MODEL`. Scoring on spikes (a sequence
        task's replay) is counted as learning windows by the builder's ``work``."""
        import copy

        eval_every = min(steps, eval_every or getattr(task, "default_eval_every", steps))
        sized = circuit
        if not circuit.initialized:
            sized = copy.deepcopy(circuit).initialize(task.n_inputs, task.n_targets, list(range(n_members)))
        builder = BUILDERS.get(circuit.kind)
        work = builder.work if builder is not None and builder.work is not None else _default_work
        windows, copies, runs, builds = work(self, sized, task, steps, eval_every)
        per_window = round(self.presentation / self.dt)
        time_steps = windows * per_window
        populations = sized.populations()
        simulated = {p.name for p in populations if p.role == "neurons"}
        lateral = sum(1 for c in sized.connections() if c.source in simulated and c.target in simulated)
        units = n_members * copies * sum(p.size for p in populations if p.role == "neurons")
        sizes = {p.name: p.size for p in populations}
        # the generic IF network's input drives are summed variables, recomputed every step
        inputs = {p.name for p in populations if p.role == "input"} if work is _default_work else set()
        synapses = n_members * copies * sum(sizes.get(c.source, 0) * sizes.get(c.target, 0) for c in sized.connections()
                                            if c.source in inputs and c.target in simulated)
        model = COST_MODEL
        step_cost = (model["object_step"] * (1 + 3 * len(simulated) + 2 * lateral) + model["unit_step"] * units
                     + model["synapse_step"] * synapses)
        batch_size = getattr(task, "default_batch_size", 1)
        whole = batch_size == 1 and self.learning_run_reason(sized) is None
        target, build = "numpy", 0.0
        if whole:
            target, _ = self.pick_codegen(sized, steps, eval_every)
            runs = 1
            if target == "cpp_standalone":
                step_cost /= model["standalone_speedup"]
                from .compiled import compiled_learning, standalone_cache_dir

                key = compiled_learning(self, sized, steps, eval_every, "cpp_standalone").key()
                build = 0.0 if (standalone_cache_dir() / key).is_dir() else model["standalone_build"]
        python = 0.0 if whole else steps * model["python_update"]
        seconds = (model["setup"] + build + time_steps * step_cost + runs * model["network_run"]
                   + builds * model["network_build"] + python)
        how = "one run in generated code" if whole else f"{runs} chunks with Python between presentations"
        detail = (f"{time_steps:,} time steps of {self.dt:g} s ({windows:,} windows of {self.presentation:g} s, "
                  f"{units:,} units) on {target}, {how}" + (", plus a cold standalone build" if build else ""))
        return Cost(float(seconds), detail, generated_code=whole)

    def _builder(self, circuit: Circuit) -> Builder:
        reason = self.supports(circuit)
        if reason:
            raise ValueError(f"{circuit.name} cannot run on the spiking substrate: {reason}")
        return BUILDERS[circuit.kind]

    def _runtime(self, what: str) -> None:
        if self.codegen == "cpp_standalone":
            raise ValueError(f"codegen='cpp_standalone' runs whole learning runs only (learning_run); {what} "
                             "calls Python between presentations: use codegen='numpy', 'cython' or 'auto'")
        self.codegen_used = self.codegen
        self.codegen_reason = ("requested" if self.codegen_option == self.codegen
                               else "auto: the chunked path (Python between presentations) runs on numpy")

    def learn(self, circuit: Circuit, batch: AnyBatch, batch_size: int, first_step: int) -> dict[str, np.ndarray]:
        self._runtime("learn")
        return self._builder(circuit).learn(self, circuit, batch, batch_size, first_step)

    def rollout(self, circuit: Circuit, cue: np.ndarray, n_steps: int) -> np.ndarray:
        """The circuit's trajectory from ``cue`` replayed on spikes (builders of kinds with a rollout)."""
        self._runtime("rollout")
        builder = self._builder(circuit)
        if builder.rollout is None:
            raise ValueError(f"{circuit.name}: the spiking builder of kind {circuit.kind!r} has no rollout")
        return builder.rollout(self, circuit, cue, n_steps)

    def config(self) -> dict[str, Any]:
        return {
            "substrate": self.name, "rate_unit": self.rate_unit, "presentation": self.presentation,
            "dt": self.dt, "dither": self.dither, "codegen": self.codegen_option, "codegen_used": self.codegen_used,
            "codegen_reason": self.codegen_reason, "plasticity": self.plasticity, "compiled_runs": self.compiled_runs,
            "trace_time_constant": self.trace_time_constant, "parallel_batch": self.parallel_batch,
        }

    def brian2(self) -> Any:
        """Import Brian2 with this substrate's preferences and seed applied."""
        import brian2 as b2

        b2.prefs.codegen.target = self.codegen if self.codegen in ("numpy", "cython") else "numpy"
        b2.prefs.logging.file_log = False
        if self.cache_dir is not None:
            b2.prefs.codegen.runtime.cython.cache_dir = self.cache_dir
        if not self.cache:
            b2.seed(self.seed)
        return b2
