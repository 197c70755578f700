"""Local rules of the supervised CorInfoMax network (theory: :ref:`theory-supervised-corinfomax`).

Layers of clipped-ReLU three-compartment units ``h_k = clip(u_k, 0, 1)``: a basal dendrite
``W_f,k`` predicts the soma from the layer below, an apical one ``W_b,k`` from the layer
above, lateral weights ``B_k`` track the layer's inverse correlation (Bozkurt, Pehlevan &
Erdogan, NeurIPS 2023). Two ways to train it, each declared as :class:`Rule` s built from the
rules they are made of (:meth:`Rule.change`), so no equation is typed twice:

* **EBD** (Erdogan, Pehlevan & Erdogan, NeurIPS 2025, Algorithm 3): the error synapses
  ``R_k`` by :data:`~bioplausible.rules.supervised.RUNNING_CORRELATION`; both dendrites by
  :data:`CORINFOMAX_EBD_DENDRITE`, the CorInfoMax prediction-error rule
  (:data:`~bioplausible.rules.separation.CORINFOMAX_FEEDFORWARD`) plus the decorrelation
  term, a :data:`~bioplausible.rules.supervised.THREE_FACTOR` term of the modulator
  ``R_k ε``; the lateral weights by :data:`CORINFOMAX_EBD_LATERAL`,
  :data:`~bioplausible.rules.separation.CORINFOMAX_LATERAL` plus the same three-factor term.
* **EP** (the authors' ``ContrastiveCorInfoMaxHopfield``): both dendrites by
  :data:`CORINFOMAX_EP_CONTRAST`, the prediction-error rule's change in the nudged phase less
  its change in the free phase over the nudge β (a broadcast signal, the same for every
  neuron of a member); the basal bias by its twin :data:`CORINFOMAX_EP_CONTRAST_BIAS` (the
  weight of a constant presynaptic 1); the lateral weights by
  :data:`~bioplausible.rules.separation.CORINFOMAX_LATERAL` on the nudged phase's rates.

The functions below are the numpy form under the supervised family's argument names
(activities (K, B, n), weights (K, n_post, n_pre); each returns the change to add).
"""

from __future__ import annotations

import numpy as np

from . import separation as _separation
from .declaration import Rule, register_rule
from .supervised import THREE_FACTOR

__all__ = [
    "CORINFOMAX_EBD_DENDRITE",
    "CORINFOMAX_EBD_LATERAL",
    "CORINFOMAX_EP_CONTRAST",
    "CORINFOMAX_EP_CONTRAST_BIAS",
    "clip_gain",
    "dendritic_prediction_error",
    "contrastive_prediction_error",
    "lateral_inverse_correlation",
    "lateral_gamma",
]

_NETWORK = "Bozkurt, Pehlevan & Erdogan (2023), NeurIPS"
_EBD = "Erdogan, Pehlevan & Erdogan (2025), NeurIPS, Algorithm 3"
_FEEDFORWARD = _separation.CORINFOMAX_FEEDFORWARD
_LATERAL = _separation.CORINFOMAX_LATERAL

#: EBD's decorrelation term on a synapse: the three-factor rule at rate μ_d (no weight decay),
#: post gain ``f'(u) = 1[0 < u < 1]`` and modulator ``R_k ε`` (Φ_k = gain ⊙ modulator).
_DECORRELATION = {"learning_rate": "decorrelation_rate", "weight_decay": "0"}

#: ``W += μ ⟨(h − ŷ) h_preᵀ⟩ − μ_d ⟨Φ h_preᵀ⟩`` (ŷ = W h_pre the dendrite's prediction, Φ = f'(u) ⊙ R ε):
#: basal (pre h_{k−1}, rates μ_f, μ_df) or apical (pre h_{k+1}, μ_b, μ_db) weights of layer k.
CORINFOMAX_EBD_DENDRITE = register_rule(Rule(
    "corinfomax-ebd-dendrite",
    "W += " + _FEEDFORWARD.change(learning_rate="prediction_rate", decay="0") + " + "
    + THREE_FACTOR.change(**_DECORRELATION),
    paper=f"{_EBD}; {_NETWORK}", activities=("x", "y", "yhat", "gain", "modulator"),
    parameters=("prediction_rate", "decorrelation_rate"),
    description="CorInfoMax dendritic prediction error plus EBD's decorrelation term (three-factor, R ε)",
))
#: ``B ← (B − γ_E ⟨z zᵀ⟩)/λ_E − μ_dl ⟨Φ hᵀ⟩``, z = B h: the CorInfoMax lateral rule plus EBD's decorrelation term.
CORINFOMAX_EBD_LATERAL = register_rule(Rule(
    "corinfomax-ebd-lateral",
    f"B = {_LATERAL.expression} + " + THREE_FACTOR.change(W="B", x_pre="y_pre", **_DECORRELATION),
    paper=f"{_EBD}; {_NETWORK}", activities=("y", "gain", "modulator"), summed=dict(_LATERAL.summed),
    parameters=("gamma_y", "forgetting_y", "decorrelation_rate"), recurrent=True,
    description="CorInfoMax anti-Hebbian lateral rule plus EBD's decorrelation term (three-factor, R ε)",
))


def _phase(phase: str, pre: str = "_pre", post: str = "_post", target: str = "W") -> str:
    """The prediction-error rule's change in one phase (names ``x_<phase>``, ``y_<phase>``,
    ``yhat_<phase>``), at rate μ/β."""
    return _FEEDFORWARD.change(
        learning_rate=f"learning_rate / beta{post}", decay="0", W=target,
        x_pre=f"x_{phase}{pre}" if pre else "1", y_post=f"y_{phase}{post}", yhat_post=f"yhat_{phase}{post}")


_PHASES = ("x_free", "y_free", "yhat_free", "x_nudged", "y_nudged", "yhat_nudged")
#: ``W += (μ/β)[⟨e h_preᵀ⟩_β − ⟨e h_preᵀ⟩_0]``, e = h − ŷ in the nudged and the free phase.
CORINFOMAX_EP_CONTRAST = register_rule(Rule(
    "corinfomax-ep-contrast", f"W += {_phase('nudged')} - {_phase('free')}",
    paper=f"{_NETWORK} (authors' code ContrastiveCorInfoMaxHopfield)", activities=_PHASES, states=("beta",),
    parameters=("learning_rate",),
    description="equilibrium-propagation contrast of the dendritic prediction-error rule across the two phases",
))
#: ``b += (μ/β)[⟨e⟩_β − ⟨e⟩_0]``: the basal bias as the weight of a constant presynaptic 1.
CORINFOMAX_EP_CONTRAST_BIAS = register_rule(Rule(
    "corinfomax-ep-contrast-bias",
    f"b += {_phase('nudged', '', '', 'b')} - {_phase('free', '', '', 'b')}",
    paper=f"{_NETWORK} (authors' code ContrastiveCorInfoMaxHopfield)", activities=_PHASES[1:3] + _PHASES[4:],
    states=("beta",), parameters=("learning_rate",), kind="neuron",
    description="bias of a CorInfoMax-EP basal dendrite: the contrast with a constant-1 presynaptic input",
))


def clip_gain(post: np.ndarray) -> np.ndarray:
    """Postsynaptic gain ``f'(u) = 1[0 < u < 1]`` of a clipped-ReLU unit ``h = clip(u, 0, 1)``,
    read from its rate (CorInfoMax networks; EBD paper, Algorithm 3)."""
    return ((post > 0) & (post < 1)).astype(post.dtype)


def _prediction(pre: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """A dendrite's prediction ``ŷ = W h_pre`` (K, B, n_post)."""
    return np.matmul(pre, np.swapaxes(weights, -1, -2))


def dendritic_prediction_error(
    pre: np.ndarray, post: np.ndarray, weights: np.ndarray, learning_rate: float
) -> np.ndarray:
    """Prediction-error rule of a CorInfoMax dendrite, ``ΔW = μ ⟨(h − W h_pre) h_preᵀ⟩``.

    Basal (``W_f``, pre ``h_{k−1}``) or apical (``W_b``, pre ``h_{k+1}``) compartment: post is the
    mismatch between the soma ``h_k`` and the dendrite's prediction ``W h_pre`` (Bozkurt,
    Pehlevan & Erdogan, NeurIPS 2023). The same equation as the BSS CorInfoMax feedforward
    rule, :func:`bioplausible.rules.separation.corinfomax_feedforward`, which computes it.
    """
    return _separation.corinfomax_feedforward(pre, post, _prediction(pre, weights), learning_rate)


def contrastive_prediction_error(
    pre_free: np.ndarray,
    post_free: np.ndarray,
    pre_nudged: np.ndarray,
    post_nudged: np.ndarray,
    weights: np.ndarray,
    learning_rate: float,
    beta: np.ndarray | float,
) -> np.ndarray:
    """CorInfoMax-EP update, ``ΔW = (μ/β)[⟨e h_preᵀ⟩_β − ⟨e h_preᵀ⟩_0]``, ``e = h − W h_pre``
    evaluated in the nudged and the free phase (:data:`CORINFOMAX_EP_CONTRAST`; authors' code
    ``ContrastiveCorInfoMaxHopfield``). ``beta`` is a scalar or one value per ensemble member (K,)."""
    beta = np.asarray(beta, dtype=float)
    return CORINFOMAX_EP_CONTRAST.numpy(
        W=weights, x_free=pre_free, y_free=post_free, yhat_free=_prediction(pre_free, weights),
        x_nudged=pre_nudged, y_nudged=post_nudged, yhat_nudged=_prediction(pre_nudged, weights),
        beta=beta.reshape(-1, 1) if beta.ndim else float(beta), learning_rate=learning_rate)


def lateral_inverse_correlation(activity: np.ndarray, lateral: np.ndarray, forgetting: float) -> np.ndarray:
    """Anti-Hebbian lateral rule ``B ← (B − γ⟨z zᵀ⟩)/λ``, ``z = B h``, ``γ = (1 − λ)/λ``:
    B tracks the inverse activity correlation (Sherman–Morrison without its denominator;
    Bozkurt, Pehlevan & Erdogan, NeurIPS 2023). Returns ``B_new − B``; the equation is
    :data:`~bioplausible.rules.separation.CORINFOMAX_LATERAL`."""
    return _separation.corinfomax_lateral(activity, lateral, lateral_gamma(forgetting), forgetting)


def lateral_gamma(forgetting: float) -> float:
    """``γ = (1 − λ)/λ`` of the lateral rule (and of the dynamics' lateral gain) for forgetting λ."""
    return (1.0 - forgetting) / forgetting
