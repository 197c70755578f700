"""Error broadcast and decorrelation (:class:`EBD`) and direct feedback alignment
(:class:`DirectFeedbackAlignment`, EBD with the projection frozen).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.agreement import AgreementCase
from ...rules import supervised as rules
from ...rules.declaration import Rule, RuleBinding, StateStep
from ...validation import check_choice, check_real
from ..base import Connection, register_circuit
from .layered import LayeredCircuit, MLPParameters

__all__ = ["EBDParameters", "EBD", "DFAParameters", "DirectFeedbackAlignment", "check_projection",
           "check_frozen_projection"]


def _woodbury_step(inverse: np.ndarray, post: np.ndarray, forgetting: float) -> np.ndarray:
    """The inverse ``(R_h + ε I)⁻¹`` after one batch
    (:func:`~bioplausible.rules.supervised.inverse_correlation_woodbury`)."""
    return inverse + rules.inverse_correlation_woodbury(inverse, post, forgetting)


def _masked(weights: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The weights on the fixed sparse connectivity ``mask``."""
    return weights * mask


def _forward_product(state: Mapping[str, np.ndarray], k: int, output_layer: int) -> np.ndarray:
    """``W_L W_{L−1} ⋯ W_{k+1}`` (K, n_L, n_k): the linear forward path from layer k to the
    output layer L (``output_layer``)."""
    product = state[f"weight_{output_layer}"]
    for j in range(output_layer - 1, k, -1):
        product = np.matmul(product, state[f"weight_{j}"])
    return product


# ============================================================================ EBD / DFA
def check_projection(params: Any) -> None:
    """The error-projection parameters every EBD circuit shares (MLP and patch-connected):
    ``forgetting`` in [0, 1], ``projection_gain`` ≥ 0, ``sign`` descent/ascent, ``freeze_projection`` a bool."""
    check_real("forgetting", params.forgetting, 0.0, 1.0)
    check_real("projection_gain", params.projection_gain, 0.0)
    check_choice("sign", params.sign, ["descent", "ascent"])
    if not isinstance(params.freeze_projection, bool):
        raise TypeError(f"freeze_projection must be a bool, got {params.freeze_projection!r}")


def check_frozen_projection(params: Any, circuit: str, alternative: str) -> None:
    """DFA is EBD with the projection frozen: refuse ``freeze_projection=False`` for ``circuit``."""
    if params.freeze_projection is not True:
        raise ValueError(f"freeze_projection must be True for {circuit} (use {alternative!r} otherwise)")


@dataclass(frozen=True)
class EBDParameters(MLPParameters):
    """EBD parameters (small-scale defaults for the digits task; the paper's values are for MNIST/CIFAR-10).

    ``learning_rate`` μ_d (decorrelation rate, per layer or one value); ``forgetting`` λ_d of
    R; ``projection_gain`` Xavier-uniform gain of R₀ (outside the standard parameterization: R₀ Gaussian
    with std ``projection_gain · g / (γ √n_k)``, 1 = the scale of the readout path); ``sign`` "descent" (paper, −μ_d) or
    "ascent" (+μ_d, an ablation of the descent sign); ``freeze_projection`` keeps R = R₀ (DFA).
    Regularisers (all off by default, each per layer or one value): ``power_rate`` μ_p with
    target ``power_target`` P; ``entropy_rate`` μ_E with ``entropy_forgetting`` λ_E,
    ``entropy_epsilon`` ε_E and ``entropy_init`` (R_h₀ = c I), ``entropy_solver`` "cholesky"
    (exact solve per batch, O(N³)) or "woodbury" (rank-B update of the inverse, O(N²B); its
    ridge fades as λ_E^t, see :func:`~bioplausible.rules.supervised.inverse_correlation_woodbury`); ``l1_rate`` μ_1;
    ``forward_broadcast_rate`` μ_df (output layer). ``momentum`` m_d: heavy-ball on the
    hidden-layer steps (*unverified* form); ``sparsity``: fraction of each hidden weight
    matrix held at zero by a fixed random mask.
    """

    learning_rate: Any = 5.0
    forgetting: float = 0.9999
    projection_gain: float = 1e-2
    sign: str = "descent"
    freeze_projection: bool = False
    power_rate: Any = 0.0
    power_target: Any = 0.25
    entropy_rate: Any = 0.0
    entropy_forgetting: float = 0.999
    entropy_epsilon: float = 1e-2
    entropy_init: float = 1.0
    entropy_solver: str = "cholesky"
    l1_rate: Any = 0.0
    forward_broadcast_rate: float = 0.0
    momentum: float = 0.0
    sparsity: float = 0.0

    def validate(self) -> None:
        super().validate()
        check_projection(self)
        for name in ("power_rate", "power_target", "entropy_rate", "l1_rate"):
            self.per_layer(name)
        check_real("entropy_forgetting", self.entropy_forgetting, 0.0, 1.0)
        check_real("entropy_epsilon", self.entropy_epsilon, 0.0, inclusive=False)
        check_real("entropy_init", self.entropy_init, 0.0)
        check_choice("entropy_solver", self.entropy_solver, ["cholesky", "woodbury"])
        check_real("forward_broadcast_rate", self.forward_broadcast_rate, 0.0)
        check_real("momentum", self.momentum, 0.0, 1.0, inclusive=True)
        if self.momentum >= 1.0:
            raise ValueError(f"momentum must be < 1, got {self.momentum}")
        check_real("sparsity", self.sparsity, 0.0, 1.0)
        if self.sparsity >= 1.0:
            raise ValueError(f"sparsity must be < 1, got {self.sparsity}")


@register_circuit
class EBD(LayeredCircuit):
    """Error broadcast and decorrelation (Erdogan, Pehlevan & Erdogan, NeurIPS 2025, Alg. 1).

    Per batch and hidden layer k (independently), R first, then the projection::

        R_k ← λ_d R_k + (1−λ_d) ⟨h_k εᵀ⟩                      (error synapses, Hebbian)
        Φ_k = f'(u_k) ⊙ (R_k ε)                                 (g(h) = h: g' = 1)
        ΔW_k = −μ_d ⟨Φ_k h_{k−1}ᵀ⟩,  Δb_k = −μ_d ⟨Φ_k⟩          (+ regularisers, see :ref:`theory-supervised-ebd`)
        W_L −= μ_L ⟨ε h_{L−1}ᵀ⟩                                  (delta rule)

    descending ``J_k = ½‖E[h_k εᵀ]‖²_F`` with the path through ε dropped. The output layer may
    also descend Σ J_k through ε (``forward_broadcast_rate``). State adds ``projection_k``
    R_k (K, n_k, n_L), ``autocorrelation_k`` R_h (entropy on), ``mask_k`` (sparsity on),
    ``velocity_k``/``velocity_bias_k`` (momentum on). Init: R Xavier-uniform with
    ``projection_gain``. Spiking: the broadcast ``R_k ε`` is a per-neuron modulator; the same
    functions run on decoded counts (``f'`` = the gate ``1[n_i > 0]``).
    """

    name = "ebd"
    agreement = (AgreementCase(
        "teacher-student", {"test_mse": (0.05, 0.0)},
        params={"learning_rate": 0.2, "hidden_sizes": (20,), "output_rate": 0.02, "forgetting": 0.99,
                "projection_gain": 0.0, "sign": "ascent", "bias": False},
        steps=250, eval_every=250, substrate_options={"spiking": {"presentation": 0.1, "dt": 1e-3}},
        note="the EBD check experiment (5-20-2 student, R0 = 0, λ_d = 0.99, opposite sign), 250 presentations"),)
    description = "error broadcast and decorrelation MLP (Erdogan, Pehlevan & Erdogan, NeurIPS 2025)"
    Parameters = EBDParameters
    params: EBDParameters

    def _extra_initial_state(
        self, rng: np.random.Generator, sizes: list[int], state: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        p = self.params
        extra: dict[str, np.ndarray] = {}
        n_out = sizes[-1]
        for k in range(1, len(sizes) - 1):
            if p.parameterization == "standard":
                bound = p.projection_gain * np.sqrt(6.0 / (sizes[k] + n_out))
                extra[f"projection_{k}"] = rng.uniform(-bound, bound, (sizes[k], n_out))
            else:  # Gaussian at the scale of the readout path it replaces: std g/(γ √n_k), times the gain
                std = p.projection_gain * p.init_gain / np.sqrt(sizes[k]) / self.richness(sizes)
                extra[f"projection_{k}"] = std * rng.standard_normal((sizes[k], n_out))
            if any(r > 0 for r in p.per_layer("entropy_rate")) and p.entropy_solver == "cholesky":
                extra[f"autocorrelation_{k}"] = p.entropy_init * np.eye(sizes[k])
            elif any(r > 0 for r in p.per_layer("entropy_rate")):
                extra[f"inverse_autocorrelation_{k}"] = np.eye(sizes[k]) / (p.entropy_init + p.entropy_epsilon)
            if p.sparsity > 0:
                mask = (rng.random((sizes[k], sizes[k - 1])) >= p.sparsity).astype(float)
                extra[f"mask_{k}"] = mask
                state[f"weight_{k}"] = state[f"weight_{k}"] * mask
            if p.momentum > 0:
                extra[f"velocity_{k}"] = np.zeros((sizes[k], sizes[k - 1]))
                extra[f"velocity_bias_{k}"] = np.zeros(sizes[k])
        return extra

    def _regularised(self) -> bool:
        """Whether a regulariser of the hidden layers is on (then :data:`~bioplausible.rules.supervised.EBD_HIDDEN`)."""
        p = self.params
        return any(rate > 0 for name in ("power_rate", "entropy_rate", "l1_rate") for rate in p.per_layer(name))

    def _rule_for_layer(self, k: int) -> Rule:
        if self.params.momentum > 0:
            return rules.EBD_VELOCITY
        return rules.EBD_HIDDEN if self._regularised() else rules.THREE_FACTOR

    def connections(self) -> list[Connection]:
        conns = super().connections()
        if not self.params.freeze_projection:
            for name in self._hidden_names():
                conns.append(Connection("output", name, rules.RUNNING_CORRELATION, kind="modulatory",
                                        description="error synapses R_k: broadcast ε, Hebbian with forgetting"))
        else:
            for name in self._hidden_names():
                conns.append(Connection("output", name, None, kind="modulatory",
                                        description="fixed random error broadcast R_k[0] (DFA)"))
        return conns

    # ------------------------------------------------------------------ declared learning
    def _hidden_signals(self, layers: list[np.ndarray], error: np.ndarray) -> dict[str, np.ndarray]:
        """Per hidden layer k, from the state before the update: ``gain_k`` f'(u_k) and
        ``modulator_k`` = R_k ε with R_k *after* this batch's step of its rule (Alg. 1: R
        first; the same declared rule, :func:`~bioplausible.rules.supervised.decorrelation_correlation`),
        negated for ``sign="ascent"``. With regularisers: ``power_k``, ``whitened_k`` (the entropy
        term's ``(R_h + ε I)⁻¹ h`` with R_h after its step: not local, it mixes the layer) and
        ``sparse_k``, zero where the layer's rate is 0; with ``forward_broadcast_rate`` the output's
        ``broadcast`` Σ_k R_kᵀ h_k."""
        p = self.params
        power_rates, targets = p.per_layer("power_rate"), p.per_layer("power_target")
        entropy_rates, l1_rates = p.per_layer("entropy_rate"), p.per_layer("l1_rate")
        regularised = self._regularised() or p.momentum > 0
        signals: dict[str, np.ndarray] = {}
        broadcast = None
        for k in range(1, self.n_layers):
            post = layers[k]
            projection = self.state[f"projection_{k}"]
            if not p.freeze_projection:
                projection = projection + rules.decorrelation_correlation(post, error, projection, p.forgetting)
            modulator = rules.broadcast_error(projection, error)
            signals[f"modulator_{k}"] = -modulator if p.sign == "ascent" else modulator
            signals[f"gain_{k}"] = rules.relu_gain(post)
            if regularised:
                zero = np.zeros_like(post)
                signals[f"power_{k}"] = rules.power_signal(post, targets[k - 1]) if power_rates[k - 1] > 0 else zero
                signals[f"sparse_{k}"] = rules.sparsity_signal(post) if l1_rates[k - 1] > 0 else zero
                signals[f"whitened_{k}"] = zero
                if entropy_rates[k - 1] > 0 and p.entropy_solver == "woodbury":
                    inverse = self.state[f"inverse_autocorrelation_{k}"]
                    signals[f"whitened_{k}"] = rules.entropy_signal_woodbury(
                        post, _woodbury_step(inverse, post, p.entropy_forgetting))
                elif entropy_rates[k - 1] > 0:
                    autocorrelation = self.state[f"autocorrelation_{k}"]
                    autocorrelation = autocorrelation + rules.running_correlation(post, post, autocorrelation,
                                                                                  p.entropy_forgetting)
                    signals[f"whitened_{k}"] = rules.entropy_signal(post, autocorrelation, p.entropy_epsilon)
            if p.forward_broadcast_rate > 0:
                term = rules.decorrelation_broadcast(post, projection)
                broadcast = term if broadcast is None else broadcast + term
        if broadcast is not None:
            signals["broadcast"] = broadcast
        return signals

    def _output_parameters(self) -> dict[str, float]:
        return {**super()._output_parameters(), "broadcast_rate": self.params.forward_broadcast_rate}

    def _hidden_bindings(self) -> list[RuleBinding]:
        """R_k by :data:`~bioplausible.rules.supervised.RUNNING_CORRELATION` (post h_k, pre ε;
        not with ``freeze_projection``), R_h likewise (post and pre h_k; entropy on, Cholesky
        solver); W_k, b_k by the three-factor rule, or :data:`~bioplausible.rules.supervised.EBD_HIDDEN`
        with regularisers; with momentum the velocities take that step
        (:data:`~bioplausible.rules.supervised.EBD_VELOCITY`, phase 0) and W_k, b_k move by them
        (:data:`~bioplausible.rules.supervised.VELOCITY_STEP`, phase 1)."""
        p = self.params
        if not (self._regularised() or p.momentum > 0):
            bindings = super()._hidden_bindings()
        else:
            bindings = self._regularised_bindings()
        names = self._population_names()
        entropy_rates = p.per_layer("entropy_rate")
        for k in range(1, self.n_layers):
            if not p.freeze_projection:
                bindings.append(RuleBinding(f"projection_{k}", rules.RUNNING_CORRELATION, "output", names[k],
                                            {"y": names[k], "x": "error"}, {"forgetting": p.forgetting}))
            if f"autocorrelation_{k}" in self.state and entropy_rates[k - 1] > 0:
                bindings.append(RuleBinding(f"autocorrelation_{k}", rules.RUNNING_CORRELATION, names[k], names[k],
                                            {"y": names[k], "x": names[k]}, {"forgetting": p.entropy_forgetting}))
        return bindings

    def _regularised_bindings(self) -> list[RuleBinding]:
        p = self.params
        names = self._population_names()
        per_layer = {"learning_rate": self.layer_rates(), "power_rate": p.per_layer("power_rate"),
                     "entropy_rate": p.per_layer("entropy_rate"), "l1_rate": p.per_layer("l1_rate")}
        bindings = []
        for k in range(1, self.n_layers):
            signals = {name: f"{name}_{k}" for name in ("gain", "modulator", "power", "whitened", "sparse")}
            rates = {name: values[k - 1] for name, values in per_layer.items()}
            pre = {"x": names[k - 1], **signals}
            if p.momentum > 0:
                momentum = {"momentum": p.momentum}
                bindings += [
                    RuleBinding(f"velocity_{k}", rules.EBD_VELOCITY, names[k - 1], names[k], pre,
                                {**momentum, **rates, "weight_decay": p.weight_decay}, states={"W": f"weight_{k}"}),
                    RuleBinding(f"weight_{k}", rules.VELOCITY_STEP, names[k - 1], names[k], {}, {},
                                states={"V": f"velocity_{k}"}, phase=1),
                    # the bias velocity runs with bias=False too (the state it always had), unused then
                    RuleBinding(f"velocity_bias_{k}", rules.EBD_VELOCITY_BIAS, names[k], names[k], signals,
                                {**momentum, **rates}),
                ]
                if p.bias:
                    bindings.append(RuleBinding(f"bias_{k}", rules.VELOCITY_STEP_BIAS, names[k], names[k], {}, {},
                                                states={"v": f"velocity_bias_{k}"}, phase=1))
            else:
                bindings.append(RuleBinding(f"weight_{k}", rules.EBD_HIDDEN, names[k - 1], names[k], pre,
                                            {**rates, "weight_decay": p.weight_decay}))
                if p.bias:
                    bindings.append(RuleBinding(f"bias_{k}", rules.EBD_HIDDEN_BIAS, names[k], names[k], signals,
                                                rates))
        return bindings

    def _declared_steps(self) -> list[StateStep]:
        """``woodbury-inverse``: the rank-B update of ``(R_h + ε I)⁻¹`` (entropy on, Woodbury
        solver; a batch construction, not a per-sample rule); ``sparsity-mask``: W_k times its
        fixed mask after the update (sparsity on)."""
        p = self.params
        steps = []
        last = 1 if p.momentum > 0 else 0
        names = self._population_names()
        for k in range(1, self.n_layers):
            if f"inverse_autocorrelation_{k}" in self.state and p.per_layer("entropy_rate")[k - 1] > 0:
                steps.append(StateStep("woodbury-inverse", f"inverse_autocorrelation_{k}",
                                       functools.partial(_woodbury_step, forgetting=p.entropy_forgetting),
                                       activities=(names[k],),
                                       description="P ← (1/λ)[P − P H (λB/(1−λ) I + Hᵀ P H)⁻¹ Hᵀ P]"))
            if p.sparsity > 0:
                steps.append(StateStep("sparsity-mask", f"weight_{k}", _masked, reads=(f"mask_{k}",), phase=last,
                                       description="W_k ⊙ mask_k: the fixed sparse connectivity"))
        return steps

    def feedback_paths(self) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """Layer k: the forward path ``W_L⋯W_{k+1}`` (K, n_L, n_k) against ``R_kᵀ``."""
        output_layer = self.n_layers
        return [
            (_forward_product(self.state, k, output_layer), np.swapaxes(self.state[f"projection_{k}"], -1, -2))
            for k in range(1, output_layer)
        ]


@dataclass(frozen=True)
class DFAParameters(EBDParameters):
    """DFA = EBD with ``freeze_projection=True`` (B_k = R_k[0], see :ref:`theory-supervised-ebd`)."""

    freeze_projection: bool = True

    def validate(self) -> None:
        super().validate()
        check_frozen_projection(self, "direct-feedback-alignment", "ebd")


@register_circuit
class DirectFeedbackAlignment(EBD):
    """Direct feedback alignment (Nøkland 2016) as EBD with the projection frozen at its
    random init: ``ΔW_k = −μ_d ⟨(f'(u_k) ⊙ B_k ε) h_{k−1}ᵀ⟩``, ``B_k = R_k[0]`` (see :ref:`theory-supervised-ebd`).

    With ``entropy_rate > 0`` this is DFA+E of the EBD paper. Same code path as :class:`EBD`.
    """

    name = "direct-feedback-alignment"
    agreement = (AgreementCase(
        "teacher-student", {"test_mse": (0.05, 0.0)}, params={"hidden_sizes": (20,), "bias": False},
        steps=250, eval_every=250, substrate_options={"spiking": {"presentation": 0.1, "dt": 1e-3}},
        note="5-20-2 student, 250 presentations"),)
    description = "direct feedback alignment: EBD with the error projection frozen (Nøkland 2016)"
    Parameters = DFAParameters
    params: DFAParameters

