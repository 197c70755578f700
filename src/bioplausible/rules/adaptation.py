"""Local rules of the recurrent-adaptation (statistical whitening) family.

All four circuits descend ``f(M) = Tr(M^-1 C) + Tr(M)``, whose minimiser ``M = C^{1/2}``
whitens ``y = M^-1 x``; see ``../circuits/adaptation.py`` for how each parametrises M.
Shapes: activities (K, B, n), weights (K, n, k), gains (K, k). Each function returns the
change to apply (``weights += change``).
"""

from __future__ import annotations

import numpy as np


def _batch_outer(post: np.ndarray, pre: np.ndarray) -> np.ndarray:
    """Batch mean of ``post pre^T``: (K, B, n), (K, B, m) -> (K, n, m)."""
    return np.matmul(np.swapaxes(post, -1, -2), pre) / post.shape[-2]


def recurrent_whitening(output: np.ndarray, learning_rate: float) -> np.ndarray:
    """Direct recurrent whitening, ``ΔM = η (y yᵀ − I)``.

    Lipshutz, Pehlevan & Chklovskii (2023), ICLR, Algorithm 1 (derived from the objective:
    see :ref:`theory-adaptation-direct`). Off-diagonal ``M_ij`` is anti-Hebbian lateral inhibition (pre ``y_j``,
    post ``y_i``); the diagonal (leak) is homeostatic, ``η (y_i² − 1)``.
    """
    n = output.shape[-1]
    return learning_rate * (_batch_outer(output, output) - np.eye(n))


def interneuron_whitening(
    principal: np.ndarray, interneuron: np.ndarray, weights: np.ndarray, learning_rate: float
) -> np.ndarray:
    """Hebbian primary–interneuron synapses with decay, ``ΔW = η (y nᵀ − W)``.

    Lipshutz, Pehlevan & Chklovskii (2023), ICLR, Algorithm 2 (derived, see
    :ref:`theory-adaptation-interneurons`): pre is
    the primary neuron ``y_i``, post the interneuron ``n_j = (Wᵀy)_j``. The same change
    applies to both directions (y→n uses Wᵀ, n→y uses −W), so they stay tied.
    """
    return learning_rate * (_batch_outer(principal, interneuron) - weights)


def gain_homeostasis(interneuron_input: np.ndarray, target: np.ndarray | float, learning_rate: float) -> np.ndarray:
    """Interneuron gain homeostasis, ``Δg_i = η (⟨z_i²⟩ − target_i)``.

    Duong, Lipshutz, Heeger, Chklovskii & Simoncelli (2023), ICML, Algorithm 1 (target 1:
    unit-norm frame); Duong, Simoncelli, Chklovskii & Lipshutz (2023), NeurIPS (target
    ``‖w_i‖²``, the interneuron's own synaptic norm). ``z_i = w_iᵀ y`` is interneuron i's input.
    """
    return learning_rate * (np.mean(interneuron_input**2, axis=-2) - target)


def gain_modulated_hebbian(
    principal: np.ndarray, interneuron: np.ndarray, weights: np.ndarray, gains: np.ndarray, learning_rate: float
) -> np.ndarray:
    """Slow synaptic plasticity under gain modulation, ``ΔW = η_w (r nᵀ − W diag(g))``.

    Duong, Simoncelli, Chklovskii & Lipshutz (2023), NeurIPS (authors' code
    ``simulation_plasticity.py``): pre ``r_i`` (primary), post ``n_j = g_j z_j`` (interneuron
    output), decay scaled by the interneuron's own gain ``g_j``.
    """
    return learning_rate * (_batch_outer(principal, interneuron) - weights * gains[..., None, :])


def normalize_columns(weights: np.ndarray) -> np.ndarray:
    """Per-interneuron synaptic scaling: each column of W rescaled to unit norm."""
    return weights / np.linalg.norm(weights, axis=-2, keepdims=True)
