"""Circuits whose error travels down the layers: :class:`Backprop` (weight transport) and
:class:`FeedbackAlignment` (fixed random backward weights, ρ-FA).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np

from ...core.agreement import AgreementCase
from ...rules import supervised as rules
from ...validation import check_real
from ..base import Connection, register_circuit
from .layered import LayeredCircuit, MLPParameters

__all__ = ["FeedbackAlignmentParameters", "Backprop", "FeedbackAlignment", "weight_transport_connections"]


def weight_transport_connections(n_layers: int) -> list[Connection]:
    """The error pathways of backpropagation in a network of ``n_layers`` weight layers: layer
    k + 1 (or the output) sends δ back to hidden layer k through ``W_{k+1}ᵀ`` (weight transport)."""
    return [Connection("output" if k == n_layers - 1 else f"hidden_{k + 1}", f"hidden_{k}", None, kind="modulatory",
                       description=f"weight transport W_{k + 1}ᵀ (error pathway)") for k in range(1, n_layers)]


# ============================================================================ FA / BP
@dataclass(frozen=True)
class FeedbackAlignmentParameters(MLPParameters):
    """``rho`` ρ of ρ-FA: ``B_{k+1} = (ρ W_{k+1}(0) + √(1−ρ²) W̃)ᵀ``, W̃ Gaussian scaled like W
    (ρ = 0: FA; ρ = 1: BP at init). B&P paper, Bordelon & Pehlevan, ICLR 2023."""

    rho: float = 0.0

    def validate(self) -> None:
        super().validate()
        check_real("rho", self.rho, 0.0, 1.0)


class _BackwardPathCircuit(LayeredCircuit):
    """BP and FA: the error travels down the layers, ``δ_k = f'(u_k) ⊙ B_{k+1} δ_{k+1}``."""

    @abstractmethod
    def _feedback(self, k: int) -> np.ndarray:
        """``B_{k+1}`` (K, n_k, n_{k+1}) carrying δ_{k+1} to hidden layer k."""

    def _hidden_signals(self, layers: list[np.ndarray], error: np.ndarray) -> dict[str, np.ndarray]:
        """``gain_k`` f'(u_k) and ``modulator_k`` = B_{k+1} δ_{k+1}, from the output down
        (δ_L = ε, δ_k = f'(u_k) ⊙ q_k), with every matrix before the update. The error path
        is layered: q_k reads the whole layer above through B (for BP the transposed forward
        weights, a non-local weight transport), computed here as a neuron-level signal."""
        signals: dict[str, np.ndarray] = {}
        delta = error  # δ_L = ε ⊙ f'(u_L), linear output
        for k in range(self.n_layers - 1, 0, -1):
            modulator = rules.backpropagated_error(self._feedback(k), delta)
            gain = rules.relu_gain(layers[k])
            signals[f"modulator_{k}"], signals[f"gain_{k}"] = modulator, gain
            delta = gain * modulator
        return signals

    def feedback_paths(self) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """Layer k: ``W_{k+1}`` (K, n_{k+1}, n_k) against the transposed feedback ``B_{k+1}ᵀ``."""
        return [
            (self.state[f"weight_{k + 1}"], np.swapaxes(self._feedback(k), -1, -2)) for k in range(1, self.n_layers)
        ]


@register_circuit
class Backprop(_BackwardPathCircuit):
    """Backpropagation of the squared error, ``δ_k = f'(u_k) ⊙ W_{k+1}ᵀ δ_{k+1}``, plain SGD.

    The reference the local rules are compared with (needs weight transport). Same forward
    pass, output delta rule and three-factor hidden update as every other circuit here. The
    synaptic update is the declared three-factor rule; its modulator ``W_{k+1}ᵀ δ_{k+1}`` is
    not local (it reads the transposed forward weights of the layer above): it is a declared
    neuron-level signal, computed once per batch (:meth:`_hidden_signals`).
    """

    name = "backprop"
    agreement = (AgreementCase(
        "teacher-student", {"test_mse": (0.05, 0.0)}, params={"hidden_sizes": (20,), "bias": False},
        steps=250, eval_every=250, substrate_options={"spiking": {"presentation": 0.1, "dt": 1e-3}},
        note="5-20-2 student, 250 presentations"),)
    description = "backpropagation MLP, plain SGD on ½‖ε‖² (reference)"
    Parameters = MLPParameters
    params: MLPParameters

    def _feedback(self, k: int) -> np.ndarray:
        return np.swapaxes(self.state[f"weight_{k + 1}"], -1, -2)

    def connections(self) -> list[Connection]:
        return [*super().connections(), *weight_transport_connections(self.n_layers)]


@register_circuit
class FeedbackAlignment(_BackwardPathCircuit):
    """Feedback alignment (Lillicrap et al. 2016): ``δ_k = f'(u_k) ⊙ B_{k+1} δ_{k+1}`` with
    fixed random ``B``; ``rho`` > 0 gives ρ-FA (Bordelon & Pehlevan, ICLR 2023).
    State adds ``feedback_k`` (K, n_k, n_{k+1}) for each hidden layer k."""

    name = "feedback-alignment"
    agreement = (AgreementCase(
        "teacher-student", {"test_mse": (0.05, 0.0)}, params={"hidden_sizes": (20,), "bias": False},
        steps=250, eval_every=250, substrate_options={"spiking": {"presentation": 0.1, "dt": 1e-3}},
        note="5-20-2 student, 250 presentations"),)
    description = "feedback alignment MLP, fixed random backward weights (Lillicrap et al. 2016)"
    Parameters = FeedbackAlignmentParameters
    params: FeedbackAlignmentParameters

    def _extra_initial_state(
        self, rng: np.random.Generator, sizes: list[int], state: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        rho = self.params.rho
        extra = {}
        for k in range(1, len(sizes) - 1):
            forward = state[f"weight_{k + 1}"]
            scale = self.params.init_gain / np.sqrt(sizes[k]) * self._init_scale(k + 1, sizes)
            random = scale * rng.standard_normal(forward.shape)
            extra[f"feedback_{k}"] = (rho * forward + np.sqrt(1.0 - rho**2) * random).T.copy()
        return extra

    def _feedback(self, k: int) -> np.ndarray:
        return self.state[f"feedback_{k}"]

    def connections(self) -> list[Connection]:
        conns = super().connections()
        for k in range(1, self.n_layers):
            above = "output" if k == self.n_layers - 1 else f"hidden_{k + 1}"
            conns.append(Connection(above, f"hidden_{k}", None, kind="modulatory",
                                    description=f"fixed random feedback B_{k + 1}"))
        return conns

