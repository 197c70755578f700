"""CorInfoMax-EBD: the CorInfoMax network (:mod:`.corinfomax_network`) trained by error
broadcast and decorrelation in a single (free) phase (Erdogan, Pehlevan & Erdogan, NeurIPS
2025, Algorithm 3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.agreement import AgreementCase
from ...core.trials import TrialBatch
from ...rules import supervised as supervised_rules
from ...rules import supervised_corinfomax as rules
from ...rules.declaration import Rule, RuleBinding
from ...rules.supervised_corinfomax import lateral_gamma
from ...validation import check_choice, check_rates, check_real
from ..base import Batch, Connection, register_circuit
from .corinfomax_network import CorInfoMaxNetwork, CorInfoMaxParameters

__all__ = ["CorInfoMaxEBDParameters", "CorInfoMaxEBD"]


@dataclass(frozen=True)
class CorInfoMaxEBDParameters(CorInfoMaxParameters):
    """CorInfoMax-EBD (:ref:`theory-supervised-corinfomax`; EBD paper, Algorithm 3).

    Learning: ``decorrelation_rate`` μ_df of the hidden layers' forward weights (one value or
    one per hidden layer), ``output_rate`` μ_df of the output layer, ``feedback_decorrelation_rate``
    μ_db (backward weights, per hidden layer), ``lateral_decorrelation_rate`` μ_dl (all layers),
    ``prediction_rate`` μ_f = μ_b of the dendritic prediction-error terms (≈0 in the paper),
    ``error_forgetting`` λ_d of R, ``lateral_forgetting`` λ_E of the anti-Hebbian B update,
    ``projection_gain`` Xavier gain of R₀; ``output_rule`` "matching" (Φ_L = ε, our default:
    the gradient of the matching loss ``Σ_c ∫^{u_c} (clip(z, 0, 1) − y_c) dz`` of the clipped
    output, convex in u), "delta" (Φ_L = 1[0 < u_L < 1] ⊙ ε, the gradient of ½‖clip(u) − y‖²,
    whose flat parts let an output unit that is silent on every input never learn again) or
    "ebd" (Φ_L = 1[0 < u_L < 1] ⊙ R_L ε as for hidden layers; with λ_d ≈ 1, R_L stays a random
    matrix and on digits the output does not learn)."""

    decorrelation_rate: Any = 0.3
    output_rate: float = 0.1
    feedback_decorrelation_rate: Any = 0.0
    lateral_decorrelation_rate: float = 0.0
    prediction_rate: float = 0.0
    error_forgetting: float = 0.99999
    lateral_forgetting: float = 0.999999
    projection_gain: float = 1.0
    output_rule: str = "matching"

    def validate(self) -> None:
        super().validate()
        n = len(self.hidden_sizes)
        check_rates("decorrelation_rate", self.decorrelation_rate, n)
        check_real("output_rate", self.output_rate, 0.0)
        check_rates("feedback_decorrelation_rate", self.feedback_decorrelation_rate, n)
        check_real("lateral_decorrelation_rate", self.lateral_decorrelation_rate, 0.0)
        check_real("prediction_rate", self.prediction_rate, 0.0)
        check_real("error_forgetting", self.error_forgetting, 0.0, 1.0)
        check_real("lateral_forgetting", self.lateral_forgetting, 0.0, 1.0, inclusive=False)
        check_real("projection_gain", self.projection_gain, 0.0)
        check_choice("output_rule", self.output_rule, ["matching", "delta", "ebd"])


@register_circuit
class CorInfoMaxEBD(CorInfoMaxNetwork):
    """CorInfoMax network trained by error broadcast and decorrelation, single (free) phase
    (Erdogan, Pehlevan & Erdogan, NeurIPS 2025, §2.11, Algorithm 3; network of Bozkurt,
    Pehlevan & Erdogan, NeurIPS 2023; dynamics: :func:`corinfomax_settle` with β = 0).

    The label never enters the dynamics. Per batch and layer k, ``E = h_L − y``::

        R_k ← λ_d R_k + (1−λ_d)⟨h_k Eᵀ⟩;   Φ_k = 1[0 < u_k < 1] ⊙ (R_k E)   (Φ_L = E, output_rule="matching")
        W_f,k += ⟨(μ_f (h_k − W_f,k h_{k−1}) − μ_df Φ_k) h_{k−1}ᵀ⟩
        W_b,k += ⟨(μ_b (h_k − W_b,k h_{k+1}) − μ_db Φ_k) h_{k+1}ᵀ⟩
        B_k ← λ_E⁻¹ [B_k − γ_E ⟨z zᵀ⟩] − μ_dl ⟨Φ_k h_kᵀ⟩,   z = B_k h_k

    Declared (:meth:`rule_bindings`): R_k by
    :data:`~bioplausible.rules.supervised.RUNNING_CORRELATION` (post h_k, pre ε), W_f,k and W_b,k
    by :data:`~bioplausible.rules.supervised_corinfomax.CORINFOMAX_EBD_DENDRITE`, B_k by
    :data:`~bioplausible.rules.supervised_corinfomax.CORINFOMAX_EBD_LATERAL`; Φ_k is the gain
    ``gain_k`` times the modulator ``modulator_k`` of :meth:`rule_activities`, with R_k after this
    batch's step of its rule (as Algorithm 3 orders them).

    **Output rule.** Gating the output's delta rule by the clip's derivative (the gradient of
    ½‖clip(u) − y‖²) kills output units: a unit whose drive is negative for every input (1–2
    of 10 per seed at init on digits, more during training, since 9 in 10 targets push it
    down) gets no update and its class is never predicted (digits, 5 seeds, 60 epochs:
    43.8–82.1 %). The default "matching" rule drops the gate, i.e. descends the matching loss
    of the clip, whose gradient in u is ``clip(u) − y`` everywhere (for targets in [0, 1] this
    is also the one-sided gate that blocks only updates pushing a unit further out of range).

    Spiking: refused (:mod:`.corinfomax_network`). State adds ``projection_k`` R_k (K, n_k, n_L).
    """

    name = "corinfomax-ebd"
    agreement = (AgreementCase("classification", {}, unsupported=("spiking",),
                               note="no spiking realisation of its clipped Euler settling"),)
    description = "CorInfoMax network trained by EBD, single phase (Erdogan, Pehlevan & Erdogan, NeurIPS 2025)"
    Parameters = CorInfoMaxEBDParameters
    params: CorInfoMaxEBDParameters

    def _extra_initial_state(self, rng: np.random.Generator, sizes: list[int], xavier: Any) -> dict[str, np.ndarray]:
        return {f"projection_{k}": xavier(sizes[k], sizes[-1], self.params.projection_gain)
                for k in range(1, len(sizes))}

    def _rules(self) -> tuple[Rule, Rule, Rule]:
        return rules.CORINFOMAX_EBD_DENDRITE, rules.CORINFOMAX_EBD_DENDRITE, rules.CORINFOMAX_EBD_LATERAL

    def _extra_connections(self) -> list[Connection]:
        return [Connection("output", name, supervised_rules.RUNNING_CORRELATION, kind="modulatory",
                           description=f"error synapses R_{k}: broadcast ε, Hebbian with forgetting λ_d")
                for k, name in enumerate(self._names()[1:], 1)]

    def rule_activities(self, activities: Mapping[str, np.ndarray], batch: Batch | TrialBatch | None
                        ) -> dict[str, np.ndarray]:
        """The rates (free phase), the broadcast error ``error`` ε = h_L − y, the dendrites'
        predictions (:meth:`~.CorInfoMaxNetwork.predictions`) and per layer k the gain ``gain_k``
        and modulator ``modulator_k`` of Φ_k = gain_k ⊙ modulator_k: ``1[0 < u_k < 1]`` and
        ``R_k ε`` with R_k after this batch's step of its rule (:func:`~bioplausible.rules.
        supervised.decorrelation_correlation`); at the output, gain 1 and modulator ε
        (``output_rule="matching"``) or gain ``1[0 < u_L < 1]`` and modulator ε ("delta")."""
        if batch is None or batch.targets is None:
            raise ValueError("corinfomax-ebd.learn needs a batch with targets")
        p, L = self.params, self.n_layers
        h = self.rates(activities)
        error = h[L] - batch.targets
        out = {**dict(zip(self._names(), h)), "error": error, **self.predictions(h)}
        for k in range(1, L + 1):
            if k == L and p.output_rule != "ebd":
                out[f"gain_{k}"] = np.ones_like(h[k]) if p.output_rule == "matching" else rules.clip_gain(h[k])
                out[f"modulator_{k}"] = error
                continue
            projection = self.state[f"projection_{k}"]
            projection = projection + supervised_rules.decorrelation_correlation(h[k], error, projection,
                                                                                 p.error_forgetting)
            out[f"gain_{k}"] = rules.clip_gain(h[k])
            out[f"modulator_{k}"] = supervised_rules.broadcast_error(projection, error)
        return out

    def rule_bindings(self) -> list[RuleBinding]:
        p, L, names = self.params, self.n_layers, self._names()
        forward_rates = (*check_rates("decorrelation_rate", p.decorrelation_rate, L - 1), p.output_rate)
        backward_rates = check_rates("feedback_decorrelation_rate", p.feedback_decorrelation_rate, L - 1)
        lateral = {"gamma_y": lateral_gamma(p.lateral_forgetting), "forgetting_y": p.lateral_forgetting,
                   "decorrelation_rate": p.lateral_decorrelation_rate}
        bindings = []
        for k in range(1, L + 1):
            phi = {"gain": f"gain_{k}", "modulator": f"modulator_{k}"}
            bindings.append(RuleBinding(f"projection_{k}", supervised_rules.RUNNING_CORRELATION, "output", names[k],
                                        {"y": names[k], "x": "error"}, {"forgetting": p.error_forgetting}))
            bindings.append(RuleBinding(f"forward_{k}", rules.CORINFOMAX_EBD_DENDRITE, names[k - 1], names[k],
                                        {"x": names[k - 1], "y": names[k], "yhat": f"basal_{k}", **phi},
                                        {"prediction_rate": p.prediction_rate,
                                         "decorrelation_rate": forward_rates[k - 1]}))
            if k < L:
                bindings.append(RuleBinding(f"backward_{k}", rules.CORINFOMAX_EBD_DENDRITE, names[k + 1], names[k],
                                            {"x": names[k + 1], "y": names[k], "yhat": f"apical_{k}", **phi},
                                            {"prediction_rate": p.prediction_rate,
                                             "decorrelation_rate": backward_rates[k - 1]}))
            bindings.append(RuleBinding(f"lateral_{k}", rules.CORINFOMAX_EBD_LATERAL, names[k], names[k],
                                        {"y": names[k], **phi}, lateral))
        return bindings
