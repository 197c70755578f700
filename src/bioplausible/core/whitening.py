"""The whitening error, shared by the adaptation circuits (``steps_to_whiten``) and the
adaptation task (its metrics): one definition of ``C_yy = M⁻¹ C M⁻ᵀ`` and its distance to I;
and the whitening solution ``M = C^{1/2}`` (:func:`covariance_root`), which the task samples
with and the gain circuits' optimal gains aim at."""

from __future__ import annotations

import numpy as np

__all__ = ["covariance_root", "output_covariance", "whitening_error", "whitening_error_frobenius"]


def covariance_root(covariance: np.ndarray) -> np.ndarray:
    """The symmetric square root ``C^{1/2} = V diag(√λ) Vᵀ`` of ``C = V diag(λ) Vᵀ`` (matrices
    (..., n, n)); eigenvalues below 0 (rounding) count as 0."""
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))[..., None, :]) @ np.swapaxes(eigenvectors, -1, -2)


def output_covariance(matrix: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """``C_yy = M⁻¹ C M⁻ᵀ`` of the steady state ``y = M⁻¹ x`` (matrices (..., n, n))."""
    inverse = np.linalg.inv(matrix)
    return inverse @ covariance @ np.swapaxes(inverse, -1, -2)


def whitening_error(matrix: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """Spectral distance ``‖C_yy − I‖₂`` (per leading index)."""
    difference = output_covariance(matrix, covariance) - np.eye(np.shape(matrix)[-1])
    return np.abs(np.linalg.eigvalsh(difference)).max(axis=-1)


def whitening_error_frobenius(matrix: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """``‖C_yy − I‖_F² / N²`` (per leading index)."""
    n = np.shape(matrix)[-1]
    difference = output_covariance(matrix, covariance) - np.eye(n)
    return np.sum(difference**2, axis=(-2, -1)) / n**2
