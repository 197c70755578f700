"""The spiking substrate: Brian2 networks built from a circuit's declaration.

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
Circuits whose dynamics do not fit this form set ``spiking_model = "<name>"`` and register
a builder with :func:`register_spiking_model`; a circuit (or configuration) that has no
faithful spiking realisation sets ``spiking_refusal`` to a sentence saying why, and the
substrate refuses it with that reason.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ..circuits.base import Batch, Circuit
from ..models.neurons import IntegrateAndFire
from ..rules.declaration import Brian2Plasticity
from ..validation import check_choice, check_positive
from .base import Substrate, register_substrate

SpikingModel = Callable[["SpikingSubstrate", Circuit, Batch, int, int], dict[str, np.ndarray]]
SPIKING_MODELS: dict[str, SpikingModel] = {}

CODEGEN_TARGETS = ("numpy", "cython")


def register_spiking_model(name: str) -> Callable[[SpikingModel], SpikingModel]:
    """Register ``builder(substrate, circuit, batch, batch_size, first_step) -> activities``.

    The builder simulates ``batch`` (K, S, n) on Brian2 with learning, exactly like
    :meth:`SpikingSubstrate.learn`, and returns the activities of the last update.
    """

    def decorator(builder: SpikingModel) -> SpikingModel:
        SPIKING_MODELS[name] = builder
        return builder

    return decorator


@register_substrate
class SpikingSubstrate(Substrate):
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
        Brian2 code-generation target, ``"numpy"`` (default: no compiler, fast start) or
        ``"cython"`` (compiled; cold compile takes minutes on 2 cores).
    cache_dir:
        Cython compile cache (default: Brian2's, ``$CYTHON_CACHE_DIR`` or ``~/.cython``).
    plasticity:
        ``"python"`` (default): the circuit's ``learn`` between presentations;
        ``"brian2"``: the declared rules' Brian2 form (``circuit.rule_bindings()``) as
        ``run_regularly`` code at presentation boundaries, with batch size 1.
    record_spikes:
        Record every spike of the simulated populations (a ``SpikeMonitor`` per population,
        drained and cleared after every chunk of presentations). The runner stores them as
        ``spikes_<population>`` (times in s from the start of the training stream).

    ``cpp_standalone`` is not offered for learning runs: presentation-level plasticity
    calls the circuit's Python rule functions between presentations, which a standalone
    binary cannot do (see :ref:`rate-to-spikes-learning`).
    """

    name = "spiking"
    description = "spiking network (Brian2): IF units, reset by subtraction, offset coding, count decoding"

    def __init__(
        self,
        rate_unit: float = 100.0,
        presentation: float = 0.1,
        dt: float = 1e-4,
        dither: bool = True,
        codegen: str = "numpy",
        cache_dir: str | os.PathLike[str] | None = None,
        record_spikes: bool = False,
        plasticity: str = "python",
    ) -> None:
        self.rate_unit = check_positive("rate_unit", rate_unit)
        self.presentation = check_positive("presentation", presentation)
        self.dt = check_positive("dt", dt)
        if self.presentation < 10 * self.dt:
            raise ValueError(f"presentation must be at least 10 × dt = {10 * self.dt} s, got {presentation}")
        if not isinstance(dither, bool):
            raise TypeError(f"dither must be a bool, got {dither!r}")
        self.dither = dither
        self.codegen = check_choice("codegen", codegen, CODEGEN_TARGETS)
        self.cache_dir = None if cache_dir is None else str(cache_dir)
        if not isinstance(record_spikes, bool):
            raise TypeError(f"record_spikes must be a bool, got {record_spikes!r}")
        self.record_spikes = record_spikes
        self.plasticity = check_choice("plasticity", plasticity, ["python", "brian2"])
        #: Recorded spikes per population: a list of (member, unit, time in s) array triples.
        self.spikes: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self.neuron = IntegrateAndFire(self.rate_unit, self.presentation)
        self.rng = np.random.default_rng(0)
        self._brian_seed = 0
        #: Networks built by spiking models, kept between chunks of one run (see ``close``).
        self.cache: dict[str, Any] = {}

    def prepare(self, circuit: Circuit, seed: int | np.random.SeedSequence) -> None:
        sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        self.rng = np.random.default_rng(sequence)
        self._brian_seed = int(sequence.generate_state(1)[0] % (2**31 - 1))
        self.cache = {}
        self.spikes = {}
        self.brian2()

    def close(self) -> None:
        self.cache = {}

    def learn(self, circuit: Circuit, batch: Batch, batch_size: int, first_step: int) -> dict[str, np.ndarray]:
        refusal = getattr(circuit, "spiking_refusal", None)
        if refusal:
            raise ValueError(f"{circuit.name} cannot run on the spiking substrate: {refusal}")
        model = getattr(circuit, "spiking_model", "integrate-and-fire")
        if model not in SPIKING_MODELS:
            raise ValueError(f"{circuit.name} asks for spiking model {model!r}; registered: {sorted(SPIKING_MODELS)}")
        return SPIKING_MODELS[model](self, circuit, batch, batch_size, first_step)

    def config(self) -> dict[str, Any]:
        return {
            "substrate": self.name, "rate_unit": self.rate_unit, "presentation": self.presentation,
            "dt": self.dt, "dither": self.dither, "codegen": self.codegen, "plasticity": self.plasticity,
        }

    def brian2(self) -> Any:
        """Import Brian2 with this substrate's preferences and seed applied."""
        import brian2 as b2

        b2.prefs.codegen.target = self.codegen
        b2.prefs.logging.file_log = False
        if self.cache_dir is not None:
            b2.prefs.codegen.runtime.cython.cache_dir = self.cache_dir
        if not self.cache:
            b2.seed(self._brian_seed)
        return b2


@register_spiking_model("integrate-and-fire")
def simulate_integrate_and_fire(
    substrate: SpikingSubstrate, circuit: Circuit, batch: Batch, batch_size: int, first_step: int
) -> dict[str, np.ndarray]:
    """Generic builder: one Brian2 network per run (built at the first chunk, reused after),
    learning per presentation."""
    network = substrate.cache.get("integrate-and-fire")
    if network is None or network.circuit is not circuit or batch.size > network.capacity:
        network = substrate.cache["integrate-and-fire"] = _IFNetwork(substrate, circuit, batch.size)
    return network.run(batch, batch_size, first_step)


class _IFNetwork:
    """The Brian2 objects for one chunk of presentations, and the boundary bookkeeping."""

    def __init__(self, substrate: SpikingSubstrate, circuit: Circuit, capacity: int) -> None:
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
        # one TimedArray for a whole chunk of presentations, refilled in place for the next chunk
        self.stimulus = b2.TimedArray(np.zeros((capacity, self.ensemble * input_pop.size)), dt=period)
        # inputs change once per presentation: the input group samples the TimedArray and the
        # summed drive is recomputed only at presentation onsets (not at every time step)
        self.input_group = b2.NeuronGroup(
            self.ensemble * input_pop.size, "x : 1\nchunk_start : second (shared)",
            namespace={"stimulus": self.stimulus}, dt=period, name="input_" + _safe(input_pop.name) + "*",
        )
        self.input_group.run_regularly("x = stimulus(t - chunk_start, i)", dt=period, when="start", order=-10)
        self.groups: dict[str, Any] = {}
        for p in self.simulated:
            sources = [s for (s, t) in edges if t == p.name and self.populations[s].role == "input"]
            drives = " + ".join(f"drive_{_safe(s)}" for s in sources) or "0"
            declarations = "\n".join(f"drive_{_safe(s)} : 1" for s in sources)
            for term in self.extra_drives(p):  # continuous drives a subclass adds (e.g. an inhibitory unit)
                drives, declarations = f"{drives} + {term}", f"{declarations}\n{term} : 1"
            equations = IntegrateAndFire.equations.format(drives=drives, drive_declarations=declarations)
            self.groups[p.name] = b2.NeuronGroup(
                self.ensemble * p.size, equations, threshold=IntegrateAndFire.threshold,
                reset=IntegrateAndFire.reset, method="euler", dt=substrate.dt * b2.second,
                refractory=False if p.ceiling is None else self._refractory_period(p) * b2.second,
                namespace={"rate_unit": substrate.rate_unit * b2.Hz}, name="pop_" + _safe(p.name) + "*",
            )
        self.synapses: dict[tuple[str, str], tuple[Any, tuple[np.ndarray, ...]]] = {}
        for source, target in edges:
            if self.populations[target].role != "neurons":
                continue
            post = self.groups[target]
            if self.populations[source].role == "input":
                model = f"w : 1\ndrive_{_safe(source)}_post = w * x_pre : 1 (summed)"
                synapse = b2.Synapses(self.input_group, post, model, dt=period,
                                      name=f"syn_{_safe(source)}_{_safe(target)}*")
                for updater in synapse.summed_updaters.values():
                    # after the boundary operation (order 0) has written the new weights
                    updater.when, updater.order = "start", 5
                    updater._clock = synapse.clock  # the drive only changes at presentation onsets
            else:
                synapse = b2.Synapses(self.groups[source], post, "w : 1", on_pre="v_post += w",
                                      dt=substrate.dt * b2.second, name=f"syn_{_safe(source)}_{_safe(target)}*")
            n_source, n_target = self.populations[source].size, self.populations[target].size
            member, post_index, pre_index = _block_indices(self.ensemble, n_source, n_target, source == target)
            synapse.connect(i=member * n_source + pre_index, j=member * n_target + post_index)
            order = (synapse.j[:] // n_target, synapse.j[:] % n_target, synapse.i[:] % n_source)
            self.synapses[(source, target)] = (synapse, order)
        self.plastic = self._brian2_plasticity(period) if substrate.plasticity == "brian2" else []
        self.operation = b2.NetworkOperation(self._boundary, dt=period, when="start")
        self.monitors = ({name: b2.SpikeMonitor(group, record=True) for name, group in self.groups.items()}
                         if substrate.record_spikes else {})
        self.network = b2.Network(self.input_group, *self.groups.values(),
                                  *[s for s, _ in self.synapses.values()], self.operation, *self.monitors.values(),
                                  *[o for _, p in self.plastic for o in p.objects])

    def _brian2_plasticity(self, period: Any) -> list[tuple[Any, Any]]:
        """The circuit's declared rules as Brian2 code (``substrate.plasticity == "brian2"``)."""
        bindings = getattr(self.circuit, "rule_bindings", None)
        if bindings is None:
            raise ValueError(f"{self.circuit.name} declares no rule bindings; use plasticity='python'")
        scale = self.substrate.rate_unit * self.substrate.presentation
        plastic = []
        for binding in bindings():
            pre, post = self.populations[binding.pre], self.populations[binding.post]
            names = {name: f"(count{{side}} / {scale!r} - {float(self.populations[pop].offset)!r})"
                     for name, pop in binding.activities.items()}
            runner = Brian2Plasticity(self.b2, self.groups[pre.name], self.groups[post.name], binding, self.ensemble,
                                      pre.size, post.size, names, dt=period)
            plastic.append((binding, runner))
        return plastic

    def extra_drives(self, population: Any) -> list[str]:
        """Names of further continuous drive variables (``v`` integrates ``r0 ·`` each) of a
        simulated population; subclasses that add graded units override it. None here."""
        return []

    def _refractory_period(self, population: Any) -> float:
        """The rate cap of a population with a ``ceiling`` as a refractory period (s)."""
        substrate = self.substrate
        offset, ceiling = float(population.offset), float(population.ceiling)
        steps, realised = substrate.neuron.refractory_steps(offset, ceiling, substrate.dt)
        if abs(realised - ceiling) > 0.01 * (offset + ceiling):
            period = 1.0 / (substrate.rate_unit * (offset + ceiling))
            raise ValueError(
                f"{self.circuit.name}: population {population.name!r} has ceiling {ceiling:g} (offset {offset:g}), "
                f"a rate cap of {substrate.rate_unit * (offset + ceiling):g} Hz = one spike per {period * 1e3:.4g} ms; "
                f"with dt = {substrate.dt * 1e3:g} ms the refractory period rounds to {steps} step(s), which caps "
                f"the activity at {realised:.4g} instead: choose dt dividing {period * 1e3:.4g} ms (or a lower "
                f"rate_unit)"
            )
        return steps * substrate.dt

    # ---------------------------------------------------------------- simulation
    def run(self, batch: Batch, batch_size: int, first_step: int) -> dict[str, np.ndarray]:
        """Present every sample of ``batch`` (K, S, n) once, learning every ``batch_size``."""
        self.batch, self.n_presentations = batch, batch.size
        self.batch_size, self.first_step = batch_size, first_step
        self.updates, self.presented, self.started = 0, 0, False
        self.pending: list[dict[str, np.ndarray]] = []
        self.last_activities: dict[str, np.ndarray] = {}
        values = batch.inputs.transpose(1, 0, 2).reshape(batch.size, -1)
        self.stimulus.values[: batch.size] = values
        self.input_group.chunk_start = self.network.t
        if self.plastic and batch_size != 1:
            raise ValueError(f"plasticity='brian2' learns at every presentation: batch_size must be 1, "
                             f"got {batch_size}")
        for binding, runner in self.plastic:
            matrix = self.circuit.state[binding.state]
            runner.set(np.swapaxes(matrix, -1, -2) if binding.transposed else matrix)
            runner.open(False)  # nothing counted yet at this run's first boundary
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
            for _, runner in self.plastic:  # the last presentation has no boundary after it
                runner.apply()
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
        for p in self.simulated:
            group = self.groups[p.name]
            theta = np.asarray(group.theta[:])
            start = self.substrate.rng.uniform(0.0, 1.0, theta.size) if self.substrate.dither else np.zeros(theta.size)
            group.v[:] = start * theta
            group.count[:] = 0
            if p.ceiling is not None:  # refractoriness does not carry over between presentations
                group.lastspike[:] = -1e4 * self.b2.second

    def _close_presentation(self) -> None:
        if self.presented >= self.n_presentations:
            return
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
        self.presented += 1
        self.pending.append(activities)
        if len(self.pending) == self.batch_size:
            self._apply_learning()

    def _apply_learning(self) -> None:
        start = self.presented - len(self.pending)
        activities = {name: np.stack([a[name] for a in self.pending], axis=1) for name in self.pending[0]}
        part = self.batch[start : self.presented]
        if self.plastic:  # the rules ran in Brian2: read the state back
            for binding, runner in self.plastic:
                matrix = runner.get()
                self.circuit.state[binding.state] = np.swapaxes(matrix, -1, -2) if binding.transposed else matrix
            self.circuit.steps += 1
        else:
            self.circuit.learn(activities, part)
        self.updates += 1
        self.circuit.check_finite(self.first_step + self.updates)
        self.last_activities = activities
        self.pending = []
        self._write_parameters()

    def _write_parameters(self) -> None:
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
        smallest = min(float(t.min()) for t in thresholds.values())
        if smallest <= 0:
            raise ValueError(
                f"{self.circuit.name}: integrate-and-fire thresholds (the populations' self-terms, e.g. a "
                f"leak parameter) must be positive on the spiking substrate; the smallest is {smallest:.3g}"
            )


def _block_indices(ensemble: int, n_source: int, n_target: int, recurrent: bool) -> tuple[np.ndarray, ...]:
    member, post, pre = np.meshgrid(np.arange(ensemble), np.arange(n_target), np.arange(n_source), indexing="ij")
    member, post, pre = member.ravel(), post.ravel(), pre.ravel()
    if recurrent:
        keep = post != pre
        member, post, pre = member[keep], post[keep], pre[keep]
    return member, post, pre


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)
