"""Neural predictions of the supervised family (theory: :ref:`theory-supervised-predictions`).

Every function works for any layered circuit of :mod:`bioplausible.circuits.supervised`
(and the correlation for any circuit with a ``respond``/``output``), for every ensemble
member at once (results have a leading axis K), computed the same way for every rule:

* :func:`error_correlations` — per layer, mean ``|corr(h_i, ε_j)|`` between activity and
  output error (EBD paper, App. J): falls over training when a rule decorrelates;
* :func:`update_alignment` — per hidden layer, cosine between the rule's update and the
  backprop descent direction ``−∇_W ½‖ε‖²`` on the same batch (EBD paper, App. E);
* :func:`kernel_task_alignment` — per hidden layer, ``tr(Yᵀ Φ Y) / (‖Φ‖_F ‖Y‖_F²)`` of the
  feature kernel ``Φ = H Hᵀ / N`` (Bordelon & Pehlevan, ICLR 2023; uncentred, not CKA);
* :func:`feedback_angle` — per hidden layer, the angle (degrees) between the forward path
  that carries layer k's activity to the error and the transposed feedback that carries the
  error back (FA: ``W_{k+1}`` vs ``B_{k+1}ᵀ``; EBD/DFA: ``W_L⋯W_{k+1}`` vs ``R_kᵀ``; BP: 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "error_correlations",
    "backprop_descent",
    "update_alignment",
    "kernel_task_alignment",
    "feedback_angle",
    "projection_drift",
]


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def error_correlations(
    circuit: Any, inputs: np.ndarray, targets: np.ndarray, chunk: int = 2000
) -> dict[str, np.ndarray]:
    """Per simulated population: mean over (unit i, output j) of ``|Pearson corr(h_i, ε_j)|``,
    ``ε = output − target``, over the samples (streaming sums over chunks); pairs with a unit
    or output of zero variance are excluded. Returns ``{population: (K,)}``."""
    names = [p.name for p in circuit.populations() if p.role == "neurons"]
    sums: dict[str, list[np.ndarray]] = {}
    n = 0
    for part in _chunks(inputs.shape[-2], chunk):
        acts = circuit.respond(inputs[..., part, :])
        error = circuit.output(acts) - targets[..., part, :]
        n += error.shape[-2]
        for name in names:
            h = acts[name]
            terms = [h.sum(-2), error.sum(-2), (h**2).sum(-2), (error**2).sum(-2),
                     np.matmul(np.swapaxes(h, -1, -2), error)]
            sums[name] = terms if name not in sums else [a + b for a, b in zip(sums[name], terms)]
    out = {}
    for name, (sh, se, shh, see, she) in sums.items():
        mh, me = sh / n, se / n
        vh = np.maximum(shh / n - mh**2, 0.0)
        ve = np.maximum(see / n - me**2, 0.0)
        cov = she / n - mh[..., :, None] * me[..., None, :]
        valid = (vh[..., :, None] > 1e-12) & (ve[..., None, :] > 1e-12)
        denom = np.where(valid, np.sqrt(vh[..., :, None] * ve[..., None, :]), 1.0)
        corr = np.where(valid, np.abs(cov) / denom, 0.0)
        count = valid.sum(axis=(-2, -1))
        out[name] = np.where(count > 0, corr.sum(axis=(-2, -1)) / np.maximum(count, 1), np.nan)
    return out


def backprop_descent(circuit: Any, layers: list[np.ndarray], targets: np.ndarray) -> list[np.ndarray]:
    """``−∇_{W_k} ⟨½‖ε‖²⟩`` for k = 1..L (each (K, n_k, n_{k−1})) from the forward pass
    ``layers = [h_0, ..., h_L]`` of a layered ReLU circuit (written out independently of the
    ``Backprop`` circuit, so it also checks it)."""
    L = len(layers) - 1
    delta = layers[-1] - targets
    out: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    for k in range(L, 0, -1):
        out[k - 1] = -np.matmul(np.swapaxes(delta, -1, -2), layers[k - 1]) / delta.shape[-2]
        if k > 1:
            delta = np.matmul(delta, circuit.state[f"weight_{k}"]) * (layers[k - 1] > 0)
    return out


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of vec(a) and vec(b) per ensemble member (K,); NaN where either is zero."""
    a = a.reshape(a.shape[0], -1)
    b = b.reshape(b.shape[0], -1)
    norm = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, np.sum(a * b, axis=-1) / np.where(norm > 0, norm, 1.0), np.nan)


def update_alignment(circuit: Any, inputs: np.ndarray, targets: np.ndarray) -> list[np.ndarray]:
    """Per hidden layer k: cosine between vec(ΔW_k) of the circuit's own rule (its
    ``proposed_updates``, nothing applied) and vec(−∇_{W_k} L_BP) on the same batch; (K,) each."""
    activities = circuit.respond(inputs)
    layers = circuit.layers_from(activities)
    targets = np.broadcast_to(targets, layers[-1].shape)
    updates = circuit.proposed_updates(activities, targets)
    descent = backprop_descent(circuit, layers, targets)
    return [_cosine(updates[f"weight_{k}"], descent[k - 1]) for k in range(1, circuit.n_layers)]


def kernel_task_alignment(circuit: Any, inputs: np.ndarray, targets: np.ndarray) -> list[np.ndarray]:
    """Per hidden layer: ``A = tr(Yᵀ Φ Y) / (‖Φ‖_F ‖Y‖_F²)``, ``Φ = H Hᵀ / N`` over the given
    samples (use a few hundred); (K,) each. Uncentred (Bordelon & Pehlevan, ICLR 2023)."""
    activities = circuit.respond(inputs)
    layers = circuit.layers_from(activities)
    targets = np.broadcast_to(targets, layers[-1].shape)
    out = []
    for h in layers[1:-1]:
        kernel = np.matmul(h, np.swapaxes(h, -1, -2)) / h.shape[-1]
        projected = np.sum(targets * np.matmul(kernel, targets), axis=(-2, -1))
        norm = np.linalg.norm(kernel, axis=(-2, -1)) * np.sum(targets**2, axis=(-2, -1))
        out.append(np.where(norm > 0, projected / np.where(norm > 0, norm, 1.0), np.nan))
    return out


def feedback_angle(circuit: Any) -> list[np.ndarray]:
    """Per hidden layer: angle in degrees between the forward path and the transposed
    feedback matrix of :meth:`feedback_paths` (90° = unrelated, 0° = weight symmetry);
    NaN for circuits without an error pathway (Hebb). (K,) each."""
    out = []
    for pair in circuit.feedback_paths():
        if pair is None:
            out.append(np.full(circuit.ensemble_size, np.nan))
            continue
        cosine = np.clip(_cosine(*pair), -1.0, 1.0)
        out.append(np.degrees(np.arccos(cosine)))
    return out


def projection_drift(circuit: Any, initial: dict[str, np.ndarray]) -> list[np.ndarray]:
    """EBD: per hidden layer, cosine between the error projection R_k and its initial value
    (≈1: the run stays DFA-like; ≈0: R is dominated by the learned correlation; see :ref:`theory-supervised-ebd`)."""
    return [
        _cosine(circuit.state[f"projection_{k}"], initial[f"projection_{k}"])
        for k in range(1, circuit.n_layers)
        if f"projection_{k}" in circuit.state
    ]
