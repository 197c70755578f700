"""DenseNet: the sequence dense associative memory ``S(t+1) = sgn(Ξ_nextᵀ f(Ξ S / N))``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.agreement import AgreementCase
from ...rules import sequence as rules
from ...rules.declaration import RuleBinding
from ...validation import check_choice, check_integer, check_positive
from ..base import Connection, Population, register_circuit
from .base import SequenceCircuit, SequenceParameters
from .dynamics import (
    ALL_MEMBERS,
    SEPARATIONS,
    TIE_TOLERANCE,
    all_signs,
    member_matmul,
    normalized_separation,
    separation_function,
)

__all__ = ["DenseParameters", "DenseNet"]


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

    def overlaps(self, states: np.ndarray, members: slice = ALL_MEMBERS) -> np.ndarray:
        """Memory-unit inputs: ``m^μ = ξ^μ·S / N`` (exact: integer dot products, one division),
        (k, b, P) for states (k, b, N) of the ensemble members ``members`` (default all K)."""
        return self._decorrelate(self._dots(states, members)[0] / self.n_neurons, members)

    def _dots(self, states: np.ndarray, members: slice) -> tuple[np.ndarray, bool]:
        """``ξ^μ·S`` (k, b, P) and whether they are exact integers. For ±1 states and stored
        patterns every product is an integer of magnitude ≤ N, exact in single precision
        (N < 2²⁴), so the products are taken in float32 (twice as fast) and give the same
        float64 values bit for bit."""
        patterns = self.state["patterns"]
        cached = getattr(self, "_single", None)
        if cached is None or cached[0] is not patterns:  # recomputed after a write or a load
            exact = patterns.shape[-1] < 2**24 and all_signs(patterns)
            self._single = cached = (patterns, patterns.astype(np.float32) if exact else None)
        if cached[1] is not None and all_signs(states):
            single = cached[1][members]
            if states.shape == single.shape and np.array_equal(states, patterns[members]):
                # the stored patterns themselves (transition success, capacity): their Gram
                # matrix, one symmetric product per member (BLAS syrk, half the work)
                return member_matmul(single, single, transpose=True).astype(float), True
            return member_matmul(states.astype(np.float32), single, transpose=True).astype(float), True
        return member_matmul(states, patterns[members], transpose=True), False

    def _integer_field(self) -> bool:
        """Whether the field of ±1 states may be taken in integers: f homogeneous (linear or
        poly: ``f(ξ·S) = N^d f(m)``, a positive factor per state that no sign sees), no
        decorrelation, and every field and scale bounded by ``P N^d < 1/tolerance`` (≤ 10⁹,
        exact in float64), so that a field within the tie tolerance of zero *is* zero: the
        integer field gives the states of the normalised form bit for bit."""
        p = self.params
        if p.separation not in ("linear", "poly") or type(self)._decorrelate is not DenseNet._decorrelate:
            return False
        degree = 1 if p.separation == "linear" else p.degree
        return TIE_TOLERANCE * self._memory_size() * float(self.n_neurons) ** degree < 1.0

    def _drive(self, states: np.ndarray, members: slice = ALL_MEMBERS) -> tuple[np.ndarray, bool]:
        """The memory units' activities ``f(m)`` (k, b, P) up to a positive factor per state,
        and whether they are exact integers: normalised (:meth:`_transfer`), or for ±1 states
        under :meth:`_integer_field` the separation function of the integer dot products,
        ``f(ξ·S)`` (no normalisation pass)."""
        dots, exact = self._dots(states, members)
        if exact and self._integer_field():
            p = self.params
            return separation_function(dots, p.separation, p.degree, in_place=True), True
        return self._transfer(self._decorrelate(dots / self.n_neurons, members)), False

    def _decorrelate(self, overlaps: np.ndarray, members: slice = ALL_MEMBERS) -> np.ndarray:
        return overlaps

    def _transfer(self, overlaps: np.ndarray) -> np.ndarray:
        """Normalised f of the memory-unit inputs; inputs within rounding error of 0 are 0,
        so that algebraically equal forms (Ξ, two-layer) agree on exact ties."""
        p = self.params
        overlaps = np.where(np.abs(overlaps) <= TIE_TOLERANCE * 1e-3, 0.0, overlaps)
        return normalized_separation(overlaps, p.separation, p.degree, p.beta, self.n_neurons)

    def _field(self, states, delayed=None, members=ALL_MEMBERS):
        if self.params.overlap == "exclude_self":
            return self._field_excluding_self(states, members)
        drive, integer = self._drive(states, members)
        field = member_matmul(drive, self.state["successors"][members])
        # an integer field's tie tolerance is below one unit (:meth:`_integer_field`): sgn(0) = +1 exactly
        scale = np.zeros((1, 1, 1)) if integer else np.abs(drive).sum(axis=-1, keepdims=True)
        return field, np.broadcast_to(scale, field.shape)

    def _field_excluding_self(self, states: np.ndarray, members: slice = ALL_MEMBERS) -> tuple[np.ndarray, np.ndarray]:
        """Per-neuron overlaps without the self-term, (k, b, N, P): blocked by ``step``."""
        patterns, n = self.state["patterns"][members], self.n_neurons
        dots = member_matmul(states, patterns, transpose=True)  # (k, b, P)
        own = states[..., :, None] * patterns[:, None, :, :].swapaxes(-1, -2)  # ξ_i^μ S_i: (k, b, N, P)
        drive = self._transfer((dots[..., None, :] - own) / (n - 1))
        field = np.einsum("kbip,kpi->kbi", drive, self.state["successors"][members])
        return field, np.abs(drive).sum(axis=-1)

    def rule_bindings(self) -> list[RuleBinding]:
        """One memory unit recruited per transition: its input ``patterns`` row ξ^μ (pre: the
        cue, post: the recruitment signal) and its output ``successors`` row ξ^{μ+1} (pre: the
        recruitment signal, post: the next state; stored one row per unit), by the asymmetric
        Hebbian rule with η = 1 (the 1/N of the overlap is applied at recall, see :meth:`weights`)."""
        return [self.recruit_binding("patterns", "memory", "post"),
                self.recruit_binding("successors", "memory", "pre", source="next", transposed=True)]

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

