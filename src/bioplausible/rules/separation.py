"""Local rules of the blind-source-separation family (theory: :ref:`theory-separation`).

Shapes: activities (K, B, n) with samples as rows, weights (K, n_post, n_pre). Each
function returns the change to apply (``weights += change``) as a batch mean, so a batch
of one sample is the online rule of the papers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .declaration import Rule, register_rule

CORINFOMAX_FEEDFORWARD = register_rule(Rule(
    "corinfomax-feedforward", "W += learning_rate * ((y_post - yhat_post) * x_pre) - decay * W",
    paper="Bozkurt, Erdogan & Pehlevan (2023), ICLR, CorInfoMax-BSS",
    activities=("x", "y", "yhat"), parameters=("learning_rate", "decay"),
    description="prediction-error rule: pre the input, post the somatic output minus its dendritic prediction",
))
CORINFOMAX_LATERAL = register_rule(Rule(
    # gamma_y * (z_post * z_pre): the product is symmetric bitwise, so B stays symmetric
    "corinfomax-lateral", "B = (B - gamma_y * (z_post * z_pre)) / forgetting_y",
    paper="Bozkurt, Erdogan & Pehlevan (2023), ICLR, CorInfoMax-BSS",
    activities=("y",), summed={"z": "B * y_pre"}, parameters=("gamma_y", "forgetting_y"), recurrent=True,
    description="anti-Hebbian lateral rule, the authors' Sherman-Morrison step without its normaliser",
))
CORINFOMAX_LATERAL_SHERMAN_MORRISON = register_rule(Rule(
    # the scalar factor multiplies the bitwise-symmetric product, so B stays symmetric
    "corinfomax-lateral-sherman-morrison", "B = (B - gamma_y / (1 + gamma_y * q) * (z_post * z_pre)) / forgetting_y",
    paper="Bozkurt, Erdogan & Pehlevan (2023), ICLR, CorInfoMax-BSS (exact Sherman-Morrison form, ours)",
    activities=("y",), summed={"z": "B * y_pre"}, totals={"q": "y * z"}, parameters=("gamma_y", "forgetting_y"),
    recurrent=True,
    description="anti-Hebbian lateral rule, the exact Sherman-Morrison step: gamma_y / (1 + gamma_y y'B y)",
))
CORINFOMAX_LATERAL_FORMS = {"authors": CORINFOMAX_LATERAL, "sherman-morrison": CORINFOMAX_LATERAL_SHERMAN_MORRISON}
NSM_LEARNING_RATES = register_rule(Rule(
    "nsm-learning-rates", "D = min(cap, decay * D + y**2)", kind="neuron",
    paper="Pehlevan, Mohan & Chklovskii (2017), Neural Comput.; CIM-BSS NSMBSS.py",
    activities=("y",), parameters=("decay", "cap"),
    description="per-neuron inverse learning rate",
))
NSM_FEEDFORWARD = register_rule(Rule(
    "nsm-feedforward", "W += (y_post * x_pre - y_post**2 * W) / D_post",
    paper="Pehlevan, Mohan & Chklovskii (2017), Neural Comput.",
    activities=("x", "y"), states=("D",),
    description="Hebbian feedforward rule with Oja decay at rate 1/D_i",
))
NSM_LATERAL = register_rule(Rule(
    "nsm-lateral", "W = W + (1 - identity) * (y_post * y_pre - y_post**2 * W) / D_post - identity * W",
    paper="Pehlevan, Mohan & Chklovskii (2017), Neural Comput.",
    activities=("y",), states=("D",), recurrent=True,
    description="anti-Hebbian lateral rule with Oja decay; the diagonal is held at 0",
))
NICA_FEEDFORWARD = register_rule(Rule(
    "nica-feedforward", "W += 2 * learning_rate * (y_post * x_pre - (c_post - cbar_post) * (x_pre - xbar_pre))",
    paper="Lipshutz, Pehlevan & Chklovskii (2022), Biol. Cybern.",
    activities=("x", "y", "c"), states=("xbar", "cbar"), parameters=("learning_rate",),
    description="Hebbian in the output, anti-Hebbian in the centred dendritic current c = W x",
))
NICA_LATERAL = register_rule(Rule(
    "nica-lateral", "M += learning_rate / time_constant * (y_post * y_pre - M)",
    paper="Lipshutz, Pehlevan & Chklovskii (2022), Biol. Cybern.",
    activities=("y",), parameters=("learning_rate", "time_constant"), recurrent=True,
))
NICA_INTERNEURON_FEEDFORWARD = register_rule(Rule(
    "nica-interneuron-feedforward", "W += learning_rate * ((y_post - ybar_post) * (x_pre - xbar_pre) - W)",
    paper="Lipshutz, Pehlevan & Chklovskii (2022), Biol. Cybern. (bio-nica bio_nica_indirect)",
    activities=("x", "y"), states=("xbar", "ybar"), parameters=("learning_rate",),
))
NICA_INTERNEURON_SYNAPSES = register_rule(Rule(
    # P is stored output x interneuron: rows (post) are output neurons, columns (pre) interneurons
    "nica-interneuron-synapses", "P += learning_rate * ((y_post - ybar_post) * (n_pre - nbar_pre) - P)",
    paper="Lipshutz, Pehlevan & Chklovskii (2022), Biol. Cybern. (bio-nica bio_nica_indirect)",
    activities=("y", "n"), states=("ybar", "nbar"), parameters=("learning_rate",),
))
WSM_HEBBIAN = register_rule(Rule(
    "wsm-hebbian", "W += rate * (y_post * x_pre - W)",
    paper="Bozkurt, Pehlevan & Erdogan (2022), NeurIPS (WSMBSS.py)",
    activities=("x", "y"), parameters=("rate",),
    description="exponentially forgetting Hebbian rule of every Det-Max synapse",
))


# ------------------------------------------------------------------ CorInfoMax
def corinfomax_feedforward(
    inputs: np.ndarray,
    output: np.ndarray,
    prediction: np.ndarray,
    learning_rate: float,
    weights: np.ndarray | None = None,
    decay: float = 0.0,
) -> np.ndarray:
    """Feedforward prediction-error rule, ``ΔW = μ_W (y − ŷ) xᵀ − δ W`` with ``ŷ = W x``
    (:data:`CORINFOMAX_FEEDFORWARD`).

    Bozkurt, Erdogan & Pehlevan (2023), ICLR, CorInfoMax-BSS (authors' code
    ``CorInfoMaxBSS.py``, verified): pre the input ``x_j``, post the mismatch between the
    somatic output ``y_i`` and its dendritic prediction ``ŷ_i``. ``decay`` δ is the weight
    decay of some of the authors' batch fit functions (``W ← (1 − 10⁻⁶) W + …``); 0 by default.
    """
    if weights is None:
        weights = np.zeros((*output.shape[:-2], output.shape[-1], inputs.shape[-1]))
    return CORINFOMAX_FEEDFORWARD.numpy(W=weights, x=inputs, y=output, yhat=prediction,
                                        learning_rate=learning_rate, decay=decay)


def corinfomax_lateral(output: np.ndarray, lateral: np.ndarray, gamma_y: float, forgetting_y: float,
                       form: str = "authors") -> np.ndarray:
    """Anti-Hebbian lateral rule, ``B_y ← (B_y − γ_y z zᵀ)/λ_y`` with ``z = B_y y``, tracking
    ``λ_y R_y⁻¹`` (inverse output correlation); returned as the change ``B_new − B``.

    ``form="authors"`` (:data:`CORINFOMAX_LATERAL`, the default): Bozkurt, Erdogan & Pehlevan
    (2023), ICLR (authors' code, verified), the Sherman–Morrison step without its normaliser;
    the paper's numbers use it. Along z it scales B by ``1 − γ_y yᵀB y``, so a sample with
    ``γ_y yᵀB y > 1`` makes B_y indefinite (seen on strongly correlated outputs, issue 16).
    ``form="sherman-morrison"`` (:data:`CORINFOMAX_LATERAL_SHERMAN_MORRISON`, ours): the exact
    rank-one inverse update, ``γ_y → γ_y/(1 + γ_y yᵀB y)``, which keeps a positive definite
    B_y positive definite. ``z_i`` is the lateral input neuron i receives.
    """
    if form not in CORINFOMAX_LATERAL_FORMS:
        raise ValueError(f"form must be one of {sorted(CORINFOMAX_LATERAL_FORMS)}, got {form!r}")
    return CORINFOMAX_LATERAL_FORMS[form].numpy(B=lateral, y=output, gamma_y=gamma_y, forgetting_y=forgetting_y)


# ------------------------------------------------------------------ nonnegative similarity matching
def nsm_learning_rates(output: np.ndarray, rates: np.ndarray, decay: float = 0.94, cap: float = 3000.0) -> np.ndarray:
    """Per-neuron inverse learning rates, ``D ← min(cap, decay·D + y²)`` (CIM-BSS ``NSMBSS.py``,
    :data:`NSM_LEARNING_RATES`).

    Returned as the change ``D_new − D`` (shape (K, n)), the batch mean of the per-sample
    new values; neuron i then learns at ``1/D_i``.
    """
    return NSM_LEARNING_RATES.numpy(D=rates, y=output, decay=decay, cap=cap)


def nsm_feedforward(inputs: np.ndarray, output: np.ndarray, weights: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Hebbian feedforward rule with Oja decay, ``ΔW₁ = diag(1/D)(y xᵀ − diag(y²) W₁)`` (:data:`NSM_FEEDFORWARD`).

    Pehlevan, Mohan & Chklovskii (2017), Neural Comput. (nonnegative similarity matching),
    as run in CIM-BSS ``NSMBSS.py``: pre ``x_j`` (prewhitened input), post ``y_i``.
    """
    return NSM_FEEDFORWARD.numpy(W=weights, x=inputs, y=output, D=rates)


def nsm_lateral(output: np.ndarray, lateral: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Anti-Hebbian lateral rule, ``ΔW₂ = diag(1/D)(y yᵀ − diag(y²) W₂)``, diagonal kept at 0
    (:data:`NSM_LATERAL`).

    CIM-BSS ``NSMBSS.py``; the lateral inhibition onto neuron i is ``−Σ_j W₂,ij y_j``.
    """
    return NSM_LATERAL.numpy(W=lateral, y=output, D=rates)


# ------------------------------------------------------------------ Bio-NICA
def nica_feedforward(
    inputs: np.ndarray,
    output: np.ndarray,
    drive: np.ndarray,
    mean_inputs: np.ndarray,
    mean_drive: np.ndarray,
    learning_rate: float,
) -> np.ndarray:
    """Bio-NICA feedforward rule, ``ΔW = 2η (y xᵀ − (c − c̄)(x − x̄)ᵀ)``, ``c = W x`` (:data:`NICA_FEEDFORWARD`).

    Lipshutz, Pehlevan & Chklovskii (2022), Biol. Cybern., direct-lateral algorithm
    (bio-nica ``nica_algorithms.py``, verified): Hebbian in the output ``y`` and anti-Hebbian
    in the centred dendritic current ``c − c̄`` of a two-compartment neuron.
    """
    weights = np.zeros((*output.shape[:-2], output.shape[-1], inputs.shape[-1]))
    return NICA_FEEDFORWARD.numpy(W=weights, x=inputs, y=output, c=drive, xbar=mean_inputs, cbar=mean_drive,
                                  learning_rate=learning_rate)


def nica_lateral(output: np.ndarray, lateral: np.ndarray, learning_rate: float, time_constant: float) -> np.ndarray:
    """Bio-NICA lateral rule, ``ΔM = (η/τ)(y yᵀ − M)`` (bio-nica, verified; :data:`NICA_LATERAL`)."""
    return NICA_LATERAL.numpy(M=lateral, y=output, learning_rate=learning_rate, time_constant=time_constant)


def nica_interneuron_feedforward(
    inputs: np.ndarray, output: np.ndarray, weights: np.ndarray, mean_inputs: np.ndarray, mean_output: np.ndarray,
    learning_rate: float,
) -> np.ndarray:
    """Bio-NICA with interneurons, ``ΔW = η((y − ȳ)(x − x̄)ᵀ − W)`` (bio-nica ``bio_nica_indirect``;
    :data:`NICA_INTERNEURON_FEEDFORWARD`)."""
    return NICA_INTERNEURON_FEEDFORWARD.numpy(W=weights, x=inputs, y=output, xbar=mean_inputs, ybar=mean_output,
                                              learning_rate=learning_rate)


def nica_interneuron_synapses(
    output: np.ndarray, interneuron: np.ndarray, synapses: np.ndarray, mean_output: np.ndarray,
    mean_interneuron: np.ndarray, learning_rate: float,
) -> np.ndarray:
    """Bio-NICA with interneurons, ``ΔP = η((y − ȳ)(n − n̄)ᵀ − P)``, ``n = Pᵀy`` (bio-nica;
    :data:`NICA_INTERNEURON_SYNAPSES`)."""
    return NICA_INTERNEURON_SYNAPSES.numpy(P=synapses, y=output, n=interneuron, ybar=mean_output,
                                           nbar=mean_interneuron, learning_rate=learning_rate)


# ------------------------------------------------------------------ Det-Max / weighted similarity matching
def wsm_hebbian(post: np.ndarray, pre: np.ndarray, weights: np.ndarray, rate: float) -> np.ndarray:
    """Exponentially forgetting Hebbian rule shared by every Det-Max synapse,
    ``W ← (1 − γ_k) W + γ_k post preᵀ`` (returned as the change ``γ_k (post preᵀ − W)``;
    :data:`WSM_HEBBIAN`).

    Bozkurt, Pehlevan & Erdogan (2022), NeurIPS (authors' code ``WSMBSS.py``, verified): used
    for ``M_H`` (h, h), ``W_HX`` (h, x), ``M_Y`` (y, y) and ``W_YH`` (y, h).
    """
    return WSM_HEBBIAN.numpy(W=weights, x=pre, y=post, rate=rate)


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
    return wsm_gain_change(np.einsum("kij,kji->ki", scaled, lateral), np.sum(feedforward**2, axis=-1), gains,
                           weight, regulariser, rate)


def wsm_gain_change(quadratic: Any, energy: Any, gains: Any, weight: float, regulariser: float, rate: float) -> Any:
    """The gain step of :func:`wsm_gain` from its neuron's two diagonal terms,
    ``ΔD_i = −μ_D [w ((M D M)_ii − (W Wᵀ)_ii) + ζ / D_i]`` (``quadratic`` (M D M)_ii,
    ``energy`` (W Wᵀ)_ii). Elementwise arithmetic only: the fused kernels compile this very
    function."""
    return -rate * (weight * (quadratic - energy) + regulariser / gains)


def cap_gain_step(change: np.ndarray, gains: np.ndarray, gain_step_cap: float) -> np.ndarray:
    """Limit a gain step to a fraction of the gain, ``ΔD ← clip(ΔD, −c·D, c·D)``.

    The nonnegative-antisparse Det-Max variant (authors' ``WSMBSS.fit_batch_nnantisparse``:
    ``D ← D − clipping(μ_D ∇D, D)``, i.e. ``c = 1``, a step of at most 100 % of D).
    """
    limit = gain_step_cap * np.abs(gains)
    return np.minimum(np.maximum(change, -limit), limit)  # elementwise: the fused kernels compile this function


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
    near_minimum = np.any(gain_near_minimum(proposed, min_gain, revert_margin), axis=-1, keepdims=True)
    return np.where(near_minimum, 0.0, np.clip(proposed, min_gain, max_gain) - gains)


def gain_near_minimum(proposed: Any, min_gain: float, revert_margin: float) -> Any:
    """The revert test of :func:`revert_gain_step` for one gain, ``D'_i − D_min < margin``
    (elementwise; the fused kernels compile this very function)."""
    return proposed - min_gain < revert_margin


def wsm_gain_weights(beta: float, zeta: float) -> tuple[float, float]:
    """The weights ``w`` of :func:`wsm_gain` for (D1, D2): ``((1−ζ)β, (1−ζ)(1−β))``. Scalar
    arithmetic only: the fused kernels compile this very function."""
    return (1 - zeta) * beta, (1 - zeta) * (1 - beta)


def wsm_gain_update(
    gains: np.ndarray, lateral: np.ndarray, feedforward: np.ndarray, weight: float, regulariser: float, rate: float,
    update: str, min_gain: float, max_gain: float, step_cap: float, revert_margin: float,
) -> np.ndarray:
    """One layer's new gains: the step of :func:`wsm_gain` on the synapses as they are, then
    ``update="clipped"`` clips ``D + ΔD`` to [min_gain, max_gain]; ``"capped-reverted"`` caps
    the step (:func:`cap_gain_step`) and undoes it near the minimum (:func:`revert_gain_step`)."""
    change = wsm_gain(gains, lateral, feedforward, weight, regulariser, rate)
    if update == "clipped":
        return np.clip(gains + change, min_gain, max_gain)
    change = cap_gain_step(change, gains, step_cap)
    return gains + revert_gain_step(gains, change, min_gain, max_gain, revert_margin)


SCHEDULES = ("log", "slow-log")


def wsm_synaptic_rate(step: int, start: float, stop: float, schedule: str = "log") -> float:
    """Synaptic rate of sample ``step`` (k = 0, 1, …) for every Det-Max synapse.

    ``"log"``: ``γ_k = max(γ_start/(1 + ln(2 + k)), γ_stop)`` (authors' ``fit_batch_antisparse``,
    ``fit_batch_sparse``; CIM-BSS ``"divide_by_log_index"`` with divider 1);
    ``"slow-log"``: ``γ_k = max(γ_start/(1 + ln(1 + k)/10), γ_stop)`` (the nonnegative-antisparse
    variant, ``fit_batch_nnantisparse``). The equations are :func:`wsm_synaptic_rate_code`.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be 'log' or 'slow-log', got {schedule!r}")
    return float(wsm_synaptic_rate_code(step, start, stop, SCHEDULES.index(schedule)))


def wsm_synaptic_rate_code(step: int, start: float, stop: float, code: int) -> float:
    """:func:`wsm_synaptic_rate` with the schedule as its index in :data:`SCHEDULES` (0 "log",
    1 "slow-log"): scalar arithmetic only, so the fused kernels compile this very function."""
    if code == 0:
        return max(start / (1.0 + np.log(2.0 + step)), stop)
    return max(start / (1.0 + np.log(1.0 + step) / 10.0), stop)


def decayed_gain_rate(rate: float, step: int, decay: float, interval: int) -> float:
    """Gain rate of sample ``step`` (k = 0, 1, …): ``μ_D · decay^⌊(k + 1)/interval⌋``.

    The authors' fit loops multiply μ_D by 0.99 before every sample with ``(k + 1) % 100000 == 0``
    (Det-Max ``fit_batch_antisparse``/``fit_batch_nnantisparse``, CIM-BSS ``fit_batch_*``).
    Scalar arithmetic only: the fused kernels compile this very function.
    """
    return rate * decay ** ((step + 1) // interval)
