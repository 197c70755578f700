"""The biological two-layer sequence memory: one hidden unit per stored transition."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.agreement import AgreementCase
from ...rules.declaration import RuleBinding, StateStep
from ..base import register_circuit
from .dense import DenseNet, DenseParameters
from .dynamics import ALL_MEMBERS, member_matmul, separation_function

__all__ = ["TwoLayerSequence"]


def _new_gains(gains: np.ndarray, cue: np.ndarray) -> np.ndarray:
    """``gains`` (K, P) with a gain of 1 appended for each of the B presentations of ``cue`` (K, B, N)."""
    new = np.ones(cue.shape[:2])
    return new if gains.shape[-1] == 0 else np.concatenate([gains, new], axis=-1)


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

    def overlaps(self, states: np.ndarray, members: slice = ALL_MEMBERS) -> np.ndarray:
        dots = member_matmul(states, self.state["visible_to_hidden"][members], transpose=True)
        return self._decorrelate(dots, members)

    def _field(self, states, delayed=None, members=ALL_MEMBERS):
        drive = self._transfer(self.overlaps(states, members)) * self.state["hidden_gain"][members, None, :]
        field = member_matmul(drive, self.state["hidden_to_visible"][members], transpose=True)
        scale = np.abs(drive).sum(axis=-1, keepdims=True)
        return field, np.broadcast_to(scale, field.shape)

    def _hidden_activity(self, states: np.ndarray) -> dict[str, np.ndarray]:
        p = self.params
        h = separation_function(self.overlaps(states), p.separation, p.degree, p.beta, self.n_neurons)
        return {"memory": h * self.state["hidden_gain"][:, None, :]}

    def rule_bindings(self) -> list[RuleBinding]:
        """One hidden unit recruited per transition: ``ΔW_vh = r v(t)ᵀ/N``, ``ΔW_hv = v(t+1) rᵀ``
        (the asymmetric Hebbian rule with the recruitment signal r(t) = e_μ as post, then as pre)."""
        return [self.recruit_binding("visible_to_hidden", "memory", "post", scale=1.0 / self.n_neurons),
                self.recruit_binding("hidden_to_visible", "memory", "pre", source="next")]

    def state_steps(self) -> list[StateStep]:
        """The recruited units' gain ``g_μ = 1`` (a unit is silenced by :meth:`silence` only)."""
        return [StateStep("recruit-gain", "hidden_gain", _new_gains, "g_μ = 1 for each unit recruited",
                          activities=("cue",))]

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        k, n = self.ensemble_size, self.n_neurons
        return {("cue", "visible"): np.broadcast_to(np.eye(n), (k, n, n)).copy(),
                ("visible", "memory"): self.state["visible_to_hidden"],
                ("memory", "visible"): self.state["hidden_to_visible"] * self.state["hidden_gain"][:, None, :]}

