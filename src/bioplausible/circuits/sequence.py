"""Sequence memory: asymmetric Hopfield networks that replay a stored sequence
(theory: :ref:`theory-sequence`).

A cyclic sequence of ±1 patterns ξ¹…ξᴾ (rows of Ξ, ``ξᴾ⁺¹ ≡ ξ¹``) is written in one pass by a
temporally asymmetric Hebbian rule (:func:`bioplausible.rules.sequence.asymmetric_hebbian`:
pre at step μ, post at step μ+1) and recalled by synchronous updates

    S(t+1) = sgn( Σ_μ ξ^{μ+1} f(m^μ(S(t))) ),   m^μ(S) = ξ^μ·S / N,   sgn(0) = +1.

=============================  ====================================================  =====================
circuit                        f / update                                            learned state
=============================  ====================================================  =====================
``SeqNet``                     f(x) = x, as couplings J = (1/N)Σ ξ^{μ+1}ξ^μᵀ         ``couplings`` J
``DenseNet``                   x^d, exp((N−1)(x−1)), softmax(β)                      ``patterns``, ``successors``
``GeneralizedPseudoinverse``   f applied to O⁺m, O = ΞΞᵀ/N (not local)               ``patterns``, ``successors``
``MixedNet``                   hold Σ ξ^μ f_S(m(S(t))) + λ advance from S(t−τ)       hold / advance memory units
``TwoLayerSequence``           one hidden unit per transition (pairwise)             ``visible_to_hidden`` …
=============================  ====================================================  =====================

Papers: Chaudhry, Zavatone-Veth, Krotov & Pehlevan (2023), NeurIPS, "Long sequence Hopfield
memory" (DenseNet, GPI, MixedNet, two-layer form); Sompolinsky & Kanter (1986), PRL 57:2861
(SeqNet, mixed time scales); Kanter & Sompolinsky (1987), PRA 35:380 (pseudoinverse);
Krotov & Hopfield (2016, NeurIPS; 2021, ICLR) (dense memories, bipartite form).

Every separation function is evaluated *normalised* over μ (``f(m)/max_μ f(m)``, the
log-sum-exp trick for ``exp``); a positive factor per state does not change any sign, and it
keeps N in the thousands free of overflow and of all-zero underflow. A field within rounding
error (1e-9 of its scale ``Σ_μ |ξ^{μ+1}_i f(m^μ)|``) counts as zero, so ``sgn(0) = +1`` holds
identically in every algebraically equal form (J, Ξ, two-layer).

The learning stream (task ``sequence``) presents transitions: ``inputs`` = ξ^μ (the state at
step μ, population ``cue``) and ``targets`` = ξ^{μ+1} (the state one step later). One pass
over the P transitions writes the whole sequence.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..core.agreement import AgreementCase
from ..core.trials import TrialBatch
from ..rules import sequence as rules
from ..rules.declaration import RuleBinding
from ..validation import check_choice, check_integer, check_positive, check_real, check_sequence
from .base import Batch, Circuit, Connection, Parameters, Population, RuleCircuit, ensemble_inputs, register_circuit

__all__ = [
    "SequenceCircuit",
    "SeqNet",
    "DenseNet",
    "GeneralizedPseudoinverse",
    "MixedNet",
    "TwoLayerSequence",
    "separation_function",
    "normalized_separation",
    "check_patterns",
]

SEPARATIONS = ("linear", "poly", "exp", "softmax")
_TIE_TOLERANCE = 1e-9
#: Elements (per state entry × states × members) of one block of a synchronous step (4 MB): small
#: enough that a block's memory-unit inputs and fields stay in a core's cache between the
#: elementwise passes, large enough that each block's matrix products stay efficient (measured best
#: of 2**15 … 2**23 at N = 300, P = 2000, 20 members).
_BLOCK_ELEMENTS = 2**19
_ALL = slice(None)


# ============================================================================ functions
def separation_function(overlaps: np.ndarray, separation: str, degree: int = 2, beta: float = 1.0,
                        n_neurons: int | None = None) -> np.ndarray:
    """The separation function itself, ``f(m)`` (hidden-unit activity of the two-layer form).

    ``linear``: m; ``poly``: m^d; ``exp``: ``exp((N−1)(m−1))`` (≤ 1 for m ≤ 1, never
    overflows); ``softmax``: ``exp(βN m)`` normalised over μ (last axis).
    """
    m = np.asarray(overlaps, dtype=float)
    if separation == "linear":
        return m.copy()
    if separation == "poly":
        return m**degree
    if n_neurons is None:
        raise ValueError(f"separation={separation!r} needs n_neurons")
    if separation == "exp":
        return np.exp((n_neurons - 1) * (m - 1.0))
    z = beta * n_neurons * (m - m.max(axis=-1, keepdims=True))
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def normalized_separation(overlaps: np.ndarray, separation: str, degree: int = 2, beta: float = 1.0,
                          n_neurons: int | None = None) -> np.ndarray:
    """``f(m) / c`` with a positive per-state constant c (over the last axis): same signs downstream.

    ``poly``: ``(m / max|m|)^d``; ``exp``: ``exp((N−1)(m − max m))`` (log-sum-exp style); the
    winner is exactly 1, so nothing overflows or underflows to an all-zero field.
    """
    m = np.asarray(overlaps, dtype=float)
    if separation == "linear":
        return m
    if separation == "poly":
        largest = np.abs(m).max(axis=-1, keepdims=True) if m.shape[-1] else np.ones(m.shape[:-1] + (1,))
        return (m / np.where(largest > 0, largest, 1.0)) ** degree
    if n_neurons is None:
        raise ValueError(f"separation={separation!r} needs n_neurons")
    gain = (n_neurons - 1) if separation == "exp" else beta * n_neurons
    if m.shape[-1] == 0:
        return m
    return np.exp(gain * (m - m.max(axis=-1, keepdims=True)))


def check_patterns(name: str, patterns: Any, ndim: tuple[int, ...] = (2, 3)) -> np.ndarray:
    """Float64 array of ±1 values; the error names the argument and the offending values."""
    array = np.asarray(patterns, dtype=float)
    if array.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimensions (…, P, N), got {array.shape}")
    if np.count_nonzero(np.abs(array) != 1.0):  # one pass in the common (valid) case
        bad = array[np.abs(array) != 1.0]
        raise ValueError(f"{name} must contain only -1 and +1, found {np.unique(bad)[:5].tolist()}")
    return array


def _states(circuit: SequenceCircuit, states: Any, name: str) -> np.ndarray:
    """States (N,), (B, N) or (K, B, N) -> (K, B, N) with the circuit's K."""
    states = np.asarray(states, dtype=float)
    if states.ndim == 1:
        states = states[None]
    states = ensemble_inputs(states, circuit.ensemble_size, circuit.n_neurons, name)
    return np.broadcast_to(states, (circuit.ensemble_size, *states.shape[1:]))


def _sign(field: np.ndarray, scale: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``sgn`` with ``sgn(0) = +1``; a field within rounding error of zero is zero.

    A broadcast ``scale`` (stride 0) is thresholded on its compact form, so the tie
    threshold costs nothing per state."""
    compact = scale[tuple(slice(0, 1) if stride == 0 and size > 1 else slice(None)
                          for stride, size in zip(scale.strides, scale.shape))]
    result = np.empty(field.shape) if out is None else out
    np.add(field, _TIE_TOLERANCE * compact, out=result)  # ≥ 0 exactly when field ≥ −tol·scale
    return np.copysign(1.0, result, out=result)  # +0.0 (the only zero a sum with t ≥ 0 gives) -> +1


def _matmul(a: np.ndarray, b: np.ndarray, transpose: bool = False) -> np.ndarray:
    """``a @ b`` (or ``a @ bᵀ``) per ensemble member, (K, b, n) × (K, n, m) -> (K, b, m).

    One 2-D BLAS call per member: numpy's stacked matmul falls back to a slower loop for
    the transposed views every field here uses (the recall step is dominated by these)."""
    a = np.asarray(a)
    members = max(a.shape[0], b.shape[0])
    if a.ndim != 3 or b.ndim != 3:
        return np.matmul(a, np.swapaxes(b, -1, -2) if transpose else b)
    out = np.empty((members, a.shape[1], b.shape[1] if transpose else b.shape[2]), dtype=np.result_type(a, b))
    for k in range(members):
        right = b[k if b.shape[0] > 1 else 0]
        np.matmul(a[k if a.shape[0] > 1 else 0], right.T if transpose else right, out=out[k])
    return out


def _all_signs(array: np.ndarray) -> bool:
    """Whether every entry is exactly −1 or +1."""
    return np.count_nonzero(array == 1.0) + np.count_nonzero(array == -1.0) == array.size


def _append(stored: np.ndarray, new: np.ndarray, axis: int) -> np.ndarray:
    """``stored`` with ``new`` appended along ``axis`` (``new`` itself when nothing is stored)."""
    return new if stored.shape[axis] == 0 else np.concatenate([stored, new], axis=axis)


def _blocks(n_members: int, n_states: int, per_state: int) -> list[tuple[slice, slice]]:
    """(members, states) blocks of about :data:`_BLOCK_ELEMENTS` elements: groups of whole
    members when a member's states fit, else one member at a time in chunks of states."""
    per_state = max(per_state, 1)
    size = max(1, _BLOCK_ELEMENTS // per_state)
    if size >= n_states:
        group = max(1, _BLOCK_ELEMENTS // (per_state * max(n_states, 1)))
        return [(slice(k, k + group), _ALL) for k in range(0, n_members, group)]
    return [(slice(k, k + 1), slice(start, start + size)) for k in range(n_members)
            for start in range(0, n_states, size)]


# ============================================================================ base
@dataclass(frozen=True)
class SequenceParameters(Parameters):
    """Shared parameters. ``n_inputs`` (N) is optional and checked against the task."""

    n_inputs: int | None = None

    def validate(self) -> None:
        if self.n_inputs is not None:
            check_integer("n_inputs", self.n_inputs, 1)


class SequenceCircuit(Circuit):
    """Shared machinery: synchronous steps, rollouts, the one-pass write, rate/spiking recall."""

    family = "sequence"
    default_task = "sequence"
    params: SequenceParameters
    #: The dynamics a substrate builds: ±1 units stepped in windows (spiking: ``substrates/spiking/replay.py``).
    kind: ClassVar[str] = "windowed-replay"

    # ------------------------------------------------------------- subclass hooks
    @abstractmethod
    def _field(self, states: np.ndarray, delayed: np.ndarray | None = None,
               members: slice = _ALL) -> tuple[np.ndarray, np.ndarray]:
        """Local field of every visible unit and its scale, both (k, b, N), for states (k, b, N)
        of the ensemble members ``members`` (k of them)."""

    def _write(self, pre: np.ndarray, post: np.ndarray) -> None:
        """Apply the local write for transitions pre (K, B, N) → post (K, B, N) (the circuits
        whose ``learn`` is written by hand; SeqNet's is derived from its rule binding)."""
        raise NotImplementedError(f"{type(self).__name__} has no hand-written write")

    @abstractmethod
    def _memory_size(self) -> int:
        """Units per state entry of one step (for chunking)."""

    @property
    def n_neurons(self) -> int:
        return self._n_neurons()

    @abstractmethod
    def _n_neurons(self) -> int:
        """N."""

    # ------------------------------------------------------------- dynamics
    def step(self, states: np.ndarray, delayed: np.ndarray | None = None) -> np.ndarray:
        """One synchronous update of states (B, N) or (K, B, N) -> (K, B, N), in blocks of
        members and states (:func:`_blocks`)."""
        states = _states(self, states, "states")
        if delayed is not None:
            delayed = np.broadcast_to(_states(self, delayed, "delayed"), states.shape)
        out = np.empty(states.shape)
        per_state = max(self._memory_size(), self.n_neurons)
        if getattr(self.params, "overlap", "all") == "exclude_self":
            per_state *= self.n_neurons
        for members, part in _blocks(states.shape[0], states.shape[1], per_state):
            field, scale = self._field(states[members, part], None if delayed is None else delayed[members, part],
                                       members)
            _sign(field, scale, out=out[members, part])
        return out

    def rollout(self, cue: np.ndarray, n_steps: int) -> np.ndarray:
        """States ``S(0) = cue, S(1), …, S(n_steps)``, shape (K, n_steps + 1, B, N): the rate form.

        A substrate produces its own trajectory with ``substrate.rollout(circuit, cue,
        n_steps)`` (:func:`bioplausible.core.rollout`; the spiking substrate replays the
        circuit on spikes from its :meth:`replay_layers`).
        """
        n_steps = check_integer("n_steps", n_steps, 0)
        trajectory = [_states(self, cue, "cue")]
        for _ in range(n_steps):
            trajectory.append(self.step(trajectory[-1]))
        return np.stack(trajectory, axis=1)

    def schedule(self, n_steps: int, n_patterns: int) -> np.ndarray:
        """Index of the stored pattern expected at each step 0…n_steps of a rollout from ξ¹."""
        return np.arange(n_steps + 1) % n_patterns

    def recall_length(self, n_patterns: int, periodic: bool = True) -> int:
        """Rollout steps of a full recall from ξ¹: back to ξ¹ (periodic) or up to ξᴾ."""
        return n_patterns if periodic else n_patterns - 1

    def transition_success(self, patterns: np.ndarray, successors: np.ndarray | None = None) -> np.ndarray:
        """Per-transition success (K, P): one step from ξ^μ gives ξ^{μ+1} on all N bits."""
        patterns = check_patterns("patterns", patterns)
        successors = np.roll(patterns, -1, axis=-2) if successors is None else check_patterns("successors", successors)
        return np.all(self.step(patterns) == successors, axis=-1)

    def store(self, patterns: np.ndarray, periodic: bool = True, seeds: Any = 0) -> SequenceCircuit:
        """Initialise and write a sequence (P, N) or K sequences (K, P, N) in one pass."""
        patterns = check_patterns("patterns", patterns)
        if patterns.ndim == 2:
            patterns = patterns[None]
        successors = np.roll(patterns, -1, axis=-2)
        if not periodic:
            patterns, successors = patterns[:, :-1], successors[:, :-1]
        seeds = list(range(patterns.shape[0])) if patterns.shape[0] > 1 else seeds
        self.initialize(patterns.shape[-1], patterns.shape[-1], seeds)
        batch = Batch(patterns, successors)
        self.learn({"cue": patterns}, batch)
        return self

    # ------------------------------------------------------------- Circuit API
    def respond(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        x = ensemble_inputs(inputs, self.ensemble_size, self.n_neurons)
        return {"cue": x, **self._hidden_activity(x), "visible": self.step(x)}

    def _hidden_activity(self, states: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def learn(self, activities: Mapping[str, np.ndarray], batch: Batch | TrialBatch) -> None:
        """The one-pass write: pre = the cue population (ξ^μ), post = the next state (targets, ξ^{μ+1})."""
        self._write(*self._transitions(activities, batch))
        self.steps += 1

    def _transitions(self, activities: Mapping[str, np.ndarray], batch: Batch | TrialBatch | None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """The write's pre (the cue, ξ^μ) and post (the targets, ξ^{μ+1}), both (K, B, N)."""
        if batch is None or batch.targets is None:
            raise ValueError("batch.targets must hold the next pattern ξ^{μ+1} of each transition, got None")
        pre = check_patterns("activities['cue']", activities["cue"], (3,))
        post = check_patterns("batch.targets", batch.targets, (2, 3))
        if post.ndim == 2:
            post = np.broadcast_to(post, pre.shape)
        pre = np.broadcast_to(pre, (self.ensemble_size, *pre.shape[1:]))
        post = np.broadcast_to(post, pre.shape)
        return pre, post

    def _check_sizes(self, n_inputs: int, n_targets: int) -> None:
        super()._check_sizes(n_inputs, n_targets)
        if n_targets not in (0, n_inputs):
            raise ValueError(f"n_targets must equal n_inputs={n_inputs} (the next pattern), got {n_targets}")

    def _recruit(
        self, pre: np.ndarray, post: np.ndarray, pre_scale: float, post_scale: float, memory_major: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Recruit one new memory unit per transition (one-hot r(t) = e_μ) and write it.

        Input weights ``ΔW_in[μ, j] = pre_scale · r_μ v_j(t)`` and output weights
        ``ΔW_out[i, μ] = post_scale · v_i(t+1) r_μ``, both by the asymmetric Hebbian rule
        (chunked so that the one-hot recruitment matrix stays small). Returns the new
        units' (K, B, N) input rows and their output weights: (K, N, B) columns, or with
        ``memory_major`` the same weights stored one row per unit, (K, B, N) (the rule
        evaluated with the roles of the two arrays' axes swapped: every entry is one product).
        """
        k, b, n = pre.shape
        rows = np.empty((k, b, n))
        columns = np.empty((k, b, n) if memory_major else (k, n, b))
        chunk = 32
        for start in range(0, b, chunk):
            part = slice(start, start + chunk)
            size = pre[:, part].shape[1]
            recruit = np.ascontiguousarray(np.broadcast_to(np.eye(size), (k, size, size)))
            rows[:, part] = size * rules.asymmetric_hebbian(pre[:, part], recruit, pre_scale)
            if memory_major:
                columns[:, part] = size * rules.asymmetric_hebbian(post[:, part], recruit, post_scale)
            else:
                columns[:, :, part] = size * rules.asymmetric_hebbian(recruit, post[:, part], post_scale)
        return rows, columns

    def populations(self) -> list[Population]:
        n = self.n_neurons if self.state else (self.params.n_inputs or 0)
        return [
            Population("cue", n, role="input", description="state S(t) presented (ξ^μ while writing)"),
            Population("visible", n, description="±1 units, S(t+1) = sgn(field)"),
        ]


# ============================================================================ SeqNet
@register_circuit
class SeqNet(RuleCircuit, SequenceCircuit):
    """Classical asymmetric Hopfield sequence network (temporal association).

    ``J = (1/N) Σ_μ ξ^{μ+1} ξ^{μᵀ}``, ``S(t+1) = sgn(J S(t))``. Each presentation of a
    transition adds ``ΔJ_ij = (1/N) S_i(t+1) S_j(t)`` (post at μ+1, pre at μ). Capacity
    ``P_T ≈ N/(2 ln N)``. Sompolinsky & Kanter (1986), PRL 57:2861; Chaudhry et al. (2023),
    NeurIPS. State: ``couplings`` J (K, N, N), dimensionless. ``learn`` is derived from the
    declared rule (:data:`~bioplausible.rules.sequence.ASYMMETRIC_HEBBIAN`, summed over the
    batch's presentations; :class:`~bioplausible.circuits.base.RuleCircuit` comes first in
    the bases, so its ``learn`` is the one that runs).
    """

    name = "seqnet"
    agreement = (AgreementCase(
        "sequence", {"transition_success": (0.0, 0.0), "sequence_success": (0.0, 0.0), "recall_overlap": (0.0, 0.02)},
        params={}, task_options={"n_neurons": 100, "sequence_length": 8, "cue_noise": 0.1},
        substrate_options={"spiking": {"rate_unit": 200.0, "presentation": 0.05, "dt": 5e-4}},
        note="one-pass write of the sequence on clamped spikes, recall by windowed replay at low load"),)
    description = "asymmetric Hebbian sequence memory J = (1/N)Σ ξ^{μ+1}ξ^μᵀ (Sompolinsky & Kanter 1986)"
    Parameters = SequenceParameters
    params: SequenceParameters

    def initial_state(self, rng: np.random.Generator, n_inputs: int, n_targets: int) -> dict[str, np.ndarray]:
        return {"couplings": np.zeros((n_inputs, n_inputs))}

    def _n_neurons(self) -> int:
        return int(self.state["couplings"].shape[-1])

    def _memory_size(self) -> int:
        return self.n_neurons

    def _field(self, states, delayed=None, members=_ALL):
        couplings = self.state["couplings"]
        field = _matmul(states, couplings[members], transpose=True)
        cached = getattr(self, "_scale", None)
        if cached is None or cached[0] is not couplings:  # Σ_j |J_ij|, recomputed after a write
            self._scale = cached = (couplings, np.abs(couplings).sum(axis=-1)[:, None, :])
        return field, np.broadcast_to(cached[1][members], field.shape)

    def rule_bindings(self) -> list[RuleBinding]:
        """J by the asymmetric Hebbian rule with η = 1/N, pre = the cue ξ^μ, post = ξ^{μ+1},
        each presentation adding its increment (``batch_sum``)."""
        return [RuleBinding("couplings", rules.ASYMMETRIC_HEBBIAN, "visible", "visible",
                            {"x": "cue", "y": "next"}, {"learning_rate": 1.0 / self.n_neurons}, batch_sum=True)]

    def rule_activities(self, activities: Mapping[str, np.ndarray], batch: Batch | TrialBatch | None
                        ) -> dict[str, np.ndarray]:
        """``cue`` ξ^μ and ``next`` ξ^{μ+1} (the batch's targets), both (K, B, N)."""
        pre, post = self._transitions(activities, batch)
        return {"cue": pre, "next": post}

    def connections(self) -> list[Connection]:
        return [
            Connection("cue", "visible", kind="drive", description="sets S(0)"),
            Connection("visible", "visible", rules.asymmetric_hebbian, kind="recurrent",
                       description="J_ij, written by ΔJ = (1/N) S(t+1) S(t)ᵀ"),
        ]

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        k, n = self.ensemble_size, self.n_neurons
        return {("cue", "visible"): np.broadcast_to(np.eye(n), (k, n, n)).copy(),
                ("visible", "visible"): self.state["couplings"]}

    def replay_layers(self) -> dict[str, Any]:
        """The layers of the windowed replay (member 0): the recurrent couplings."""
        return {"recurrent": self.state["couplings"][0]}


# ============================================================================ DenseNet
@dataclass(frozen=True)
class DenseParameters(SequenceParameters):
    """``separation`` f ∈ linear, poly (``degree`` d), exp, softmax (inverse temperature ``beta``);
    ``overlap`` ``"all"`` (m = ξ·S/N) or ``"exclude_self"`` (DenseNet only:
    ``m_i^μ = Σ_{j≠i} ξ_j^μ S_j / (N−1)``, which makes the derived constants exact)."""

    separation: str = "poly"
    degree: int = 2
    beta: float = 1.0
    overlap: str = "all"

    def validate(self) -> None:
        super().validate()
        check_choice("separation", self.separation, SEPARATIONS)
        check_integer("degree", self.degree, 1)
        check_positive("beta", self.beta)
        check_choice("overlap", self.overlap, ["all", "exclude_self"])


@register_circuit
class DenseNet(SequenceCircuit):
    """Sequence dense associative memory: ``S(t+1) = sgn(Ξ_nextᵀ f(Ξ S / N))``.

    f = x^d (poly; d = 1 is SeqNet), ``exp((N−1)(x−1))`` or ``softmax(β)``; capacity
    ``P_T ≈ N^d / (2(2d−1)!! ln N)`` (poly), ``β^{N−1}/(2 ln N)`` (exp). Chaudhry,
    Zavatone-Veth, Krotov & Pehlevan (2023), NeurIPS. The single-layer form needs
    (d+1)-body synapses; it is declared here through its memory units (the pairwise
    realisation, see :class:`TwoLayerSequence`). State: ``patterns`` Ξ and ``successors``
    Ξ_next, (K, P, N), written one transition per presentation.
    """

    name = "densenet"
    agreement = (AgreementCase(
        "sequence", {"transition_success": (0.0, 0.0), "sequence_success": (0.0, 0.0), "recall_overlap": (0.0, 0.02)},
        params={"separation": "exp"}, task_options={"n_neurons": 100, "sequence_length": 8, "cue_noise": 0.1},
        substrate_options={"spiking": {"rate_unit": 200.0, "presentation": 0.05, "dt": 5e-4}},
        note="one-pass write of the sequence on clamped spikes, recall by windowed replay at low load"),)
    description = "dense sequence memory, f = x^d or exp (Chaudhry et al., NeurIPS 2023)"
    Parameters = DenseParameters
    params: DenseParameters

    def __init__(self, **parameters: Any) -> None:
        super().__init__(**parameters)
        if self.params.overlap != "all" and type(self) is not DenseNet:
            raise ValueError(f"overlap='exclude_self' is implemented for DenseNet only, not {type(self).__name__}")

    def initial_state(self, rng: np.random.Generator, n_inputs: int, n_targets: int) -> dict[str, np.ndarray]:
        return {"patterns": np.zeros((0, n_inputs)), "successors": np.zeros((0, n_inputs))}

    def _n_neurons(self) -> int:
        return int(self.state["patterns"].shape[-1])

    def _memory_size(self) -> int:
        return int(self.state["patterns"].shape[-2])

    @property
    def n_memories(self) -> int:
        return self._memory_size()

    def overlaps(self, states: np.ndarray, members: slice = _ALL) -> np.ndarray:
        """Memory-unit inputs: ``m^μ = ξ^μ·S / N`` (exact: integer dot products, one division),
        (k, b, P) for states (k, b, N) of the ensemble members ``members`` (default all K)."""
        return self._decorrelate(self._dots(states, members) / self.n_neurons, members)

    def _dots(self, states: np.ndarray, members: slice) -> np.ndarray:
        """``ξ^μ·S`` (k, b, P). For ±1 states and stored patterns every product is an integer
        of magnitude ≤ N, exact in single precision (N < 2²⁴), so the products are taken in
        float32 (twice as fast) and give the same float64 values bit for bit."""
        patterns = self.state["patterns"]
        cached = getattr(self, "_single", None)
        if cached is None or cached[0] is not patterns:  # recomputed after a write or a load
            exact = patterns.shape[-1] < 2**24 and _all_signs(patterns)
            self._single = cached = (patterns, patterns.astype(np.float32) if exact else None)
        if cached[1] is not None and _all_signs(states):
            return _matmul(states.astype(np.float32), cached[1][members], transpose=True).astype(float)
        return _matmul(states, patterns[members], transpose=True)

    def _decorrelate(self, overlaps: np.ndarray, members: slice = _ALL) -> np.ndarray:
        return overlaps

    def _transfer(self, overlaps: np.ndarray) -> np.ndarray:
        """Normalised f of the memory-unit inputs; inputs within rounding error of 0 are 0,
        so that algebraically equal forms (Ξ, two-layer) agree on exact ties."""
        p = self.params
        overlaps = np.where(np.abs(overlaps) <= _TIE_TOLERANCE * 1e-3, 0.0, overlaps)
        return normalized_separation(overlaps, p.separation, p.degree, p.beta, self.n_neurons)

    def _field(self, states, delayed=None, members=_ALL):
        if self.params.overlap == "exclude_self":
            return self._field_excluding_self(states, members)
        drive = self._transfer(self.overlaps(states, members))
        field = _matmul(drive, self.state["successors"][members])
        scale = np.abs(drive).sum(axis=-1, keepdims=True)
        return field, np.broadcast_to(scale, field.shape)

    def _field_excluding_self(self, states: np.ndarray, members: slice = _ALL) -> tuple[np.ndarray, np.ndarray]:
        """Per-neuron overlaps without the self-term, (k, b, N, P): blocked by ``step``."""
        patterns, n = self.state["patterns"][members], self.n_neurons
        dots = _matmul(states, patterns, transpose=True)  # (k, b, P)
        own = states[..., :, None] * patterns[:, None, :, :].swapaxes(-1, -2)  # ξ_i^μ S_i: (k, b, N, P)
        drive = self._transfer((dots[..., None, :] - own) / (n - 1))
        field = np.einsum("kbip,kpi->kbi", drive, self.state["successors"][members])
        return field, np.abs(drive).sum(axis=-1)

    def _write(self, pre, post):
        patterns, successors = self._recruit(pre, post, 1.0, 1.0, memory_major=True)
        self.state["patterns"] = _append(self.state["patterns"], patterns, 1)
        self.state["successors"] = _append(self.state["successors"], successors, 1)

    def _hidden_activity(self, states: np.ndarray) -> dict[str, np.ndarray]:
        p = self.params
        return {"memory": separation_function(self.overlaps(states), p.separation, p.degree, p.beta, self.n_neurons)}

    def populations(self) -> list[Population]:
        m = self._memory_size() if self.state else 0
        cue, visible = super().populations()
        return [cue, Population("memory", m, description="one memory unit per transition, h_μ = f(m^μ)"), visible]

    def connections(self) -> list[Connection]:
        return [
            Connection("cue", "visible", kind="drive", description="sets S(0)"),
            Connection("visible", "memory", rules.asymmetric_hebbian, kind="feedforward",
                       description="ξ^μ/N, written with the recruited unit r_μ(t) as post"),
            Connection("memory", "visible", rules.asymmetric_hebbian, kind="feedback",
                       description="ξ^{μ+1}, written with v(t+1) as post"),
        ]

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        k, n = self.ensemble_size, self.n_neurons
        return {("cue", "visible"): np.broadcast_to(np.eye(n), (k, n, n)).copy(),
                ("visible", "memory"): self.state["patterns"] / n,
                ("memory", "visible"): np.swapaxes(self.state["successors"], -1, -2).copy()}

    def replay_layers(self) -> dict[str, Any]:
        """The layers of the windowed replay (member 0): weights and the memory transfer."""
        weights = self.weights()
        return {"memories": [{"name": "memory", "input": weights[("visible", "memory")][0],
                              "output": weights[("memory", "visible")][0],
                              "transfer": lambda m: self._transfer(self._decorrelate(m[None]))[0]}]}


# ============================================================================ GPI
@dataclass(frozen=True)
class PseudoinverseParameters(DenseParameters):
    """DenseNet's parameters plus ``rcond`` of ``pinv`` and the ``max_condition`` guard."""

    separation: str = "linear"
    rcond: float = 1e-12
    max_condition: float = 1e12

    def validate(self) -> None:
        super().validate()
        check_real("rcond", self.rcond, 0.0, 1.0)
        check_positive("max_condition", self.max_condition)


@register_circuit
class GeneralizedPseudoinverse(DenseNet):
    """Generalised pseudoinverse rule: ``S(t+1) = sgn(Ξ_nextᵀ f(O⁺ m(S)))``, ``O = ΞΞᵀ/N``.

    At ``S = ξ^ρ``, ``O⁺m = e_ρ`` for linearly independent patterns, so correlated
    sequences are recalled perfectly (P ≤ N); f = x is Kanter & Sompolinsky (1987), PRA
    35:380; general f: Chaudhry et al. (2023), NeurIPS. Not local (needs O⁺). Raises
    ``ValueError`` when P > N or ``cond(O) > max_condition``.
    """

    name = "pseudoinverse"
    agreement = (AgreementCase(
        "sequence", {"transition_success": (0.0, 0.0), "sequence_success": (0.0, 0.0), "recall_overlap": (0.0, 0.02)},
        params={}, task_options={"n_neurons": 100, "sequence_length": 8, "cue_noise": 0.1},
        substrate_options={"spiking": {"rate_unit": 200.0, "presentation": 0.05, "dt": 5e-4}},
        note="one-pass write of the sequence on clamped spikes, recall by windowed replay at low load"),)
    description = "generalised pseudoinverse sequence memory f(O⁺m) (Kanter & Sompolinsky 1987; Chaudhry 2023)"
    Parameters = PseudoinverseParameters
    params: PseudoinverseParameters

    def __init__(self, **parameters: Any) -> None:
        super().__init__(**parameters)
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def decorrelator(self) -> np.ndarray:
        """``O⁺`` (K, P, P), recomputed when the stored patterns change."""
        patterns = self.state["patterns"]
        if self._cache is not None and self._cache[0] is patterns:
            return self._cache[1]
        n_memories, n = patterns.shape[-2:]
        if n_memories > n:
            raise ValueError(f"the pseudoinverse rule needs P <= N, got P={n_memories} patterns for N={n} neurons")
        overlap_matrix = _matmul(patterns, patterns, transpose=True) / n
        condition = np.linalg.cond(overlap_matrix) if n_memories else np.zeros(1)
        worst = float(np.max(condition))
        if not worst <= self.params.max_condition:
            raise ValueError(
                f"the pattern overlap matrix O is ill-conditioned: cond(O)={worst:.3g} > max_condition="
                f"{self.params.max_condition:.3g} (patterns nearly linearly dependent)"
            )
        inverse = np.linalg.pinv(overlap_matrix, rcond=self.params.rcond, hermitian=True)
        self._cache = (patterns, inverse)
        return inverse

    def _decorrelate(self, overlaps: np.ndarray, members: slice = _ALL) -> np.ndarray:
        """Decorrelated overlaps ``O⁺ m`` (k, b, P) of the ensemble members ``members``."""
        return np.matmul(overlaps, self.decorrelator()[members])

    def _write(self, pre, post):
        n_memories = self._memory_size() + pre.shape[1]
        if n_memories > pre.shape[-1]:
            raise ValueError(
                f"the pseudoinverse rule needs P <= N, got P={n_memories} patterns for N={pre.shape[-1]} neurons"
            )
        super()._write(pre, post)

    def load_state_dict(self, state: Mapping[str, Any]) -> GeneralizedPseudoinverse:
        self._cache = None
        super().load_state_dict(state)
        return self


# ============================================================================ two-layer
@register_circuit
class TwoLayerSequence(DenseNet):
    """Biological two-layer form: one hidden (memory) unit per stored transition.

    ``h_μ(t) = g_μ f(Σ_j W_vh[μ,j] v_j(t))``, ``v_i(t+1) = sgn(Σ_μ W_hv[i,μ] h_μ(t))`` with
    ``W_vh[μ] = ξ^μ/N`` and ``W_hv[:, μ] = ξ^{μ+1}`` written online: hidden unit μ is
    recruited at step μ (``r(t) = e_μ``), ``ΔW_vh = r v(t)ᵀ/N``, ``ΔW_hv = v(t+1) rᵀ``.
    Equal to :class:`DenseNet` state by state; silencing unit μ (gain ``g_μ = 0``) deletes
    exactly the transition μ → μ+1. Chaudhry et al. (2023), NeurIPS; Krotov & Hopfield
    (2021), ICLR. State: ``visible_to_hidden`` (K, P, N), ``hidden_to_visible`` (K, N, P),
    ``hidden_gain`` (K, P).
    """

    name = "two-layer-sequence"
    agreement = (AgreementCase(
        "sequence", {"transition_success": (0.0, 0.0), "sequence_success": (0.0, 0.0), "recall_overlap": (0.0, 0.02)},
        params={"separation": "poly"}, task_options={"n_neurons": 100, "sequence_length": 8, "cue_noise": 0.1},
        substrate_options={"spiking": {"rate_unit": 200.0, "presentation": 0.05, "dt": 5e-4}},
        note="one-pass write of the sequence on clamped spikes, recall by windowed replay at low load"),)
    description = "two-layer sequence memory, one hidden unit per transition (Chaudhry et al., NeurIPS 2023)"
    Parameters = DenseParameters
    params: DenseParameters

    def initial_state(self, rng: np.random.Generator, n_inputs: int, n_targets: int) -> dict[str, np.ndarray]:
        return {"visible_to_hidden": np.zeros((0, n_inputs)), "hidden_to_visible": np.zeros((n_inputs, 0)),
                "hidden_gain": np.zeros(0)}

    def _n_neurons(self) -> int:
        return int(self.state["visible_to_hidden"].shape[-1])

    def _memory_size(self) -> int:
        return int(self.state["visible_to_hidden"].shape[-2])

    @property
    def visible_to_hidden(self) -> np.ndarray:
        return self.state["visible_to_hidden"]

    @property
    def hidden_to_visible(self) -> np.ndarray:
        return self.state["hidden_to_visible"]

    def silence(self, hidden_units: Any, silenced: bool = True) -> TwoLayerSequence:
        """Set the gain of ``hidden_units`` to 0 (or back to 1): gating a thalamic channel."""
        units = np.atleast_1d(np.asarray(hidden_units))
        if units.size and (units.min() < -self._memory_size() or units.max() >= self._memory_size()):
            raise ValueError(f"hidden_units must index the {self._memory_size()} hidden units, got {units.tolist()}")
        self.state["hidden_gain"][:, units] = 0.0 if silenced else 1.0
        return self

    def overlaps(self, states: np.ndarray, members: slice = _ALL) -> np.ndarray:
        return self._decorrelate(_matmul(states, self.state["visible_to_hidden"][members], transpose=True), members)

    def _field(self, states, delayed=None, members=_ALL):
        drive = self._transfer(self.overlaps(states, members)) * self.state["hidden_gain"][members, None, :]
        field = _matmul(drive, self.state["hidden_to_visible"][members], transpose=True)
        scale = np.abs(drive).sum(axis=-1, keepdims=True)
        return field, np.broadcast_to(scale, field.shape)

    def _hidden_activity(self, states: np.ndarray) -> dict[str, np.ndarray]:
        p = self.params
        h = separation_function(self.overlaps(states), p.separation, p.degree, p.beta, self.n_neurons)
        return {"memory": h * self.state["hidden_gain"][:, None, :]}

    def _write(self, pre, post):
        rows, columns = self._recruit(pre, post, 1.0 / pre.shape[-1], 1.0)
        k, b = pre.shape[:2]
        self.state["visible_to_hidden"] = _append(self.state["visible_to_hidden"], rows, 1)
        self.state["hidden_to_visible"] = _append(self.state["hidden_to_visible"], columns, 2)
        self.state["hidden_gain"] = _append(self.state["hidden_gain"], np.ones((k, b)), 1)

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        k, n = self.ensemble_size, self.n_neurons
        return {("cue", "visible"): np.broadcast_to(np.eye(n), (k, n, n)).copy(),
                ("visible", "memory"): self.state["visible_to_hidden"],
                ("memory", "visible"): self.state["hidden_to_visible"] * self.state["hidden_gain"][:, None, :]}


# ============================================================================ MixedNet
@dataclass(frozen=True)
class MixedParameters(SequenceParameters):
    """``delay`` τ (or per-transition ``delays`` τ_μ), ``advance_strength`` λ > 1, degrees d_S, d_A."""

    delay: int = 5
    delays: tuple[int, ...] | None = None
    advance_strength: float = 2.0
    degree_hold: int = 10
    degree_advance: int = 10

    def validate(self) -> None:
        super().validate()
        check_integer("delay", self.delay, 0)
        if self.delays is not None:
            if len(check_sequence("delays", self.delays)) == 0:
                raise ValueError("delays must hold at least one delay, got an empty sequence")
            for i, d in enumerate(self.delays):
                check_integer(f"delays[{i}]", d, 0)
        check_real("advance_strength", self.advance_strength, 0.0, inclusive=False)
        check_integer("degree_hold", self.degree_hold, 1)
        check_integer("degree_advance", self.degree_advance, 1)


@register_circuit
class MixedNet(SequenceCircuit):
    """Mixed time scales: a fast symmetric hold plus a delayed asymmetric advance.

    ``S(t+1) = sgn( Σ_μ ξ^μ f_S(m^μ(S(t))) + λ Σ_μ ξ^{μ+1} f_A(m^μ(S(t−τ_μ))) )``,
    ``f_S = x^{d_S}``, ``f_A = x^{d_A}``, pure-delay slow synapses. With λ > 1 every pattern
    after the first dwells exactly τ+1 steps (with per-transition delays: ``max(τ_ν, τ_{ν−1}) + 1``,
    see :meth:`schedule`). Sompolinsky & Kanter (1986), PRL 57:2861
    (d = 1); Chaudhry et al. (2023), NeurIPS. Two hidden populations (:ref:`theory-sequence-mixednet`): ``hold``
    units (input ξ^μ/N, output ξ^μ, symmetric write) and ``advance`` units (input ξ^μ/N from
    the delayed state, output ξ^{μ+1}). Delays τ_μ = ``delays[μ mod len(delays)]``.
    """

    name = "mixednet"
    agreement = (AgreementCase(
        "sequence", {"transition_success": (0.0, 0.0), "sequence_success": (0.0, 0.0), "recall_overlap": (0.0, 0.02)},
        params={"delays": (1, 2)}, task_options={"n_neurons": 60, "sequence_length": 5, "cue_noise": 0.05},
        substrate_options={"spiking": {"rate_unit": 200.0, "presentation": 0.05, "dt": 5e-4}},
        note="one-pass write of the sequence on clamped spikes, recall by windowed replay at low load"),)
    description = "mixed-timescale sequence memory: symmetric hold + delayed advance (Sompolinsky & Kanter 1986)"
    Parameters = MixedParameters
    params: MixedParameters

    def initial_state(self, rng: np.random.Generator, n_inputs: int, n_targets: int) -> dict[str, np.ndarray]:
        n = n_inputs
        return {"visible_to_hold": np.zeros((0, n)), "hold_to_visible": np.zeros((n, 0)),
                "visible_to_advance": np.zeros((0, n)), "advance_to_visible": np.zeros((n, 0))}

    def _n_neurons(self) -> int:
        return int(self.state["visible_to_hold"].shape[-1])

    def _memory_size(self) -> int:
        return int(self.state["visible_to_hold"].shape[-2])

    def unit_delays(self) -> np.ndarray:
        """τ_μ of every advance unit, (P,)."""
        delays = self.params.delays or (self.params.delay,)
        return np.asarray(delays)[np.arange(self._memory_size()) % len(delays)]

    def _field(self, states, delayed=None, members=_ALL):
        p = self.params
        delayed = states if delayed is None else delayed
        hold = _matmul(states, self.state["visible_to_hold"][members], transpose=True) ** p.degree_hold
        advance = _matmul(delayed, self.state["visible_to_advance"][members], transpose=True) ** p.degree_advance
        return self._combine(hold, advance, members)

    def _combine(self, hold: np.ndarray, advance: np.ndarray,
                 members: slice = _ALL) -> tuple[np.ndarray, np.ndarray]:
        lam = self.params.advance_strength
        field = (_matmul(hold, self.state["hold_to_visible"][members], transpose=True)
                 + lam * _matmul(advance, self.state["advance_to_visible"][members], transpose=True))
        scale = np.abs(hold).sum(-1, keepdims=True) + lam * np.abs(advance).sum(-1, keepdims=True)
        return field, np.broadcast_to(scale, field.shape)

    def rollout(self, cue: np.ndarray, n_steps: int) -> np.ndarray:
        """Rollout with a ring buffer of the last max τ_μ + 1 states; ``S(t) = cue`` for t ≤ 0."""
        n_steps = check_integer("n_steps", n_steps, 0)
        p = self.params
        states = _states(self, cue, "cue")
        delays = self.unit_delays()
        depth = int(delays.max()) + 1 if delays.size else 1
        hold_in = np.swapaxes(self.state["visible_to_hold"], -1, -2)
        advance_in = np.swapaxes(self.state["visible_to_advance"], -1, -2)
        # advance-unit inputs of the last `depth` states, newest last: (depth, K, B, P)
        history = np.repeat(np.matmul(states, advance_in)[None], depth, axis=0)
        units = np.arange(delays.size)
        trajectory = [states]
        for _ in range(n_steps):
            current = trajectory[-1]
            hold = np.matmul(current, hold_in) ** p.degree_hold
            advance = history[depth - 1 - delays, ..., units]  # (P, K, B): unit μ reads S(t − τ_μ)
            advance = np.moveaxis(advance, 0, -1) ** p.degree_advance
            field, scale = self._combine(hold, advance)
            new = _sign(field, scale)
            history = np.concatenate([history[1:], np.matmul(new, advance_in)[None]], axis=0)
            trajectory.append(new)
        return np.stack(trajectory, axis=1)

    def schedule(self, n_steps: int, n_patterns: int) -> np.ndarray:
        """ξ¹ for one step, then pattern ν for ``max(τ_ν, τ_{ν−1}) + 1`` steps (wrapping at P).

        Pattern ν is left once its own advance unit sees it (τ_ν steps after entry) *and* the
        previous unit no longer sees ξ^{ν−1} (τ_{ν−1} steps after entry): with one delay τ
        every dwell is τ+1 (*derived*; checked against rollouts in the tests).
        """
        delays = self.params.delays or (self.params.delay,)

        def tau(unit: int) -> int:
            return delays[(unit % n_patterns) % len(delays)]

        indices, pattern, remaining = [0], 0, 1
        for _ in range(n_steps):
            remaining -= 1
            if remaining == 0:
                pattern += 1
                remaining = max(tau(pattern), tau(pattern - 1)) + 1
            indices.append(pattern % n_patterns)
        return np.asarray(indices)

    def recall_length(self, n_patterns: int, periodic: bool = True) -> int:
        """(P+1)(τ+1) steps when periodic (:ref:`theory-sequence-metrics`), else the first step that reaches ξᴾ."""
        delays = self.params.delays or (self.params.delay,)
        if periodic:
            return (n_patterns + 1) * (max(delays) + 1)
        reached = np.flatnonzero(self.schedule((n_patterns + 1) * (max(delays) + 1), n_patterns) == n_patterns - 1)
        return int(reached[0])

    def _write(self, pre, post):
        hold_rows, hold_columns = self._recruit(pre, pre, 1.0 / pre.shape[-1], 1.0)
        advance_rows, advance_columns = self._recruit(pre, post, 1.0 / pre.shape[-1], 1.0)
        for key, new, axis in (("visible_to_hold", hold_rows, 1), ("hold_to_visible", hold_columns, 2),
                               ("visible_to_advance", advance_rows, 1), ("advance_to_visible", advance_columns, 2)):
            self.state[key] = _append(self.state[key], new, axis)

    def replay_layers(self) -> dict[str, Any]:
        """Hold units (no delay) and advance units (input delayed by τ_μ steps), member 0."""
        p, weights = self.params, self.weights()
        return {"memories": [
            {"name": "hold", "input": weights[("visible", "hold")][0], "output": weights[("hold", "visible")][0],
             "transfer": lambda m: m**p.degree_hold},
            {"name": "advance", "input": weights[("visible", "advance")][0],
             "output": weights[("advance", "visible")][0], "transfer": lambda m: m**p.degree_advance,
             "delays": self.unit_delays()},
        ]}

    def _hidden_activity(self, states: np.ndarray) -> dict[str, np.ndarray]:
        p = self.params
        hold = _matmul(states, self.state["visible_to_hold"], transpose=True) ** p.degree_hold
        advance = _matmul(states, self.state["visible_to_advance"], transpose=True) ** p.degree_advance
        return {"hold": hold, "advance": advance}

    def populations(self) -> list[Population]:
        m = self._memory_size() if self.state else 0
        cue, visible = super().populations()
        return [cue, Population("hold", m, description="h^S_μ = f_S(ξ^μ·v(t)/N), projects ξ^μ"),
                Population("advance", m, description="h^A_μ = f_A(ξ^μ·v(t−τ)/N), projects λξ^{μ+1}"), visible]

    def connections(self) -> list[Connection]:
        return [
            Connection("cue", "visible", kind="drive", description="sets S(t) for t ≤ 0"),
            Connection("visible", "hold", rules.asymmetric_hebbian, description="ξ^μ/N"),
            Connection("hold", "visible", rules.asymmetric_hebbian, kind="feedback",
                       description="ξ^μ (symmetric write)"),
            Connection("visible", "advance", rules.asymmetric_hebbian, kind="delayed", description="ξ^μ/N, delay τ_μ"),
            Connection("advance", "visible", rules.asymmetric_hebbian, kind="feedback", description="λ ξ^{μ+1}"),
        ]

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        k, n = self.ensemble_size, self.n_neurons
        return {("cue", "visible"): np.broadcast_to(np.eye(n), (k, n, n)).copy(),
                ("visible", "hold"): self.state["visible_to_hold"],
                ("hold", "visible"): self.state["hold_to_visible"],
                ("visible", "advance"): self.state["visible_to_advance"],
                ("advance", "visible"): self.params.advance_strength * self.state["advance_to_visible"]}
