"""Local rules of the blind-source-separation family (theory: :ref:`theory-separation`).

Shapes: activities (K, B, n) with samples as rows, weights (K, n_post, n_pre). Each
function returns the change to apply (``weights += change``) as a batch mean, so a batch
of one sample is the online rule of the papers.
"""

from __future__ import annotations

import numpy as np


def _batch_outer(post: np.ndarray, pre: np.ndarray) -> np.ndarray:
    """Batch mean of ``post preᵀ``: (K, B, n), (K, B, m) -> (K, n, m)."""
    return np.matmul(np.swapaxes(post, -1, -2), pre) / post.shape[-2]


# ------------------------------------------------------------------ CorInfoMax
def corinfomax_feedforward(
    inputs: np.ndarray,
    output: np.ndarray,
    prediction: np.ndarray,
    learning_rate: float,
    weights: np.ndarray | None = None,
    decay: float = 0.0,
) -> np.ndarray:
    """Feedforward prediction-error rule, ``ΔW = μ_W (y − ŷ) xᵀ − δ W`` with ``ŷ = W x``.

    Bozkurt, Erdogan & Pehlevan (2023), ICLR, CorInfoMax-BSS (authors' code
    ``CorInfoMaxBSS.py``, verified): pre the input ``x_j``, post the mismatch between the
    somatic output ``y_i`` and its dendritic prediction ``ŷ_i``. ``decay`` δ is the weight
    decay of some of the authors' batch fit functions (``W ← (1 − 10⁻⁶) W + …``); 0 by default.
    """
    change = learning_rate * _batch_outer(output - prediction, inputs)
    if decay:
        change = change - decay * weights
    return change


def corinfomax_lateral(output: np.ndarray, lateral: np.ndarray, gamma_y: float, forgetting_y: float) -> np.ndarray:
    """Anti-Hebbian lateral rule, ``B_y ← (B_y − γ_y z zᵀ)/λ_y`` with ``z = B_y y``.

    Bozkurt, Erdogan & Pehlevan (2023), ICLR (authors' code, verified): a Sherman–Morrison
    step without its normaliser, tracking ``λ_y R_y⁻¹`` (inverse output correlation).
    ``z_i`` is the lateral input neuron i receives; returned as the change ``B_new − B``.
    """
    z = np.matmul(output, np.swapaxes(lateral, -1, -2))
    return (lateral - gamma_y * _batch_outer(z, z)) / forgetting_y - lateral


# ------------------------------------------------------------------ nonnegative similarity matching
def nsm_learning_rates(output: np.ndarray, rates: np.ndarray, decay: float = 0.94, cap: float = 3000.0) -> np.ndarray:
    """Per-neuron inverse learning rates, ``D ← min(cap, decay·D + y²)`` (CIM-BSS ``NSMBSS.py``).

    Returned as the change ``D_new − D`` (shape (K, n)); neuron i then learns at ``1/D_i``.
    """
    return np.minimum(cap, decay * rates + np.mean(output**2, axis=-2)) - rates


def nsm_feedforward(inputs: np.ndarray, output: np.ndarray, weights: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Hebbian feedforward rule with Oja decay, ``ΔW₁ = diag(1/D)(y xᵀ − diag(y²) W₁)``.

    Pehlevan, Mohan & Chklovskii (2017), Neural Comput. (nonnegative similarity matching),
    as run in CIM-BSS ``NSMBSS.py``: pre ``x_j`` (prewhitened input), post ``y_i``.
    """
    decay = np.mean(output**2, axis=-2)[..., :, None] * weights
    return (_batch_outer(output, inputs) - decay) / rates[..., :, None]


def nsm_lateral(output: np.ndarray, lateral: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Anti-Hebbian lateral rule, ``ΔW₂ = diag(1/D)(y yᵀ − diag(y²) W₂)``, diagonal kept at 0.

    CIM-BSS ``NSMBSS.py``; the lateral inhibition onto neuron i is ``−Σ_j W₂,ij y_j``.
    """
    change = nsm_feedforward(output, output, lateral, rates)
    n = change.shape[-1]
    change[..., np.arange(n), np.arange(n)] = -lateral[..., np.arange(n), np.arange(n)]
    return change


# ------------------------------------------------------------------ Bio-NICA
def nica_feedforward(
    inputs: np.ndarray,
    output: np.ndarray,
    drive: np.ndarray,
    mean_inputs: np.ndarray,
    mean_drive: np.ndarray,
    learning_rate: float,
) -> np.ndarray:
    """Bio-NICA feedforward rule, ``ΔW = 2η (y xᵀ − (c − c̄)(x − x̄)ᵀ)``, ``c = W x``.

    Lipshutz, Pehlevan & Chklovskii (2022), Biol. Cybern., direct-lateral algorithm
    (bio-nica ``nica_algorithms.py``, verified): Hebbian in the output ``y`` and anti-Hebbian
    in the centred dendritic current ``c − c̄`` of a two-compartment neuron.
    """
    centred = _batch_outer(drive - mean_drive[..., None, :], inputs - mean_inputs[..., None, :])
    return 2.0 * learning_rate * (_batch_outer(output, inputs) - centred)


def nica_lateral(output: np.ndarray, lateral: np.ndarray, learning_rate: float, time_constant: float) -> np.ndarray:
    """Bio-NICA lateral rule, ``ΔM = (η/τ)(y yᵀ − M)`` (bio-nica, verified)."""
    return learning_rate / time_constant * (_batch_outer(output, output) - lateral)


def nica_interneuron_feedforward(
    inputs: np.ndarray, output: np.ndarray, weights: np.ndarray, mean_inputs: np.ndarray, mean_output: np.ndarray,
    learning_rate: float,
) -> np.ndarray:
    """Bio-NICA with interneurons, ``ΔW = η((y − ȳ)(x − x̄)ᵀ − W)`` (bio-nica ``bio_nica_indirect``)."""
    centred = _batch_outer(output - mean_output[..., None, :], inputs - mean_inputs[..., None, :])
    return learning_rate * (centred - weights)


def nica_interneuron_synapses(
    output: np.ndarray, interneuron: np.ndarray, synapses: np.ndarray, mean_output: np.ndarray,
    mean_interneuron: np.ndarray, learning_rate: float,
) -> np.ndarray:
    """Bio-NICA with interneurons, ``ΔP = η((y − ȳ)(n − n̄)ᵀ − P)``, ``n = Pᵀy`` (bio-nica)."""
    centred = _batch_outer(output - mean_output[..., None, :], interneuron - mean_interneuron[..., None, :])
    return learning_rate * (centred - synapses)


# ------------------------------------------------------------------ Det-Max / weighted similarity matching
def wsm_hebbian(post: np.ndarray, pre: np.ndarray, weights: np.ndarray, rate: float) -> np.ndarray:
    """Exponentially forgetting Hebbian rule shared by every Det-Max synapse,
    ``W ← (1 − γ_k) W + γ_k post preᵀ`` (returned as the change ``γ_k (post preᵀ − W)``).

    Bozkurt, Pehlevan & Erdogan (2022), NeurIPS (authors' code ``WSMBSS.py``, verified): used
    for ``M_H`` (h, h), ``W_HX`` (h, x), ``M_Y`` (y, y) and ``W_YH`` (y, h).
    """
    return rate * (_batch_outer(post, pre) - weights)


def wsm_gain(
    gains: np.ndarray, lateral: np.ndarray, feedforward: np.ndarray, weight: float, regulariser: float,
    rate: float,
) -> np.ndarray:
    """Gain step ``ΔD = −μ_D [w · diag(M D M − W Wᵀ) + ζ D⁻¹]`` for the diagonal gains D (K, n).

    Bozkurt, Pehlevan & Erdogan (2022), NeurIPS (authors' ``WSMBSS.py``, verified, as in
    CIM-BSS ``WSMBSS.update_weights_jit``): ``w = (1−ζ)β`` with (M_H, W_HX) for D1 and
    ``w = (1−ζ)(1−β)`` with (M_Y, W_YH) for D2; each gain uses its own neuron's diagonal
    terms, computed after the synapses' update of the same sample. The Det-Max repository's
    ``dlogdet`` adds 5·10⁻⁸ to D in ``ζ D⁻¹`` (CIM-BSS does not); we do not. Bounds are
    applied by the caller: ``np.clip`` for the plain rule, :func:`cap_gain_step` and
    :func:`revert_gain_step` for the nonnegative-antisparse variant.
    """
    scaled = lateral * gains[..., None, :]
    diagonal = np.einsum("kij,kji->ki", scaled, lateral) - np.sum(feedforward**2, axis=-1)
    return -rate * (weight * diagonal + regulariser / gains)


def cap_gain_step(change: np.ndarray, gains: np.ndarray, gain_step_cap: float) -> np.ndarray:
    """Limit a gain step to a fraction of the gain, ``ΔD ← clip(ΔD, −c·D, c·D)``.

    The nonnegative-antisparse Det-Max variant (authors' ``WSMBSS.fit_batch_nnantisparse``:
    ``D ← D − clipping(μ_D ∇D, D)``, i.e. ``c = 1``, a step of at most 100 % of D).
    """
    limit = gain_step_cap * np.abs(gains)
    return np.clip(change, -limit, limit)


def revert_gain_step(
    gains: np.ndarray, change: np.ndarray, min_gain: float, max_gain: float, revert_margin: float
) -> np.ndarray:
    """Bounded gain step that is undone when a gain would come near its minimum.

    ``D' = D + ΔD``; if any ``D'_i − D_min < margin`` (per member, over the layer's
    neurons) the whole layer keeps its previous gains, else ``D ← clip(D', D_min, D_max)``.
    Returned as the change to apply. Authors' ``WSMBSS.fit_batch_nnantisparse``
    (``if np.min(d1 − LayerMinimumGains[0]) < 0.1: D1 = D1_prev``), margin 0.1 there; the
    test uses ``D'`` before clipping to the bounds, as theirs does.
    """
    proposed = gains + change
    near_minimum = np.any(proposed - min_gain < revert_margin, axis=-1, keepdims=True)
    return np.where(near_minimum, 0.0, np.clip(proposed, min_gain, max_gain) - gains)


def wsm_synaptic_rate(step: int, start: float, stop: float, schedule: str = "log") -> float:
    """Synaptic rate of sample ``step`` (k = 0, 1, …) for every Det-Max synapse.

    ``"log"``: ``γ_k = max(γ_start/(1 + ln(2 + k)), γ_stop)`` (authors' ``fit_batch_antisparse``,
    ``fit_batch_sparse``; CIM-BSS ``"divide_by_log_index"`` with divider 1);
    ``"slow-log"``: ``γ_k = max(γ_start/(1 + ln(1 + k)/10), γ_stop)`` (the nonnegative-antisparse
    variant, ``fit_batch_nnantisparse``).
    """
    if schedule == "log":
        return max(start / (1.0 + np.log(2.0 + step)), stop)
    if schedule == "slow-log":
        return max(start / (1.0 + np.log(1.0 + step) / 10.0), stop)
    raise ValueError(f"schedule must be 'log' or 'slow-log', got {schedule!r}")


def decayed_gain_rate(rate: float, step: int, decay: float, interval: int) -> float:
    """Gain rate of sample ``step`` (k = 0, 1, …): ``μ_D · decay^⌊(k + 1)/interval⌋``.

    The authors' fit loops multiply μ_D by 0.99 before every sample with ``(k + 1) % 100000 == 0``
    (Det-Max ``fit_batch_antisparse``/``fit_batch_nnantisparse``, CIM-BSS ``fit_batch_*``).
    """
    return rate * decay ** ((step + 1) // interval)
