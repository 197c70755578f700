"""Separation metrics the task scores with: SINR (CIM-BSS ``evaluate_bss``), per-component
SNR, the Amari index and Bio-NICA's permutation error (see :mod:`~bioplausible.tasks.separation`)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from ...validation import check_choice

__all__ = ["MATCHINGS", "sinr_db", "component_snr_db", "amari_index", "permutation_error"]

#: How sources are matched to outputs before the SINR (:mod:`~bioplausible.tasks.separation`).
MATCHINGS = ("cosine", "inner-product")

def _matched_outputs(
    sources: np.ndarray, outputs: np.ndarray, centre: bool, matching: str = "cosine"
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching, sign fix and least-squares scale (CIM-BSS ``evaluate_bss``): (n, N) each.

    ``matching="cosine"``: source j gets the output with the largest ``|cos(y_i, s_j)|``;
    ``"inner-product"``: the largest raw ``|⟨y_i, s_j⟩|`` (what CIM-BSS's code computes)."""
    check_choice("matching", matching, MATCHINGS)
    s = np.asarray(sources, dtype=float).T
    y = np.asarray(outputs, dtype=float).T
    if centre:
        s = s - s.mean(axis=1, keepdims=True)
        y = y - y.mean(axis=1, keepdims=True)
    if matching == "cosine":
        norms = np.linalg.norm(y, axis=1)[:, None] * np.linalg.norm(s, axis=1)[None, :]
        score = np.abs(y @ s.T) / np.where(norms > 0, norms, np.inf)
    else:
        score = np.abs(y @ s.T)
    matched = y[np.argmax(score, axis=0)]
    inner = np.sum(matched * s, axis=1)
    matched = matched * np.where(inner < 0, -1.0, 1.0)[:, None]
    power = np.sum(matched**2, axis=1)
    scale = np.abs(inner) / np.where(power > 0, power, np.inf)
    return s, matched * scale[:, None]


def sinr_db(sources: np.ndarray, outputs: np.ndarray, centre: bool = False, matching: str = "cosine") -> float:
    """Signal-to-interference-plus-noise ratio (dB) of ``outputs`` (N, k) against ``sources`` (N, n).

    CIM-BSS ``evaluate_bss`` + ``CalculateSINR``: for each source j the output with the
    largest ``|cos|`` is taken (greedy, may repeat), sign-fixed and scaled by least squares;
    then ``g_j = ⟨y_j − ȳ_j, s_j − s̄_j⟩/‖s_j − s̄_j‖²``, ``z_j = g_j (s_j − s̄_j) + ȳ_j`` and
    ``SINR = 10 log10(‖Z‖²_F / ‖Y − Z‖²_F)``. ``centre=True`` (simplex) centres S and Y first.
    ``matching="inner-product"`` matches by the raw ``|⟨y_i, s_j⟩|`` instead of the cosine,
    as CIM-BSS's code does (:mod:`~bioplausible.tasks.separation`). Returns ``inf`` for a perfect separator and
    ``nan`` for all-zero outputs.
    """
    s, y = _matched_outputs(sources, outputs, centre, matching)
    s_centred = s - s.mean(axis=1, keepdims=True)
    y_mean = y.mean(axis=1, keepdims=True)
    variance = np.sum(s_centred**2, axis=1)
    gain = np.sum((y - y_mean) * s_centred, axis=1) / np.where(variance > 0, variance, np.inf)
    z = gain[:, None] * s_centred + y_mean
    residual = float(np.sum((y - z) ** 2))
    signal = float(np.sum(z**2))
    if signal == 0.0:  # silent (or constant-zero) outputs carry no source: not a perfect separator
        return float("nan") if residual == 0.0 else float("-inf")
    if residual <= 1e-300 * max(signal, 1.0) or residual == 0.0:
        return float("inf")
    return float(10.0 * np.log10(signal / residual))


def component_snr_db(
    sources: np.ndarray, outputs: np.ndarray, centre: bool = False, matching: str = "cosine"
) -> np.ndarray:
    """Per-source SNR ``10 log10(‖s_j‖² / ‖s_j − y_j‖²)`` after matching, sign and scale (n,)."""
    s, y = _matched_outputs(sources, outputs, centre, matching)
    error = np.sum((s - y) ** 2, axis=1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.sum(s**2, axis=1) / error)


def amari_index(global_matrix: np.ndarray) -> float:
    """Amari index of the global map ``P = W_f A`` (n × n): 0 iff P is a scaled permutation.

    ``(1/(2n(n−1))) [Σ_i (Σ_j |p_ij| / max_k |p_ik| − 1) + Σ_j (Σ_i |p_ij| / max_k |p_kj| − 1)]``,
    in [0, 1] (Amari, Cichocki & Yang 1996, normalised).
    """
    p = np.abs(np.asarray(global_matrix, dtype=float))
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ValueError(f"global_matrix must be square (W_f A), got shape {p.shape}")
    n = p.shape[0]
    if n == 1:
        return 0.0
    rows = np.sum(p.sum(axis=1) / p.max(axis=1) - 1.0)
    cols = np.sum(p.sum(axis=0) / p.max(axis=0) - 1.0)
    return float((rows + cols) / (2.0 * n * (n - 1)))


def permutation_error(sources: np.ndarray, outputs: np.ndarray) -> float:
    """Bio-NICA's permutation error: Hungarian assignment on ``C_ij = Σ_t (s_i(t) − y_j(t))²``
    (no sign or scale fix), then the mean over samples of ``Σ_i (s_i − y_π(i))² / n``
    (bio-nica ``util.py``; Lipshutz, Pehlevan & Chklovskii 2022)."""
    s = np.asarray(sources, dtype=float)
    y = np.asarray(outputs, dtype=float)
    cost = (
        np.sum(s**2, axis=0)[:, None] + np.sum(y**2, axis=0)[None, :] - 2.0 * s.T @ y
    )
    rows, cols = linear_sum_assignment(cost)
    return float(np.mean(np.sum((s[:, rows] - y[:, cols]) ** 2, axis=1) / s.shape[1]))
