"""Infinite-width (mean-field, rich) dynamics of two-layer ReLU networks under each rule.

Bordelon & Pehlevan, ICLR 2023 (§4, the dynamical mean-field theory of two-layer networks).
In the circuits' ``parameterization="mean-field"`` with richness γ₀ and ``bias=False`` a
two-layer network is ``f(x) = (1/(γ₀ N)) Σ_i w_i φ(u_i(x))`` with O(1) single-neuron variables:
the fields ``u_i ∈ R^P`` on the P training points, started from ``N(0, g² K^x)``
(``K^x = X Xᵀ / D``), the readout weight ``w_i ~ N(0, g²)`` (per output) and, for FA/DFA, a
fixed feedback weight ``z_i`` (FA: correlation ρ with ``w_i(0)``; DFA: independent, std
``gain · g``). One full-batch step of the rule, with ``ε = f − y`` (P × C), is

    u_i ← u_i − η₀ γ₀ K^x (ε ⊙ g̃_i) 1_C / P,     g̃_i = φ'(u_i) ⊗ w_i (GD), φ'(u_i) ⊗ z_i (FA, DFA)
    w_i ← w_i − γ₀ η_out εᵀ φ(u_i) / P

(the circuits' rates: hidden ``η₀ γ² / D``, readout ``η_out / N``, ``γ = γ₀ √N``). Neurons
interact only through ε, so as N → ∞ the sum over neurons becomes the expectation over this
single-site process and ``f = E[w φ(u)] / γ₀`` is deterministic (f = 0 at initialisation).
:func:`two_layer_dmft` evaluates that expectation by Monte Carlo over ``samples`` draws of the
single-site process, drawn in antithetic pairs ``(u, ±w, ±z)`` so that f(0) = 0 exactly as in
the limit; its error is O(samples^(−1/2)), independent of the simulated width. The Hebbian
rule is not covered: its hidden step is quadratic in ε and scales with N in this
parameterisation (no finite limit), and EBD's regularisers are not error-driven.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..validation import check_choice, check_integer, check_real

__all__ = ["two_layer_dmft", "DMFT_RULES"]

#: Rules with a two-layer DMFT here.
DMFT_RULES = ("backprop", "feedback-alignment", "direct-feedback-alignment")


def two_layer_dmft(
    rule: str,
    inputs: Any,
    targets: Any,
    steps: int,
    *,
    gamma0: float = 1.0,
    learning_rate: float = 1.0,
    output_rate: float = 1.0,
    rho: float = 0.0,
    projection_gain: float = 1.0,
    init_gain: float = 1.0,
    samples: int = 1 << 14,
    seed: int = 0,
) -> dict[str, Any]:
    """Training MSE ``mean (f − y)²`` (step) and the hidden feature kernel's alignment with the
    targets, ``A(Φ)`` with ``Φ = E[φ(u) φ(u)ᵀ]`` (step), of a two-layer network trained by
    ``steps`` full-batch steps of ``rule`` at infinite width (module docstring), on ``inputs``
    (P, D) and ``targets`` (P, C) or (P,); a dict of arrays ``step``, ``train_loss``,
    ``feature_alignment``. The rates and γ₀ are those of the circuits'
    ``parameterization="mean-field"`` (``learning_rate``, ``output_rate``, ``gamma0``,
    ``init_gain``, FA's ``rho``, DFA's ``projection_gain``)."""
    from ..analysis.kernels import alignment

    rule = check_choice("rule", rule, DMFT_RULES)
    steps = check_integer("steps", steps, 0)
    samples = check_integer("samples", samples, 2)
    if samples % 2:
        raise ValueError(f"samples must be even (antithetic pairs), got {samples}")
    gamma0 = check_real("gamma0", gamma0, 0.0)
    if gamma0 == 0:
        raise ValueError("gamma0 must be > 0 (the mean-field scaling divides by it)")
    eta, eta_out = check_real("learning_rate", learning_rate, 0.0), check_real("output_rate", output_rate, 0.0)
    rho = check_real("rho", rho, -1.0, 1.0)
    gain, g = check_real("projection_gain", projection_gain, 0.0), check_real("init_gain", init_gain, 0.0)
    X = np.asarray(inputs, dtype=float)
    Y = np.asarray(targets, dtype=float)
    Y = Y[:, None] if Y.ndim == 1 else Y
    finite = bool(np.all(np.isfinite(X)) and np.all(np.isfinite(Y)))
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0] or not finite:
        raise ValueError(f"inputs (P, D) and targets (P, C) must be finite with the same P, got {X.shape} "
                         f"and {Y.shape}")
    P, D = X.shape
    C = Y.shape[1]
    rng = np.random.default_rng(seed)
    Kx = X @ X.T / D
    values, vectors = np.linalg.eigh(Kx)
    root = vectors * np.sqrt(np.clip(values, 0.0, None))  # root rootᵀ = K^x
    half = samples // 2
    u = g * rng.standard_normal((half, P)) @ root.T
    w = g * rng.standard_normal((half, C))
    if rule == "feedback-alignment":
        z = rho * w + np.sqrt(1.0 - rho**2) * g * rng.standard_normal((half, C))
    elif rule == "direct-feedback-alignment":
        z = gain * g * rng.standard_normal((half, C))
    else:
        z = None
    u = np.concatenate([u, u])
    w = np.concatenate([w, -w])
    z = None if z is None else np.concatenate([z, -z])
    loss, feature = [], []
    for step in range(steps + 1):
        phi = np.maximum(u, 0.0)
        f = phi.T @ w / (gamma0 * samples)  # (P, C): E[w φ(u)] / γ₀
        error = f - Y
        loss.append(float(np.mean(error**2)))
        feature.append(float(alignment(phi.T @ phi / samples, Y)))
        if step == steps:
            break
        back = w if z is None else z  # (M, C)
        drive = (u > 0) * (back @ error.T)  # (M, P): Σ_c g̃_{iνc} ε_{νc}
        u = u - eta * gamma0 * drive @ Kx / P
        w = w - gamma0 * eta_out * phi @ error / P
    return {"step": np.arange(steps + 1), "train_loss": np.asarray(loss), "feature_alignment": np.asarray(feature)}
