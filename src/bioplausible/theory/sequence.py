"""Closed-form capacities of the sequence memories (theory: :ref:`theory-sequence-capacity`),
overlaid on the simulated capacities by ``benchmarks/sequence_capacity.py``."""

from __future__ import annotations

import numpy as np

from ..validation import check_choice

__all__ = ["theoretical_capacity"]


def theoretical_capacity(n_neurons: int | np.ndarray, separation: str, degree: int = 2,
                         criterion: str = "transition") -> np.ndarray:
    """Derived capacities (:ref:`theory-sequence-capacity`, Gaussian theory with union bounds).

    SeqNet ``P_T = N/(2 ln N)``, ``P_S = N/(4 ln N)``; poly ``P_T = N^d / (2 (2d−1)!! ln N)``,
    ``P_S = P_T/(d+1)``; exp ``P_T = β^{N−1}/(2 ln N)``, ``P_S = β^{N−1}/(α N)``, with
    ``β = e²/cosh 2`` and ``α = 2 ln β``.
    """
    check_choice("criterion", criterion, ["transition", "sequence"])
    n = np.asarray(n_neurons, dtype=float)
    if separation in ("linear", "poly"):
        d = 1 if separation == "linear" else degree
        double_factorial = float(np.prod(np.arange(2 * d - 1, 0, -2)))
        p_t = n**d / (2 * double_factorial * np.log(n))
        return p_t if criterion == "transition" else p_t / (d + 1)
    if separation in ("exp", "softmax"):
        beta = np.exp(2.0) / np.cosh(2.0)
        if criterion == "transition":
            return beta ** (n - 1) / (2 * np.log(n))
        return beta ** (n - 1) / (2 * np.log(beta) * n)
    raise ValueError(f"separation must be one of ['linear', 'poly', 'exp', 'softmax'], got {separation!r}")
