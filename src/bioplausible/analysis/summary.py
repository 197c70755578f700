"""Summary statistics of a population's representation across learning.

After Zavatone-Veth, Bordelon & Pehlevan ("Summary statistics of learning link changing
neural representations to behavior", Front. Neural Circuits 2025) and Kumar, Bordelon,
Pehlevan, Murthy & Gershman ("Do mice grok?", ICLR 2025): a few statistics of a recorded
population, computed in windows of the training stream, say how the code changes and how
that relates to behaviour:

* a linear decoder per window (scikit-learn, cross-validated): accuracy and the median
  geometric *margin* ``min_{c≠y} ((w_y − w_c)·h + b_y − b_c) / ‖w_y − w_c‖`` for labels, or R²
  for continuous targets;
* kernel–task alignment ``tr(Yᵀ K Y)/(‖K‖_F ‖Y‖_F²)`` of the window's kernel ``K = H Hᵀ/N``;
* the window's *condition representation* ``R_w`` (class centroids, or the least-squares
  encoding map target → activity, conditions × units), compared with the first window's:
  centred linear CKA and the orthogonal-Procrustes distance (both invariant to rotations of
  the code) beside the per-unit drift ``mean_i (1 − corr(R_w[:, i], R_0[:, i]))`` (not
  invariant): a code that rotates keeps CKA ≈ 1 while its units drift.

:func:`summary_statistics` works on any :class:`~bioplausible.Result` recorded with a
:class:`~bioplausible.Probe` (``trace_<population>``; labels from ``trace_info_<label>`` or
targets from another traced population) and returns an xarray Dataset (seed, window), which
``result.to_nwb(path, summaries=[stats])`` writes beside the activity
(``processing/summary_statistics/<population>``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .kernels import alignment

__all__ = ["linear_cka", "procrustes_distance", "decoder_scores", "condition_representation",
           "summary_statistics", "STATISTICS"]


#: What each statistic of :func:`summary_statistics` is (its ``long_name``; all dimensionless).
STATISTICS = {
    "accuracy": "cross-validated accuracy of a linear (logistic) decoder of the label",
    "margin": "median geometric margin of the linear decoder on held-out samples (activity units)",
    "r2": "cross-validated R^2 of a linear (ridge) decoder of the target",
    "alignment": "kernel-task alignment tr(Y^T K Y)/(|K|_F |Y|_F^2) of the window's kernel K = H H^T / N",
    "cka_to_first": "centred linear CKA of the condition representation with the first window's "
                    "(rotation-invariant)",
    "procrustes_to_first": "orthogonal-Procrustes distance of the condition representation to the first "
                           "window's (rotation-invariant)",
    "unit_drift": "per-unit drift mean_i (1 - corr) of the condition representation from the first window's "
                  "(not rotation-invariant)",
}


def _matrix(name: str, value: Any) -> np.ndarray:
    value = np.asarray(value, dtype=float)
    if value.ndim != 2 or not np.all(np.isfinite(value)):
        raise ValueError(f"{name} must be a finite (samples, units) matrix, got shape {value.shape}")
    return value


def linear_cka(A: Any, B: Any) -> float:
    """Centred linear CKA of two representations of the same samples (rows); in [0, 1]."""
    A, B = _matrix("A", A), _matrix("B", B)
    if A.shape[0] != B.shape[0]:
        raise ValueError(f"A and B must have the same samples (rows), got {A.shape[0]} and {B.shape[0]}")
    A, B = A - A.mean(0), B - B.mean(0)
    cross = np.linalg.norm(A.T @ B) ** 2
    norm = np.linalg.norm(A.T @ A) * np.linalg.norm(B.T @ B)
    return float(cross / norm) if norm > 0 else float("nan")


def procrustes_distance(A: Any, B: Any) -> float:
    """``min_Q ‖Â − B̂ Q‖_F`` over orthogonal Q, Â and B̂ centred and of unit Frobenius norm
    (zero-padded to the same width); 0 = identical up to a rotation, at most √2."""
    A, B = _matrix("A", A), _matrix("B", B)
    if A.shape[0] != B.shape[0]:
        raise ValueError(f"A and B must have the same samples (rows), got {A.shape[0]} and {B.shape[0]}")
    A, B = A - A.mean(0), B - B.mean(0)
    na, nb = np.linalg.norm(A), np.linalg.norm(B)
    if na == 0 or nb == 0:
        return float("nan")
    nuclear = np.linalg.svd((A / na).T @ (B / nb), compute_uv=False).sum()
    return float(np.sqrt(max(2.0 - 2.0 * nuclear, 0.0)))


def decoder_scores(features: Any, labels: Any, folds: int = 3, seed: int = 0) -> dict[str, float]:
    """Cross-validated linear decoding of ``labels`` (integers: logistic regression, accuracy
    and median geometric margin on held-out samples; floats (n,) or (n, d): ridge, R²)."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import KFold, StratifiedKFold

    X = _matrix("features", features)
    y = np.asarray(labels)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"labels must have one entry per sample ({X.shape[0]}), got {y.shape[0]}")
    if y.ndim == 1 and (np.issubdtype(y.dtype, np.integer) or np.all(np.equal(np.mod(y, 1), 0))):
        y = y.astype(int)
        classes = np.unique(y)
        if classes.size < 2:
            return {"accuracy": float("nan"), "margin": float("nan")}
        folds = max(2, min(folds, int(np.min(np.bincount(np.searchsorted(classes, y))))))
        correct, margins = [], []
        for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
            model = LogisticRegression(max_iter=2000).fit(X[train], y[train])
            correct.append(model.predict(X[test]) == y[test])
            margins.append(_margins(model, X[test], y[test]))
        return {"accuracy": float(np.mean(np.concatenate(correct))),
                "margin": float(np.median(np.concatenate(margins)))}
    y = y.reshape(y.shape[0], -1).astype(float)
    scores = []
    for train, test in KFold(max(2, folds), shuffle=True, random_state=seed).split(X):
        model = Ridge(alpha=1e-3).fit(X[train], y[train])
        residual = np.sum((model.predict(X[test]) - y[test]) ** 2)
        scores.append(1.0 - residual / max(np.sum((y[test] - y[train].mean(0)) ** 2), 1e-300))
    return {"r2": float(np.mean(scores))}


def _margins(model: Any, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Geometric distance of each sample to the nearest boundary of its own class (signed)."""
    W = model.coef_
    b = model.intercept_
    if W.shape[0] == 1:  # binary: one hyperplane
        sign = np.where(y == model.classes_[1], 1.0, -1.0)
        return sign * (X @ W[0] + b[0]) / max(np.linalg.norm(W[0]), 1e-300)
    index = np.searchsorted(model.classes_, y)
    out = np.full(y.shape[0], np.inf)
    for c in range(W.shape[0]):
        dw = W[index] - W[c]
        db = b[index] - b[c]
        dist = (np.sum(dw * X, axis=1) + db) / np.maximum(np.linalg.norm(dw, axis=1), 1e-300)
        out = np.where(index == c, out, np.minimum(out, dist))
    return out


def condition_representation(features: Any, labels: Any, classes: np.ndarray | None = None) -> np.ndarray:
    """Class centroids (classes × units) for integer labels, or the least-squares encoding map
    (target dims × units, ``h ≈ β y + c``) for continuous targets."""
    X = _matrix("features", features)
    y = np.asarray(labels)
    if y.ndim == 1 and np.all(np.equal(np.mod(y, 1), 0)):
        classes = np.unique(y) if classes is None else classes
        return np.stack([X[y == c].mean(0) if np.any(y == c) else np.full(X.shape[1], np.nan) for c in classes])
    Y = np.column_stack([y.reshape(y.shape[0], -1), np.ones(y.shape[0])])
    beta = np.linalg.lstsq(Y, X, rcond=None)[0]
    return beta[:-1]


def _unit_drift(R: np.ndarray, R0: np.ndarray) -> float:
    a, b = R - R.mean(0), R0 - R0.mean(0)
    norm = np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0)
    valid = norm > 1e-12
    if not np.any(valid):
        return float("nan")
    return float(np.mean(1.0 - np.sum(a * b, axis=0)[valid] / norm[valid]))


def summary_statistics(result: Any, population: str, *, label: str | None = None, target: str | None = None,
                       windows: int = 5, folds: int = 3) -> xr.Dataset:
    """Per seed and window of the recorded stream: decoder accuracy and margin (labels) or R²
    (targets), kernel–task alignment, CKA and Procrustes distance to the first window's
    condition representation, and per-unit drift; plus the task metrics averaged per window.

    ``population`` names a traced population (``trace_<population>``); ``label`` a recorded info
    key (``trace_info_<label>``, e.g. ``"label"`` or ``"context"``), or ``target`` another traced
    population to decode (e.g. ``"input"``). Exactly one of them."""
    data = result.dataset
    if f"trace_{population}" not in data:
        traced = sorted(str(k)[6:] for k in data if str(k).startswith("trace_") and not str(k).startswith("trace_info"))
        raise ValueError(f"population {population!r} was not traced; traced: {traced} (run with probes=[Probe()])")
    if (label is None) == (target is None):
        raise ValueError("give exactly one of label= (a recorded info key) or target= (a traced population)")
    key = f"trace_info_{label}" if label is not None else f"trace_{target}"
    if key not in data:
        raise ValueError(f"{key} is not in the result: record it with Probe(info=True) or trace {target!r}")
    windows = int(windows)
    if windows < 1:
        raise ValueError(f"windows must be >= 1, got {windows}")
    activity = data[f"trace_{population}"].values  # (seed, time, units)
    values = data[key].values
    times = data["trace_time"].values
    edges = np.linspace(0, times.size, windows + 1).astype(int)
    if np.any(np.diff(edges) < 4):
        raise ValueError(f"{times.size} recorded samples are too few for {windows} windows")
    classes = np.unique(values) if label is not None else None
    stats: dict[str, list[list[float]]] = {}
    for s in range(activity.shape[0]):
        R0 = None
        for w in range(windows):
            part = slice(edges[w], edges[w + 1])
            H, y = activity[s, part], values[s, part]
            y = y.astype(int) if label is not None else y
            row = decoder_scores(H, y, folds=folds)
            Y = (y[:, None] == classes[None, :]).astype(float) if classes is not None else y.reshape(y.shape[0], -1)
            row["alignment"] = float(alignment(H @ H.T / H.shape[1], Y))
            R = condition_representation(H, y, classes)
            R0 = R if R0 is None else R0
            ok = np.all(np.isfinite(R), axis=1) & np.all(np.isfinite(R0), axis=1)
            row["cka_to_first"] = linear_cka(R[ok], R0[ok])
            row["procrustes_to_first"] = procrustes_distance(R[ok], R0[ok])
            row["unit_drift"] = _unit_drift(R[ok], R0[ok])
            for name, value in row.items():
                stats.setdefault(name, [[] for _ in range(activity.shape[0])])[s].append(value)
    coords = {"seed": data["seed"].values, "window": np.arange(windows),
              "window_start": ("window", times[edges[:-1]]), "window_stop": ("window", times[edges[1:] - 1])}
    out = xr.Dataset({name: (("seed", "window"), np.asarray(v)) for name, v in stats.items()}, coords=coords)
    for variable in out.data_vars:
        out[variable].attrs.update(long_name=STATISTICS[str(variable)], units="1")
    out["window_start"].attrs.update(long_name="index of the window's first recorded sample", units="samples")
    out["window_stop"].attrs.update(long_name="index of the window's last recorded sample", units="samples")
    out.attrs["population"] = population
    batch = int(data.attrs.get("batch_size", 1))
    for name, metric in result.metrics.items():
        steps = metric["step"].values * batch
        centre = 0.5 * (times[edges[:-1]] + times[edges[1:] - 1])
        out[f"metric_{name}"] = (("seed", "window"),
                                 np.stack([np.interp(centre, steps, m) for m in metric.values]))
        long_name = metric.attrs.get("long_name", str(name))
        out[f"metric_{name}"].attrs.update(long_name=f"{long_name}, interpolated at the window's centre",
                                           units=metric.attrs.get("units", "1"))
    return out
