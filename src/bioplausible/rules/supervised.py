"""Local rules of the supervised family: EBD, BP, FA, DFA, error-modulated Hebb
(theory: :ref:`theory-supervised`).

Every hidden-layer rule of a layered network ``u_k = W_k h_{k−1} + b_k``, ``h_k = relu(u_k)``,
output ``h_L = u_L`` (linear), error ``ε = h_L − y`` is the same *three-factor* update

    ΔW_k = −μ ⟨(f'(u_k) ⊙ q_k) h_{k−1}ᵀ⟩,     Δb_k = −μ ⟨f'(u_k) ⊙ q_k⟩

(presynaptic rate × postsynaptic gain × a per-neuron modulator ``q_k``), and the rules differ
only in where ``q_k`` comes from: the broadcast error through the neuron's error synapses
``R_k ε`` (EBD, DFA with R frozen), the layer above through fixed random feedback ``B δ``
(FA) or the transposed forward weights ``Wᵀ δ`` (BP). The output layer always learns by the
delta rule. For ReLU units ``f'(u) = 1[h > 0]``, which on spikes is the gate ``1[n_i > 0]``.

Shapes: activities (K, B, n) (ensemble, samples, units); weights (K, n_post, n_pre);
projections R (K, n_hidden, n_out). Every function averages over the sample axis (a batch
of one is the online rule) and returns the change to add (``W += ΔW``).

**Declared rules.** The synaptic and bias updates are declared once as :class:`Rule` declarations
(:data:`THREE_FACTOR`, :data:`DELTA_RULE`, :data:`RUNNING_CORRELATION`,
:data:`ERROR_MODULATED_HEBBIAN`, EBD's regularised and heavy-ball forms), each with a bias
twin (a neuron rule on ``b``); the functions below that return ``(ΔW, Δb)`` evaluate those
declarations. The per-neuron factors they read — the gain ``f'(u)``, the modulators (``R ε``,
``B δ``, ``Wᵀ δ``), the regularisers' signals — are neuron-level quantities, each computed by
one function here (:func:`relu_gain`, :func:`broadcast_error`, :func:`backpropagated_error`,
:func:`power_signal`, :func:`entropy_signal`, :func:`sparsity_signal`,
:func:`decorrelation_broadcast`, :func:`error_power`).
"""

from __future__ import annotations

import numpy as np

from .declaration import Rule, register_rule

__all__ = [
    "THREE_FACTOR",
    "THREE_FACTOR_BIAS",
    "DELTA_RULE",
    "DELTA_RULE_BIAS",
    "RUNNING_CORRELATION",
    "ERROR_MODULATED_HEBBIAN",
    "ERROR_MODULATED_HEBBIAN_BIAS",
    "EBD_HIDDEN",
    "EBD_HIDDEN_BIAS",
    "EBD_VELOCITY",
    "EBD_VELOCITY_BIAS",
    "VELOCITY_STEP",
    "VELOCITY_STEP_BIAS",
    "error_power",
    "power_signal",
    "entropy_signal",
    "entropy_signal_woodbury",
    "sparsity_signal",
    "decorrelation_broadcast",
    "batch_outer",
    "relu_gain",
    "three_factor",
    "delta_rule",
    "broadcast_error",
    "backpropagated_error",
    "running_correlation",
    "decorrelation_correlation",
    "error_modulated_hebbian",
    "power_normalization",
    "entropy_ascent",
    "inverse_correlation_woodbury",
    "entropy_ascent_woodbury",
    "activation_sparsity",
    "forward_broadcast",
    "weight_decay",
    "clip_gain",
    "dendritic_prediction_error",
    "contrastive_prediction_error",
    "lateral_inverse_correlation",
]

_EBD = "Erdogan, Pehlevan & Erdogan (2025), NeurIPS, Algorithm 1"
_BP = "Bordelon & Pehlevan (2023), ICLR, Eqs. 1-3"

#: Hidden layer k: ``ΔW = −μ ⟨(f'(u) ⊙ q) h_{k−1}ᵀ⟩ − μ_wd W`` (pre ``x`` = h_{k−1}, post gain
#: ``f'(u)`` and modulator q: R ε for EBD/DFA, B δ for FA, Wᵀ δ for BP).
THREE_FACTOR: Rule = register_rule(Rule(
    "three-factor", "W += -learning_rate * gain_post * modulator_post * x_pre - weight_decay * W",
    paper=f"{_EBD}; {_BP}", activities=("x", "gain", "modulator"), parameters=("learning_rate", "weight_decay"),
    description="presynaptic rate x postsynaptic gain f'(u) x per-neuron modulator q, with weight decay",
))
THREE_FACTOR_BIAS = register_rule(Rule(
    "three-factor-bias", "b += -learning_rate * gain * modulator", paper=f"{_EBD}; {_BP}",
    activities=("gain", "modulator"), parameters=("learning_rate",), kind="neuron",
    description="bias of a hidden unit: the three-factor rule with a constant-1 presynaptic input",
))
#: Linear output: ``ΔW_L = −μ_L ⟨ε h_{L−1}ᵀ⟩ − μ_df ⟨(Σ_k R_kᵀ h_k) h_{L−1}ᵀ⟩ − μ_wd W_L``
#: (the broadcast term is EBD's forward decorrelation, 0 elsewhere).
DELTA_RULE = register_rule(Rule(
    "delta-rule",
    "W += -learning_rate * error_post * x_pre - broadcast_rate * broadcast_post * x_pre - weight_decay * W",
    paper=f"Widrow & Hoff (1960); {_EBD} (broadcast term: App. C.5)", activities=("x", "error", "broadcast"),
    parameters=("learning_rate", "broadcast_rate", "weight_decay"),
    description="delta rule of the linear readout, error ε = h_L − y, plus EBD's forward decorrelation term",
))
DELTA_RULE_BIAS = register_rule(Rule(
    "delta-rule-bias", "b += -learning_rate * error - broadcast_rate * broadcast",
    paper=f"Widrow & Hoff (1960); {_EBD}",
    activities=("error", "broadcast"), parameters=("learning_rate", "broadcast_rate"), kind="neuron",
    description="bias of the linear readout",
))
#: ``C ← λ C + (1 − λ) ⟨y xᵀ⟩``: EBD's error synapses R_k (y = h_k, x = ε) and a layer's
#: autocorrelation R_h (y = x = h_k).
RUNNING_CORRELATION = register_rule(Rule(
    "running-correlation", "C += (1 - forgetting) * (y_post * x_pre - C)", paper=f"{_EBD} (R update; §2.4 R_h)",
    activities=("y", "x"), parameters=("forgetting",),
    description="Hebbian running correlation with forgetting factor λ",
))
ERROR_MODULATED_HEBBIAN = register_rule(Rule(
    "error-modulated-hebbian", "W += learning_rate * error_power_post * h_post * x_pre - weight_decay * W",
    paper=f"{_BP} ('Hebb' pseudo-gradient δ = −‖ε‖² h)", activities=("x", "h", "error_power"),
    parameters=("learning_rate", "weight_decay"),
    description="Hebbian co-activity gated by the global squared error ‖ε‖², no credit assignment",
))
ERROR_MODULATED_HEBBIAN_BIAS = register_rule(Rule(
    "error-modulated-hebbian-bias", "b += learning_rate * error_power * h", paper=_BP,
    activities=("h", "error_power"), parameters=("learning_rate",), kind="neuron",
    description="bias of an error-modulated Hebbian unit",
))
#: EBD's hidden update with its regularisers (EBD paper §2.4): decorrelation (modulator
#: R ε), power normalisation, entropy ascent (not local: the whitened signal mixes the
#: layer) and activation sparsity, each a three-factor term with its own rate.
_EBD_STEP = ("(learning_rate * modulator{side} + power_rate * power{side} - entropy_rate * whitened{side}"
             " + l1_rate * sparse{side}) * gain{side}")
_EBD_ACTIVITIES = ("modulator", "power", "whitened", "sparse", "gain")
_EBD_RATES = ("learning_rate", "power_rate", "entropy_rate", "l1_rate")
EBD_HIDDEN = register_rule(Rule(
    "ebd-hidden", "W += -" + _EBD_STEP.format(side="_post") + " * x_pre - weight_decay * W",
    paper=f"{_EBD}; §2.4", activities=("x", *_EBD_ACTIVITIES), parameters=(*_EBD_RATES, "weight_decay"),
    description="EBD hidden layer: decorrelation + power + entropy + sparsity three-factor terms, weight decay",
))
EBD_HIDDEN_BIAS = register_rule(Rule(
    "ebd-hidden-bias", "b += -" + _EBD_STEP.format(side=""), paper=f"{_EBD}; §2.4",
    activities=_EBD_ACTIVITIES, parameters=_EBD_RATES, kind="neuron", description="bias of an EBD hidden unit",
))
#: Heavy-ball (*unverified* form): the velocity takes the step of :data:`EBD_HIDDEN` on top
#: of ``momentum`` times itself, and the weights move by the velocity (:data:`VELOCITY_STEP`).
EBD_VELOCITY = register_rule(Rule(
    "ebd-velocity", "V = momentum * V - " + _EBD_STEP.format(side="_post") + " * x_pre - weight_decay * W",
    paper=f"{_EBD}; heavy ball", activities=("x", *_EBD_ACTIVITIES), synaptic=("W",),
    parameters=("momentum", *_EBD_RATES, "weight_decay"),
    description="heavy-ball velocity of an EBD hidden layer's weights",
))
EBD_VELOCITY_BIAS = register_rule(Rule(
    "ebd-velocity-bias", "v = momentum * v - " + _EBD_STEP.format(side=""), paper=f"{_EBD}; heavy ball",
    activities=_EBD_ACTIVITIES, parameters=("momentum", *_EBD_RATES), kind="neuron",
    description="heavy-ball velocity of an EBD hidden unit's bias",
))
VELOCITY_STEP = register_rule(Rule(
    "velocity-step", "W += V", paper="heavy ball (Polyak 1964)", synaptic=("V",),
    description="the weights move by their velocity",
))
VELOCITY_STEP_BIAS = register_rule(Rule(
    "velocity-step-bias", "b += v", paper="heavy ball (Polyak 1964)", states=("v",), kind="neuron",
    description="the bias moves by its velocity",
))


def _zeros(post: np.ndarray, pre: np.ndarray | None = None) -> np.ndarray:
    """A zero target (K, n_post[, n_pre]) for evaluating a rule's increment."""
    lead = np.broadcast_shapes(post.shape[:-2], pre.shape[:-2]) if pre is not None else post.shape[:-2]
    return np.zeros((*lead, post.shape[-1]) + ((pre.shape[-1],) if pre is not None else ()))


def batch_outer(post: np.ndarray, pre: np.ndarray) -> np.ndarray:
    """Batch mean of ``post preᵀ``: (K, B, n), (K, B, m) -> (K, n, m)."""
    return np.matmul(np.swapaxes(post, -1, -2), pre) / post.shape[-2]


def relu_gain(post: np.ndarray) -> np.ndarray:
    """Postsynaptic gain ``f'(u) = 1[u > 0]`` of a ReLU unit, read from its rate ``h = [u]_+``.

    On the spiking substrate this is the gate ``1[n_i > 0]`` (see :ref:`rate-to-spikes-learning`).
    """
    return (post > 0).astype(post.dtype)


def three_factor(
    pre: np.ndarray, post: np.ndarray, modulator: np.ndarray, learning_rate: float, sign: float = -1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Three-factor update ``ΔW = sign · μ ⟨(f'(u) ⊙ q) preᵀ⟩``, ``Δb = sign · μ ⟨f'(u) ⊙ q⟩``.

    ``pre`` h_{k−1} (K, B, m), ``post`` h_k (K, B, n) supplies the gain ``f'(u) = 1[h > 0]``,
    ``modulator`` q (K, B, n) the per-neuron signal (R ε for EBD/DFA, Bδ for FA, Wᵀδ for BP).
    ``sign = −1`` is gradient descent (EBD paper, Erdogan, Pehlevan & Erdogan, NeurIPS 2025,
    Eq. for ΔW with Φ_k; B&P paper, Bordelon & Pehlevan, ICLR 2023, Eqs. 1–3).
    Returns ``(ΔW (K, n, m), Δb (K, n))``.
    """
    gain, rate = relu_gain(post), -sign * learning_rate
    weight = THREE_FACTOR.numpy(W=_zeros(post, pre), x=pre, gain=gain, modulator=modulator, learning_rate=rate,
                                weight_decay=0.0)
    return weight, THREE_FACTOR_BIAS.numpy(b=_zeros(post), gain=gain, modulator=modulator, learning_rate=rate)


def delta_rule(pre: np.ndarray, error: np.ndarray, learning_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Output delta rule for a linear readout, ``ΔW_L = −μ_L ⟨ε h_{L−1}ᵀ⟩``, ``Δb_L = −μ_L ⟨ε⟩``.

    ``ε = h_L − y`` (K, B, n_out). Gradient of ½‖ε‖² (EBD paper §2.3; Widrow–Hoff).
    """
    values = {"error": error, "broadcast": error, "learning_rate": learning_rate, "broadcast_rate": 0.0}
    return (DELTA_RULE.numpy(W=_zeros(error, pre), x=pre, weight_decay=0.0, **values),
            DELTA_RULE_BIAS.numpy(b=_zeros(error), **values))


def broadcast_error(projection: np.ndarray, error: np.ndarray) -> np.ndarray:
    """Per-neuron modulator ``q_i = Σ_c R[i, c] ε_c``: the broadcast error read through
    neuron i's own error synapses (EBD paper §2.3; on spikes see :ref:`rate-to-spikes-learning`).

    ``projection`` R (K, n, n_out), ``error`` ε (K, B, n_out) -> q (K, B, n).
    """
    return np.matmul(error, np.swapaxes(projection, -1, -2))


def backpropagated_error(feedback: np.ndarray, delta_above: np.ndarray) -> np.ndarray:
    """Error arriving from the layer above, ``q_k = B_{k+1} δ_{k+1}``.

    ``feedback`` (K, n_k, n_{k+1}) is ``W_{k+1}ᵀ`` for BP (weight transport) or a fixed random
    matrix for FA (Lillicrap et al. 2016); ``delta_above`` δ_{k+1} (K, B, n_{k+1}), already
    multiplied by ``f'(u_{k+1})``. Returns (K, B, n_k) (B&P paper, Eqs. 1–3).
    """
    return np.matmul(delta_above, np.swapaxes(feedback, -1, -2))


def running_correlation(post: np.ndarray, pre: np.ndarray, correlation: np.ndarray, forgetting: float) -> np.ndarray:
    """Hebbian running correlation with forgetting factor λ, ``C ← λ C + (1 − λ) ⟨post preᵀ⟩``;
    returns ``ΔC = (1 − λ)(⟨post preᵀ⟩ − C)``. With ``pre = post`` it is a layer's running
    autocorrelation ``R_h`` (EBD paper, §2.4, entropy objective)."""
    return RUNNING_CORRELATION.numpy(C=correlation, y=post, x=pre, forgetting=forgetting)


def decorrelation_correlation(
    hidden: np.ndarray, error: np.ndarray, projection: np.ndarray, forgetting: float
) -> np.ndarray:
    """Hebbian running cross-correlation of a layer with the output error,
    ``R ← λ_d R + (1 − λ_d) ⟨g(h) εᵀ⟩`` with ``g(h) = h``; returns ``ΔR = (1 − λ_d)(⟨h εᵀ⟩ − R)``
    (:func:`running_correlation` of the layer and the error).

    Pre ``ε_c`` (the broadcast error), post ``h_i``, forgetting factor λ_d (EBD paper,
    Algorithm 1, R update; ``R_k ← λ_d R_k + (1−λ_d)/B g(H_k) Eᵀ``).
    """
    return running_correlation(hidden, error, projection, forgetting)


def error_modulated_hebbian(
    pre: np.ndarray, post: np.ndarray, error: np.ndarray, learning_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Hebb gated by the squared error, ``ΔW = +η ⟨‖ε‖² h_k h_{k−1}ᵀ⟩``, ``Δb = +η ⟨‖ε‖² h_k⟩``.

    B&P paper (Bordelon & Pehlevan, ICLR 2023), the "Hebb" pseudo-gradient
    ``δ_ℓ = −‖ε‖² h_ℓ``: co-activity scaled by a global scalar error, no credit assignment.
    """
    power = np.broadcast_to(error_power(error), post.shape)
    weight = ERROR_MODULATED_HEBBIAN.numpy(W=_zeros(post, pre), x=pre, h=post, error_power=power,
                                           learning_rate=learning_rate, weight_decay=0.0)
    return weight, ERROR_MODULATED_HEBBIAN_BIAS.numpy(b=_zeros(post), h=post, error_power=power,
                                                      learning_rate=learning_rate)


def error_power(error: np.ndarray) -> np.ndarray:
    """The global scalar error ``‖ε‖²`` of each sample (K, B, 1) that gates the Hebbian rule."""
    return np.sum(error**2, axis=-1, keepdims=True)


def power_normalization(
    pre: np.ndarray, post: np.ndarray, target: float, learning_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron power normalisation, descent on ``J_P = Σ_l (p_l − P)²``, ``p_l = ⟨h_l²⟩``:
    ``ΔW = −μ_p (4/B) diag(p − P)(H ⊙ f'(U)) H_{k−1}ᵀ`` (EBD paper, §2.4; gradient derived).

    Local: each neuron uses its own power ``p_i``.
    """
    return three_factor(pre, post, power_signal(post, target), learning_rate)


def power_signal(post: np.ndarray, target: float) -> np.ndarray:
    """The power objective's per-neuron modulator ``4 (p_i − P) h_i``, ``p_i = ⟨h_i²⟩`` over the
    batch (each neuron reads its own power; the gain ``f'(u)`` is the rule's)."""
    power = np.mean(post**2, axis=-2, keepdims=True)
    return 4.0 * (power - target) * post


def entropy_ascent(
    pre: np.ndarray, post: np.ndarray, autocorrelation: np.ndarray, epsilon: float, learning_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Layer-entropy ascent on ``J_E = ½ log det(R_h + ε_E I)``:
    ``ΔW = +μ_E ((R_h + ε_E I)⁻¹ H ⊙ f'(U)) H_{k−1}ᵀ / B`` (EBD paper, §2.4; gradient derived).

    ``autocorrelation`` R_h (K, n, n) is the layer's running ``λ_E R_h + (1−λ_E)⟨h hᵀ⟩``
    *after* this batch's update; with ``learning_rate = 1 − λ_E`` the result is exactly
    ``∇_W J_E``. Not local: V mixes the whole layer. Solved by Cholesky (R_h + εI is PD).
    """
    return three_factor(pre, post, entropy_signal(post, autocorrelation, epsilon), learning_rate, sign=1.0)


def entropy_signal(post: np.ndarray, autocorrelation: np.ndarray, epsilon: float) -> np.ndarray:
    """The entropy objective's modulator ``V = (R_h + ε_E I)⁻¹ h`` (K, B, n), by Cholesky.
    Not local: every neuron's V mixes the whole layer."""
    n = autocorrelation.shape[-1]
    matrix = autocorrelation + epsilon * np.eye(n)
    factor = np.linalg.cholesky(matrix)
    rhs = np.swapaxes(post, -1, -2)
    solved = np.linalg.solve(np.swapaxes(factor, -1, -2), np.linalg.solve(factor, rhs))
    return np.swapaxes(solved, -1, -2)


def entropy_signal_woodbury(post: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """:func:`entropy_signal` from the inverse ``(R_h + ε_E I)⁻¹`` kept by
    :func:`inverse_correlation_woodbury`."""
    return np.matmul(post, inverse)


def inverse_correlation_woodbury(inverse: np.ndarray, post: np.ndarray, forgetting: float) -> np.ndarray:
    """Rank-B update of ``P = M⁻¹`` for ``M ← λ M + (1−λ)/B · H Hᵀ`` (Woodbury), O(N²B) instead
    of the O(N³) of a fresh factorisation (spec supervised §2.4):
    ``P ← (1/λ)[P − P H (λB/(1−λ) I_B + Hᵀ P H)⁻¹ Hᵀ P]``. ``inverse`` (K, N, N), ``post`` H
    (K, B, N) with samples as rows. Returns ``P_new − P``. Started at ``M₀ = R_h₀ + ε_E I`` this
    tracks ``R_h + λ^t ε_E I``: the ridge ε_E fades with the forgetting (the exact solve keeps it)."""
    batch = post.shape[-2]
    projected = np.matmul(post, inverse)  # (K, B, N) = (P H)ᵀ, P symmetric
    core = np.matmul(projected, np.swapaxes(post, -1, -2))  # Hᵀ P H (K, B, B)
    core = core + (forgetting * batch / (1.0 - forgetting)) * np.eye(batch)
    correction = np.matmul(np.swapaxes(projected, -1, -2), np.linalg.solve(core, projected))
    return (inverse - correction) / forgetting - inverse


def entropy_ascent_woodbury(
    pre: np.ndarray, post: np.ndarray, inverse: np.ndarray, learning_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`entropy_ascent` with the inverse ``(R_h + ε_E I)⁻¹`` kept by
    :func:`inverse_correlation_woodbury` (``inverse`` after this batch's update)."""
    return three_factor(pre, post, entropy_signal_woodbury(post, inverse), learning_rate, sign=1.0)


def activation_sparsity(pre: np.ndarray, post: np.ndarray, learning_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Activation L1, descent on ``⟨‖h‖₁⟩``: ``ΔW = −μ_1 (sign(H) ⊙ f'(U)) H_{k−1}ᵀ / B``
    (EBD paper, §2.4). Local."""
    return three_factor(pre, post, sparsity_signal(post), learning_rate)


def sparsity_signal(post: np.ndarray) -> np.ndarray:
    """The activation-L1 objective's per-neuron modulator ``sign(h)``."""
    return np.sign(post)


def forward_broadcast(
    pre: np.ndarray, hidden: np.ndarray, projection: np.ndarray, learning_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Output-layer term of the decorrelation loss through ε (EBD paper, App. C.5; derived):
    ``ΔW_L = −μ_df (G̃ ⊙ f'(U_L)) H_{L−1}ᵀ / B`` with ``G̃ = Rᵀ g(h_k)`` (linear output: f' = 1).

    ``pre`` h_{L−1}, ``hidden`` h_k of the decorrelated layer k, ``projection`` R_k.
    """
    return delta_rule(pre, decorrelation_broadcast(hidden, projection), learning_rate)


def decorrelation_broadcast(hidden: np.ndarray, projection: np.ndarray) -> np.ndarray:
    """``G̃ = R_kᵀ g(h_k)`` (K, B, n_out): layer k's activity sent back through its error
    synapses to the output units (EBD's forward decorrelation term)."""
    return np.matmul(hidden, projection)


def weight_decay(weights: np.ndarray, learning_rate: float) -> np.ndarray:
    """``ΔW = −μ_wd W`` (descent on ½‖W‖² per unit rate): the weight-decay term of
    :data:`THREE_FACTOR` alone (no presynaptic activity)."""
    silent_pre, silent_post = (np.zeros((*weights.shape[:-2], 1, n)) for n in weights.shape[:-3:-1])
    return THREE_FACTOR.numpy(W=weights, x=silent_pre, gain=silent_post, modulator=silent_post, learning_rate=0.0,
                              weight_decay=learning_rate)


# ------------------------------------------------------------------ CorInfoMax networks
# The CorInfoMax network's rules live in their own module (they read THREE_FACTOR above);
# their functions stay importable from here.
from .supervised_corinfomax import (  # noqa: E402
    clip_gain,
    contrastive_prediction_error,
    dendritic_prediction_error,
    lateral_inverse_correlation,
)
