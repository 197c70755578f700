"""Error-modulated Hebbian hidden layers (:class:`Hebbian`) with synaptic scaling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.agreement import AgreementCase
from ...rules import supervised as rules
from ...rules.declaration import Rule, RuleBinding, StateStep
from ..base import register_circuit
from .layered import LayeredCircuit, MLPParameters

__all__ = ["HebbianParameters", "Hebbian"]


# ============================================================================ Hebb
@dataclass(frozen=True)
class HebbianParameters(MLPParameters):
    """``learning_rate`` η of the error-modulated Hebbian hidden rule; ``synaptic_scaling``
    rescales each hidden neuron's incoming weights (with its bias) to their initial norm after every
    update (local, per neuron). Without it the rule is a positive feedback loop (larger
    weights → larger error → larger updates) and diverges on digits for η ≥ 3e-5; with it,
    η ≥ 3e-5 still collapses the layer onto one direction (all neurons learn the same leading
    component) and the readout diverges."""

    learning_rate: Any = 1e-5
    synaptic_scaling: bool = True

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.synaptic_scaling, bool):
            raise TypeError(f"synaptic_scaling must be a bool, got {self.synaptic_scaling!r}")


@register_circuit
class Hebbian(LayeredCircuit):
    """Error-modulated Hebbian hidden layers, ``ΔW_k = +η ⟨‖ε‖² h_k h_{k−1}ᵀ⟩`` (Bordelon &
    Pehlevan, ICLR 2023, "Hebb" pseudo-gradient ``δ = −‖ε‖² h``): co-activity gated by a global
    scalar error, no credit assignment; the output learns by the delta rule, so accuracy is
    that of a readout of Hebbian features."""

    name = "hebbian"
    agreement = (AgreementCase(
        "teacher-student", {"test_mse": (0.05, 0.0)}, params={"hidden_sizes": (20,), "bias": False},
        steps=250, eval_every=250, substrate_options={"spiking": {"presentation": 0.1, "dt": 1e-3}},
        note="5-20-2 student, 250 presentations"),)
    description = "error-modulated Hebbian hidden layers + delta-rule readout (Bordelon & Pehlevan 2023)"
    Parameters = HebbianParameters
    params: HebbianParameters

    def _rule_for_layer(self, k: int) -> Rule:
        return rules.ERROR_MODULATED_HEBBIAN

    def layer_rates(self, name: str = "learning_rate") -> tuple[float, ...]:
        """As for every layered circuit, and outside "standard" also ``/ (γ √n_k)``: the O(1)
        modulator ``‖ε‖² h_k`` stands for ``γ √n_k ∂f/∂h_k`` (B&P's pseudo-gradient scale)."""
        rates = super().layer_rates(name)
        if self.params.parameterization == "standard":
            return rates
        gamma, sizes = self.richness(), self.layer_sizes()
        return tuple(rate / (gamma * np.sqrt(sizes[k])) for k, rate in enumerate(rates, start=1))

    def _extra_initial_state(
        self, rng: np.random.Generator, sizes: list[int], state: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        if not self.params.synaptic_scaling:
            return {}
        return {f"row_norm_{k}": np.linalg.norm(state[f"weight_{k}"], axis=-1) for k in range(1, len(sizes) - 1)}

    def _hidden_signals(self, layers: list[np.ndarray], error: np.ndarray) -> dict[str, np.ndarray]:
        """``error_power`` ‖ε‖² (K, B, 1): the global scalar error every hidden synapse reads."""
        return {"error_power": rules.error_power(error)}

    def _hidden_bindings(self) -> list[RuleBinding]:
        """Layer k by :data:`~bioplausible.rules.supervised.ERROR_MODULATED_HEBBIAN` (pre h_{k−1}, post h_k)."""
        names, rates = self._population_names(), self.layer_rates()
        bindings = []
        for k in range(1, self.n_layers):
            signals = {"h": names[k], "error_power": "error_power"}
            bindings.append(RuleBinding(f"weight_{k}", rules.ERROR_MODULATED_HEBBIAN, names[k - 1], names[k],
                                        {"x": names[k - 1], **signals},
                                        {"learning_rate": rates[k - 1], "weight_decay": self.params.weight_decay}))
            if self.params.bias:
                bindings.append(RuleBinding(f"bias_{k}", rules.ERROR_MODULATED_HEBBIAN_BIAS, names[k], names[k],
                                            signals, {"learning_rate": rates[k - 1]}))
        return bindings

    def _declared_steps(self) -> list[StateStep]:
        """``synaptic-scaling`` (on by default): each hidden neuron's incoming weights with its
        bias rescaled to their initial norm ``row_norm_k`` after the rules; the bias first
        (:func:`_scaled_bias`), then the weights (:func:`_scaled_weights`)."""
        if not self.params.synaptic_scaling:
            return []
        steps = []
        for k in range(1, self.n_layers):
            if self.params.bias:
                steps.append(StateStep("synaptic-scaling", f"bias_{k}", _scaled_bias,
                                       reads=(f"weight_{k}", f"row_norm_{k}"),
                                       description="b_i ‖(W_i, b_i)‖ → the initial norm"))
            steps.append(StateStep("synaptic-scaling", f"weight_{k}", _scaled_weights,
                                   reads=(f"bias_{k}", f"row_norm_{k}"),
                                   description="W_i rescaled so that ‖(W_i, b_i)‖ is the initial norm"))
        return steps


def _scaling_factor(weights: np.ndarray, bias: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """``norm / ‖(W_i, b_i)‖`` per neuron (K, n)."""
    return norm / np.maximum(np.sqrt(np.sum(weights**2, axis=-1) + bias**2), 1e-300)


def _scaled_bias(bias: np.ndarray, weights: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """The bias times the synaptic-scaling factor of its neuron (weights not yet rescaled)."""
    return bias * _scaling_factor(weights, bias, norm)


def _scaled_weights(weights: np.ndarray, bias: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """The weights rescaled so that ``‖(W_i, b_i)‖ = norm_i``, with ``bias`` already rescaled
    (:func:`_scaled_bias`): ``W_i ← W_i √(norm_i² − b_i²) / ‖W_i‖`` (with a zero bias, bit for
    bit the factor of :func:`_scaling_factor`: ``√(norm²) = norm``)."""
    remaining = np.sqrt(np.maximum(norm**2 - bias**2, 0.0))
    return weights * (remaining / np.maximum(np.sqrt(np.sum(weights**2, axis=-1)), 1e-300))[..., None]
