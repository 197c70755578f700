"""Infinite-width kernels of ReLU networks and the lazy eNTK of each learning rule.

Arc-cosine kernels (Cho & Saul, NeurIPS 2009) give the expectations over a Gaussian unit
``u = w·x``, ``w ~ N(0, σ_w² I)``::

    order 0:  E[φ'(u)φ'(u')] = (π − θ) / (2π)
    order 1:  E[φ(u)φ(u')]   = σσ' (sin θ + (π − θ) cos θ) / (2π)

with ``σ² = σ_w²‖x‖²``, ``cos θ = x·x'/(‖x‖‖x'‖)``, φ = ReLU. The lazy eNTK of a rule
(Bordelon & Pehlevan, ICLR 2023; derivation in :ref:`theory-supervised-lazy`) for ``depth``
ReLU hidden layers of the circuits' ``"ntk"``/``"mean-field"`` parameterization (weights
``N(0, g²/fan_in)``, zero biases at init; hidden layer ℓ steps with ``η_ℓ γ²/fan_in``, the
readout with ``η_L/N``) is, with ``Σ¹ = g² x·x'/D``, ``Σ^{ℓ+1} = g² E[φφ](Σ^ℓ)``,
``Ġ^ℓ = E[φ'φ'](Σ^ℓ)``::

    K = η_L E[φφ](Σ^{depth}) + Σ_ℓ c_ℓ η_ℓ Ψ_{ℓ−1} g^{2(depth−ℓ+1)} Π_{j=ℓ}^{depth} Ġ^j
    Ψ_0 = (x·x' + [bias]) / D,   Ψ_{ℓ−1} = E[φφ](Σ^{ℓ−1}) (ℓ ≥ 2)

with the rule's weight ``c_ℓ`` = 1 (backprop), ``ρ^{depth−ℓ+1}`` (ρ-FA) and 0 (DFA, Hebb: their
feedback is independent of the forward path, so the hidden terms average out). Biases of
layers above the first contribute ``O(1/N)`` and are dropped in the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..validation import check_integer, check_real

__all__ = ["RULES", "arccos_kernel", "relu_expectations", "lazy_entk"]

RULES = ("backprop", "feedback-alignment", "direct-feedback-alignment", "hebbian")


def _inputs(name: str, X: Any) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or not np.all(np.isfinite(X)):
        raise ValueError(f"{name} must be a finite (samples, features) array, got shape {X.shape}")
    return X


def relu_expectations(cov_xz: np.ndarray, var_x: np.ndarray, var_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(E[φ(u)φ(v)], E[φ'(u)φ'(v)])`` for centred Gaussians with ``Var u = var_x`` (P, 1),
    ``Var v = var_z`` (1, Q), ``Cov = cov_xz`` (P, Q); φ = ReLU."""
    norm = np.sqrt(np.maximum(var_x * var_z, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(norm > 0, cov_xz / np.where(norm > 0, norm, 1.0), 0.0)
    theta = np.arccos(np.clip(cos, -1.0, 1.0))
    first = norm * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)
    zeroth = np.where(norm > 0, (np.pi - theta) / (2 * np.pi), 0.0)
    return first, zeroth


def arccos_kernel(X: Any, Z: Any = None, order: int = 1, weight_variance: float = 1.0) -> np.ndarray:
    """Arc-cosine kernel ``E_w[φ(w·x)φ(w·z)]`` (order 1, ReLU) or ``E_w[φ'(w·x)φ'(w·z)]``
    (order 0, step), ``w ~ N(0, weight_variance · I)``; (P, Q)."""
    X = _inputs("X", X)
    Z = X if Z is None else _inputs("Z", Z)
    if Z.shape[1] != X.shape[1]:
        raise ValueError(f"X and Z need the same number of features, got {X.shape[1]} and {Z.shape[1]}")
    if order not in (0, 1):
        raise ValueError(f"order must be 0 or 1, got {order!r}")
    s2 = check_real("weight_variance", weight_variance, 0.0, inclusive=False)
    first, zeroth = relu_expectations(s2 * X @ Z.T, s2 * np.sum(X**2, 1)[:, None], s2 * np.sum(Z**2, 1)[None, :])
    return first if order == 1 else zeroth


def _rates(name: str, value: Any, depth: int) -> tuple[float, ...]:
    values = tuple(value) if isinstance(value, (list, tuple, np.ndarray)) else (value,) * depth
    if len(values) != depth:
        raise ValueError(f"{name} must give one value per hidden layer ({depth}), got {len(values)}")
    return tuple(check_real(name, v, 0.0) for v in values)


def lazy_entk(
    rule: str,
    X: Any,
    Z: Any = None,
    *,
    depth: int = 1,
    rho: float = 0.0,
    init_gain: float = 1.0,
    learning_rate: float | Sequence[float] = 1.0,
    output_rate: float = 1.0,
    bias: bool = False,
    per_layer: bool = False,
) -> np.ndarray | list[np.ndarray]:
    """Infinite-width lazy eNTK ``K(X, Z)`` (P, Q) of ``rule`` (one of :data:`RULES`) for a net
    of ``depth`` ReLU hidden layers (module docstring). ``learning_rate`` η_ℓ (one or per hidden
    layer) and ``output_rate`` η_L are the circuits' raw rates; with ``per_layer`` the list of
    the layers' terms ``[layer 1, ..., depth, readout]`` is returned. The same kernel acts on
    each output (the output–output block is ``K ⊗ I``)."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {list(RULES)}, got {rule!r}")
    X = _inputs("X", X)
    Z = X if Z is None else _inputs("Z", Z)
    if Z.shape[1] != X.shape[1]:
        raise ValueError(f"X and Z need the same number of features, got {X.shape[1]} and {Z.shape[1]}")
    depth = check_integer("depth", depth, 1)
    rho = check_real("rho", rho, 0.0, 1.0)
    g2 = check_real("init_gain", init_gain, 0.0, inclusive=False) ** 2
    rates = _rates("learning_rate", learning_rate, depth)
    eta_out = check_real("output_rate", output_rate, 0.0)
    D = X.shape[1]
    # layer recursion on the cross covariance and both diagonals
    cross, vx, vz = g2 * X @ Z.T / D, g2 * np.sum(X**2, 1)[:, None] / D, g2 * np.sum(Z**2, 1)[None, :] / D
    inputs = [(X @ Z.T + float(bias)) / D]  # Ψ_0
    gains = []
    for _ in range(depth):
        first, zeroth = relu_expectations(cross, vx, vz)
        fx = relu_expectations(vx, vx, vx)[0]
        fz = relu_expectations(vz, vz, vz)[0]
        gains.append(zeroth)
        inputs.append(first)
        cross, vx, vz = g2 * first, g2 * fx, g2 * fz
    weight = {"backprop": 1.0, "feedback-alignment": rho}.get(rule, 0.0)
    terms = []
    for ell in range(1, depth + 1):
        back = np.ones_like(cross)
        for j in range(ell, depth + 1):
            back = back * g2 * gains[j - 1]
        terms.append(weight ** (depth - ell + 1) * rates[ell - 1] * inputs[ell - 1] * back)
    terms.append(eta_out * inputs[depth])
    return terms if per_layer else np.sum(terms, axis=0)
