"""Local rules of the recurrent-adaptation (statistical whitening) family.

All four circuits descend ``f(M) = Tr(M^-1 C) + Tr(M)``, whose minimiser ``M = C^{1/2}``
whitens ``y = M^-1 x``; see ``../circuits/adaptation/`` for how each parametrises M.
Each rule is declared once (:class:`~bioplausible.rules.declaration.Rule`); the functions
below are its batched numpy form with the family's argument names. Shapes: activities
(K, B, n), weights (K, n, k), gains (K, k). Each function returns the change to apply
(``weights += change``).
"""

from __future__ import annotations

import numpy as np

from .declaration import Rule, register_rule

RECURRENT_WHITENING = register_rule(Rule(
    "recurrent-whitening", "M += learning_rate * (y_post * y_pre - identity)",
    paper="Lipshutz, Pehlevan & Chklovskii (2023), ICLR, Algorithm 1",
    activities=("y",), parameters=("learning_rate",), recurrent=True,
    description="direct whitening: anti-Hebbian lateral M_ij (i != j), homeostatic leak M_ii",
))
INTERNEURON_WHITENING = register_rule(Rule(
    "interneuron-whitening", "W += learning_rate * (y_pre * n_post - W)",
    paper="Lipshutz, Pehlevan & Chklovskii (2023), ICLR, Algorithm 2",
    activities=("y", "n"), parameters=("learning_rate",),
    description="Hebbian primary -> interneuron synapse with decay (W stored primary x interneuron)",
))
GAIN_HOMEOSTASIS = register_rule(Rule(
    "gain-homeostasis", "g += learning_rate * (z**2 - target)", kind="neuron",
    paper="Duong, Lipshutz, Heeger, Chklovskii & Simoncelli (2023), ICML, Algorithm 1",
    activities=("z",), states=("target",), parameters=("learning_rate",),
    description="interneuron gain homeostasis toward <z^2> = target",
))
GAIN_MODULATED_HEBBIAN = register_rule(Rule(
    "gain-modulated-hebbian", "W += learning_rate * g_post * (r_pre * z_post - W)",
    paper="Duong, Simoncelli, Chklovskii & Lipshutz (2023), NeurIPS",
    activities=("r", "z"), states=("g",), parameters=("learning_rate",),
    description="slow Hebbian primary -> interneuron synapse, r n^T - W diag(g) with the interneuron's "
                "output n = g z (its input z times its gain g)",
))


def _transposed(change: np.ndarray) -> np.ndarray:
    return np.swapaxes(change, -1, -2)


def recurrent_whitening(output: np.ndarray, learning_rate: float) -> np.ndarray:
    """Direct recurrent whitening, ``ΔM = η (y yᵀ − I)`` (:data:`RECURRENT_WHITENING`).

    Lipshutz, Pehlevan & Chklovskii (2023), ICLR, Algorithm 1 (derived from the objective:
    see :ref:`theory-adaptation-direct`). Off-diagonal ``M_ij`` is anti-Hebbian lateral inhibition (pre ``y_j``,
    post ``y_i``); the diagonal (leak) is homeostatic, ``η (y_i² − 1)``.
    """
    n = output.shape[-1]
    current = np.zeros((*output.shape[:-2], n, n))
    return RECURRENT_WHITENING.numpy(M=current, y=output, learning_rate=learning_rate)


def interneuron_whitening(
    principal: np.ndarray, interneuron: np.ndarray, weights: np.ndarray, learning_rate: float
) -> np.ndarray:
    """Hebbian primary–interneuron synapses with decay, ``ΔW = η (y nᵀ − W)`` (:data:`INTERNEURON_WHITENING`).

    Lipshutz, Pehlevan & Chklovskii (2023), ICLR, Algorithm 2 (derived, see
    :ref:`theory-adaptation-interneurons`): pre is
    the primary neuron ``y_i``, post the interneuron ``n_j = (Wᵀy)_j``. The same change
    applies to both directions (y→n uses Wᵀ, n→y uses −W), so they stay tied. ``weights``
    is W (K, n, k); the declared synapse is the interneuron's row of Wᵀ.
    """
    return _transposed(INTERNEURON_WHITENING.numpy(
        W=_transposed(weights), y=principal, n=interneuron, learning_rate=learning_rate))


def gain_homeostasis(interneuron_input: np.ndarray, target: np.ndarray | float, learning_rate: float) -> np.ndarray:
    """Interneuron gain homeostasis, ``Δg_i = η (⟨z_i²⟩ − target_i)`` (:data:`GAIN_HOMEOSTASIS`).

    Duong, Lipshutz, Heeger, Chklovskii & Simoncelli (2023), ICML, Algorithm 1 (target 1:
    unit-norm frame); Duong, Simoncelli, Chklovskii & Lipshutz (2023), NeurIPS (target
    ``‖w_i‖²``, the interneuron's own synaptic norm). ``z_i = w_iᵀ y`` is interneuron i's input.
    """
    gains = np.zeros(interneuron_input.shape[:-2] + interneuron_input.shape[-1:])
    return GAIN_HOMEOSTASIS.numpy(g=gains, z=interneuron_input, target=target, learning_rate=learning_rate)


def gain_modulated_hebbian(
    principal: np.ndarray, interneuron_input: np.ndarray, weights: np.ndarray, gains: np.ndarray,
    learning_rate: float,
) -> np.ndarray:
    """Slow synaptic plasticity under gain modulation, ``ΔW = η_w (r nᵀ − W diag(g))`` (:data:`GAIN_MODULATED_HEBBIAN`).

    Duong, Simoncelli, Chklovskii & Lipshutz (2023), NeurIPS (authors' code
    ``simulation_plasticity.py``): pre ``r_i`` (primary), post the interneuron's output
    ``n_j = g_j z_j`` (its input ``z_j = w_jᵀ r`` times its gain), decay scaled by the same
    gain, so the rule reads ``g_j (r_i z_j − W_ij)``.
    """
    return _transposed(GAIN_MODULATED_HEBBIAN.numpy(
        W=_transposed(weights), r=principal, z=interneuron_input, g=gains, learning_rate=learning_rate))


def normalize_columns(weights: np.ndarray) -> np.ndarray:
    """Per-interneuron synaptic scaling: each column of W rescaled to unit norm."""
    return weights / np.linalg.norm(weights, axis=-2, keepdims=True)
