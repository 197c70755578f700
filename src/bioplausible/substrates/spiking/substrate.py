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
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...circuits.base import Circuit
from ...core import Batch, Registry
from ...models.neurons import IntegrateAndFire
from ...validation import check_choice, check_positive
from ..base import Substrate, register_substrate

__all__ = ["SpikingSubstrate", "Builder", "BUILDERS", "REFUSALS", "register_builder", "register_refusal",
           "CODEGEN_TARGETS"]

CODEGEN_TARGETS = ("numpy", "cython")

Learn = Callable[["SpikingSubstrate", Circuit, Batch, int, int], dict[str, np.ndarray]]
Replay = Callable[["SpikingSubstrate", Circuit, np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class Builder:
    """How this substrate realises one kind of circuit: ``learn(substrate, circuit, batch,
    batch_size, first_step) -> activities`` (like :meth:`SpikingSubstrate.learn`), optionally
    ``rollout(substrate, circuit, cue, n_steps) -> states`` and ``supports(circuit) -> None |
    reason`` for configurations of the kind it cannot build."""

    kind: str
    learn: Learn
    rollout: Replay | None = None
    supports: Callable[[Circuit], str | None] | None = None


#: Builders by the circuit kind they realise.
BUILDERS: Registry = Registry("spiking builder")
#: Kinds this substrate has no faithful realisation of: kind -> reason(circuit).
REFUSALS: Registry = Registry("spiking refusal")


def register_builder(kind: str, *, rollout: Replay | None = None,
                     supports: Callable[[Circuit], str | None] | None = None) -> Callable[[Learn], Learn]:
    """Decorator: register ``learn`` (and ``rollout``, ``supports``) as the builder of ``kind``;
    a second builder for the same kind is refused."""

    def decorator(learn: Learn) -> Learn:
        BUILDERS[kind] = Builder(kind, learn, rollout, supports)
        return learn

    return decorator


def register_refusal(kind: str, reason: str | Callable[[Circuit], str]) -> None:
    """Declare that this substrate does not realise ``kind``, and why (a sentence, or a
    function of the circuit returning one)."""
    REFUSALS[kind] = reason if callable(reason) else (lambda circuit, text=reason: text)


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
        #: Seed of this run's Brian2 and replay randomness (set by ``prepare`` from the run seed).
        self.seed = 0
        #: Networks built by spiking models, kept between chunks of one run (see ``close``).
        self.cache: dict[str, Any] = {}

    def prepare(self, circuit: Circuit, seed: int | np.random.SeedSequence) -> None:
        sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        self.rng = np.random.default_rng(sequence)
        self.seed = int(sequence.generate_state(1)[0] % (2**31 - 1))
        self.cache = {}
        self.spikes = {}
        self.brian2()

    def close(self) -> None:
        self.cache = {}

    def supports(self, circuit: Circuit) -> str | None:
        """None when a builder realises ``circuit`` on spikes, else the reason it cannot run here."""
        kind = circuit.kind
        if kind in REFUSALS:
            return REFUSALS[kind](circuit)
        if kind not in BUILDERS:
            return f"no spiking builder is registered for its kind {kind!r} (registered: {sorted(BUILDERS)})"
        check = BUILDERS[kind].supports
        return None if check is None else check(circuit)

    def _builder(self, circuit: Circuit) -> Builder:
        reason = self.supports(circuit)
        if reason:
            raise ValueError(f"{circuit.name} cannot run on the spiking substrate: {reason}")
        return BUILDERS[circuit.kind]

    def learn(self, circuit: Circuit, batch: Batch, batch_size: int, first_step: int) -> dict[str, np.ndarray]:
        return self._builder(circuit).learn(self, circuit, batch, batch_size, first_step)

    def rollout(self, circuit: Circuit, cue: np.ndarray, n_steps: int) -> np.ndarray:
        """The circuit's trajectory from ``cue`` replayed on spikes (builders of kinds with a rollout)."""
        builder = self._builder(circuit)
        if builder.rollout is None:
            raise ValueError(f"{circuit.name}: the spiking builder of kind {circuit.kind!r} has no rollout")
        return builder.rollout(self, circuit, cue, n_steps)

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
            b2.seed(self.seed)
        return b2
