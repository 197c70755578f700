"""SeqNet: the classical asymmetric Hopfield sequence network, ``J = (1/N) Σ ξ^{μ+1} ξ^μᵀ``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.agreement import AgreementCase
from ...rules import sequence as rules
from ...rules.declaration import RuleBinding
from ..base import Connection, register_circuit
from .base import SequenceCircuit, SequenceParameters
from .dynamics import ALL_MEMBERS, all_signs, member_matmul

__all__ = ["SeqNet"]


@register_circuit
class SeqNet(SequenceCircuit):
    """Classical asymmetric Hopfield sequence network (temporal association).

    ``J = (1/N) Σ_μ ξ^{μ+1} ξ^{μᵀ}``, ``S(t+1) = sgn(J S(t))``. Each presentation of a
    transition adds ``ΔJ_ij = (1/N) S_i(t+1) S_j(t)`` (post at μ+1, pre at μ). Capacity
    ``P_T ≈ N/(2 ln N)``. Sompolinsky & Kanter (1986), PRL 57:2861; Chaudhry et al. (2023),
    NeurIPS. State: ``couplings`` J (K, N, N), dimensionless. ``learn`` is derived from the
    declared rule (:data:`~bioplausible.rules.sequence.ASYMMETRIC_HEBBIAN`, summed over the
    batch's presentations).
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

    def _field(self, states, delayed=None, members=ALL_MEMBERS):
        couplings = self.state["couplings"]
        cached = getattr(self, "_scale", None)
        if cached is None or cached[0] is not couplings:  # recomputed after a write or a load
            self._scale = cached = (couplings, np.abs(couplings).sum(axis=-1)[:, None, :], self._integer(couplings))
        if cached[2] is not None and all_signs(states):  # the integer field N J S, exact in float32
            field = member_matmul(states.astype(np.float32), cached[2][members], transpose=True)
            return field, np.broadcast_to(self.n_neurons * cached[1][members], field.shape)
        field = member_matmul(states, couplings[members], transpose=True)
        return field, np.broadcast_to(cached[1][members], field.shape)

    @staticmethod
    def _integer(couplings: np.ndarray) -> np.ndarray | None:
        """``N J`` in float32 when it is a matrix of integers (J written from ±1 patterns: the
        number of transitions with ξ_i^{μ+1} = ξ_j^μ minus the others) whose row sums
        ``Σ_j |N J_ij|`` stay below 2²⁴: then the field of ±1 states is an exact integer in
        single precision (half the cost of the float64 product) and, as the tie tolerance
        (1e-9 of the row sum) is below one unit, it gives the float64 form's states bit for
        bit; else None."""
        scaled = couplings * couplings.shape[-1]
        integers = np.rint(scaled)
        if not np.abs(integers).sum(axis=-1).max(initial=0.0) < 2**24 or not np.allclose(scaled, integers, rtol=0,
                                                                                         atol=1e-6):
            return None
        return integers.astype(np.float32)

    def rule_bindings(self) -> list[RuleBinding]:
        """J by the asymmetric Hebbian rule with η = 1/N, pre = the cue ξ^μ, post = ξ^{μ+1},
        each presentation adding its increment (``batch_sum``)."""
        return [RuleBinding("couplings", rules.ASYMMETRIC_HEBBIAN, "visible", "visible",
                            {"x": "cue", "y": "next"}, {"learning_rate": 1.0 / self.n_neurons}, batch_sum=True)]

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

