"""The generalised pseudoinverse sequence memory ``S(t+1) = sgn(Ξ_nextᵀ f(O⁺ m(S)))``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.agreement import AgreementCase
from ...core.trials import TrialBatch
from ...validation import check_positive, check_real
from ..base import Batch, register_circuit
from .dense import DenseNet, DenseParameters
from .dynamics import ALL_MEMBERS, member_matmul

__all__ = ["PseudoinverseParameters", "GeneralizedPseudoinverse"]


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
    35:380; general f: Chaudhry et al. (2023), NeurIPS. Raises ``ValueError`` when P > N or
    ``cond(O) > max_condition``.

    The learned state is DenseNet's (``patterns``, ``successors``), written by the same declared
    local rules. ``O⁺`` is not learned state: it is a global matrix inverse of all stored
    patterns (no synapse can compute it from its own pre and post), so it is not written by a
    rule but derived from the stored patterns when recall needs it (:meth:`decorrelator`, cached
    until the patterns change); recall is therefore not local.
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
        overlap_matrix = member_matmul(patterns, patterns, transpose=True) / n
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

    def _decorrelate(self, overlaps: np.ndarray, members: slice = ALL_MEMBERS) -> np.ndarray:
        """Decorrelated overlaps ``O⁺ m`` (k, b, P) of the ensemble members ``members``."""
        return np.matmul(overlaps, self.decorrelator()[members])

    def rule_activities(self, activities: Mapping[str, np.ndarray], batch: Batch | TrialBatch | None
                        ) -> dict[str, np.ndarray]:
        """DenseNet's, refused (``ValueError``) when the write would store more than N patterns."""
        transitions = super().rule_activities(activities, batch)
        n_memories, n = self._memory_size() + transitions["cue"].shape[1], self.n_neurons
        if n_memories > n:
            raise ValueError(f"the pseudoinverse rule needs P <= N, got P={n_memories} patterns for N={n} neurons")
        return transitions

    def load_state_dict(self, state: Mapping[str, Any]) -> GeneralizedPseudoinverse:
        self._cache = None
        super().load_state_dict(state)
        return self

