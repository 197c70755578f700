"""Loss dynamics of full-batch MSE regression under a static (lazy) kernel.

One full-batch step of any rule moves the outputs on the P training points by
``Δf = −(1/P) K (f − y)`` in the lazy limit (:mod:`bioplausible.theory.kernels`), so with
``A_t = (I − K/P)^t``::

    f_t(X) − y = A_t (f_0(X) − y)
    f_t(x*)   = f_0(x*) − K(x*, X) K⁻¹ (I − A_t) (f_0(X) − y)

(``K⁻¹(I − A_t)`` through the eigenvectors of K, with the limit ``t/P`` on its null space).
The initial function is a centred Gaussian process with covariance ``C = (g²/γ²) E[φφ]``
(the readout's NNGP, γ the circuits' output scale), independent of y; its contribution to
the *expected* loss over initialisations is added exactly. Losses are the mean over samples
and outputs of ``(f − y)²``. Bordelon & Pehlevan, ICLR 2023 (lazy limit); the kernel need
not come from this package.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from ..validation import check_integer, check_real
from .kernels import lazy_entk, relu_expectations

__all__ = ["kernel_loss_curve", "lazy_loss_curve", "nngp"]


def _targets(name: str, y: Any, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != n or not np.all(np.isfinite(y)):
        raise ValueError(f"{name} must be finite targets of shape ({n},) or ({n}, C), got {np.shape(y)}")
    return y


def nngp(X: Any, Z: Any = None, *, depth: int = 1, init_gain: float = 1.0) -> np.ndarray:
    """``E[φ(u^depth(x)) φ(u^depth(z))]``: the last hidden layer's feature kernel at init
    (the covariance of ``f_0`` is this times ``g²/γ²``)."""
    X = np.asarray(X, dtype=float)
    Z = X if Z is None else np.asarray(Z, dtype=float)
    return _kernel("direct-feedback-alignment", X, Z, depth=depth, init_gain=init_gain, output_rate=1.0)


def _kernel(rule: str, X: Any, Z: Any = None, **options: Any) -> np.ndarray:
    """:func:`~bioplausible.theory.kernels.lazy_entk` summed over layers (one (P, Q) array)."""
    return cast(np.ndarray, lazy_entk(rule, X, Z, per_layer=False, **options))


def kernel_loss_curve(
    kernel: np.ndarray,
    y: Any,
    steps: int,
    *,
    test_kernel: np.ndarray | None = None,
    y_test: Any = None,
    init_covariance: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    initial: tuple[np.ndarray, np.ndarray | None] | None = None,
) -> dict[str, np.ndarray]:
    """Train (and test) MSE at steps ``0..steps`` of full-batch descent under ``kernel`` (P, P).

    ``test_kernel`` (Q, P) with ``y_test`` adds the test curve. The initial function is zero,
    or random with ``init_covariance`` = ``(C_XX, C_*X, diag C_**)`` (expected loss), or given:
    ``initial = (f_0(X), f_0(X*))``, each (P, C) or (K, P, C) for K networks (the loss is then
    the mean over the K, conditioned on their initial functions)."""
    if initial is not None:
        return _conditioned_curve(kernel, y, steps, test_kernel, y_test, initial)
    kernel = np.asarray(kernel, dtype=float)
    P = kernel.shape[0]
    if kernel.shape != (P, P) or not np.allclose(kernel, kernel.T, atol=1e-10 * max(1.0, np.abs(kernel).max())):
        raise ValueError(f"kernel must be a symmetric (P, P) matrix, got shape {kernel.shape}")
    y = _targets("y", y, P)
    steps = check_integer("steps", steps, 0)
    lam, vec = np.linalg.eigh(kernel)
    t = np.arange(steps + 1)[:, None]
    decay = (1.0 - lam[None, :] / P) ** t  # (T, P) eigenvalues of A_t
    yv = vec.T @ y  # (P, C)
    C = y.shape[1]
    train = np.einsum("tp,pc->t", decay**2, yv**2) / (P * C)
    out = {"step": t[:, 0], "train_loss": train}
    cov_v = None
    if init_covariance is not None:
        cxx, csx, css = (np.asarray(a, dtype=float) for a in init_covariance)
        cov_v = vec.T @ cxx @ vec
        out["train_loss"] = train + np.einsum("tp,pp->t", decay**2, cov_v) / P
    if test_kernel is None:
        return out
    test_kernel = np.asarray(test_kernel, dtype=float)
    if test_kernel.ndim != 2 or test_kernel.shape[1] != P:
        raise ValueError(f"test_kernel must be (Q, {P}), got shape {test_kernel.shape}")
    y_test = _targets("y_test", y_test, test_kernel.shape[0])
    Q = y_test.shape[0]
    scale = max(abs(lam).max(), 1e-300)
    small = np.abs(lam) <= 1e-12 * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(small[None, :], t / P, (1.0 - decay) / np.where(small, 1.0, lam)[None, :])  # (T, P)
    kv = test_kernel @ vec  # (Q, P)
    prediction = np.einsum("qp,tp,pc->tqc", kv, gain, yv)  # M_t y
    test = np.mean((prediction - y_test[None]) ** 2, axis=(1, 2))
    if cov_v is not None:
        mv = kv[None] * gain[:, None, :]  # M_t in the eigenbasis (T, Q, P)
        cross = np.einsum("tqp,qp->t", mv, csx @ vec)
        quad = np.einsum("tqp,pr,tqr->t", mv, cov_v, mv)
        test = test + (np.sum(css) - 2 * cross + quad) / Q
    out["test_loss"] = test
    return out


def lazy_loss_curve(
    rule: str,
    X: Any,
    y: Any,
    X_test: Any = None,
    y_test: Any = None,
    *,
    steps: int = 100,
    depth: int = 1,
    rho: float = 0.0,
    init_gain: float = 1.0,
    learning_rate: float = 1.0,
    output_rate: float = 1.0,
    bias: bool = False,
    output_scale: float | None = 1.0,
    initial: tuple[np.ndarray, np.ndarray | None] | None = None,
) -> dict[str, np.ndarray]:
    """Expected train/test MSE of ``rule`` in the lazy infinite-width limit, full-batch.

    Arguments as :func:`~bioplausible.theory.kernels.lazy_entk`; ``output_scale`` γ of the
    circuits' readout (``gamma0`` for ``parameterization="ntk"``): ``f_0`` has covariance
    ``(g²/γ²) E[φφ]``; ``None`` takes ``f_0 = 0`` (e.g. mean-field, where it vanishes);
    ``initial = (f_0(X), f_0(X*))`` conditions on given initial functions instead (see
    :func:`kernel_loss_curve`). Returns ``step``, ``train_loss`` and, given test data, ``test_loss``."""
    X = np.asarray(X, dtype=float)
    options: dict[str, Any] = dict(depth=depth, rho=rho, init_gain=init_gain, learning_rate=learning_rate,
                                   output_rate=output_rate, bias=bias)
    kernel = _kernel(rule, X, **options)
    test_kernel = None if X_test is None else _kernel(rule, X_test, X, **options)
    if initial is not None:
        return kernel_loss_curve(kernel, y, steps, test_kernel=test_kernel, y_test=y_test, initial=initial)
    covariance = None
    if output_scale is not None:
        factor = init_gain**2 / check_real("output_scale", output_scale, 0.0, inclusive=False) ** 2
        cxx = factor * nngp(X, depth=depth, init_gain=init_gain)
        if X_test is None:
            csx, css = np.zeros((0, X.shape[0])), np.zeros(0)
        else:
            Xt = np.asarray(X_test, dtype=float)
            csx = factor * nngp(Xt, X, depth=depth, init_gain=init_gain)
            css = factor * _nngp_diagonal(Xt, depth, init_gain)
        covariance = (cxx, csx, css)
    return kernel_loss_curve(kernel, y, steps, test_kernel=test_kernel, y_test=y_test, init_covariance=covariance)


def _conditioned_curve(kernel: np.ndarray, y: Any, steps: int, test_kernel: np.ndarray | None, y_test: Any,
                       initial: tuple[np.ndarray, np.ndarray | None]) -> dict[str, np.ndarray]:
    kernel = np.asarray(kernel, dtype=float)
    P = kernel.shape[0]
    if kernel.shape != (P, P):
        raise ValueError(f"kernel must be a (P, P) matrix, got shape {kernel.shape}")
    y = _targets("y", y, P)
    steps = check_integer("steps", steps, 0)
    f0 = np.asarray(initial[0], dtype=float)
    if f0.shape[-2:] != y.shape:
        raise ValueError(f"initial[0] must be (P, C) = {y.shape} or (K, P, C), got {f0.shape}")
    lam, vec = np.linalg.eigh(kernel)
    t = np.arange(steps + 1)[:, None]
    decay = (1.0 - lam[None, :] / P) ** t
    rv = np.einsum("pj,...pc->...jc", vec, f0 - y)  # residual in the eigenbasis
    train = np.mean(decay[:, None, :, None] ** 2 * rv[None].reshape(1, -1, P, y.shape[1]) ** 2, axis=(1, 2, 3))
    out = {"step": t[:, 0], "train_loss": train}
    if test_kernel is None:
        return out
    test_kernel = np.asarray(test_kernel, dtype=float)
    y_test = _targets("y_test", y_test, test_kernel.shape[0])
    f0t = np.asarray(initial[1], dtype=float)
    if initial[1] is None or f0t.shape[-2:] != y_test.shape:
        raise ValueError(f"initial[1] must be f_0 on the test points, (Q, C) = {y_test.shape} or (K, Q, C)")
    small = np.abs(lam) <= 1e-12 * max(abs(lam).max(), 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(small[None, :], t / P, (1.0 - decay) / np.where(small, 1.0, lam)[None, :])
    kv = test_kernel @ vec
    moved = np.einsum("qj,tj,...jc->t...qc", kv, gain, rv)
    out["test_loss"] = np.mean((f0t[None] - moved - y_test) ** 2, axis=tuple(range(1, moved.ndim)))
    return out


def _nngp_diagonal(X: np.ndarray, depth: int, init_gain: float) -> np.ndarray:
    v = init_gain**2 * np.sum(X**2, 1) / X.shape[1]
    for level in range(depth):
        value = relu_expectations(v, v, v)[0]
        v = init_gain**2 * value if level < depth - 1 else value
    return v
