"""Quantities to hold against recordings, computed from a run's recorded activity.

Every function takes a :class:`~bioplausible.Result` whose run used a
:class:`~bioplausible.experiments.probes.Probe` (so it holds ``trace_<population>``), and works
the same on rate and spiking results: both substrates record the activity handed to the
circuit's rules (rate fixed points, or decoded spike counts ``a = n/(r0 T) − y0``).

* :func:`tuning_curves`: mean response of each unit per stimulus condition;
* :func:`response_covariance` and :func:`whitening_over_time`: the response covariance in
  consecutive windows and its distance from white, ``‖C_yy − I‖₂`` (Duong et al. 2023 plot
  this after each context switch);
* :func:`representational_similarity`: representational dissimilarity matrices
  (``1 − Pearson r`` between condition-mean patterns; Kriegeskorte, Mur & Bandettini 2008)
  per window, and how similar each window's geometry is to the final one;
* :func:`activity_error_correlation`: correlation over learning between a population's
  activity level and the task's error metric.

Conditions (``by``): the name of a per-sample label the task records (``"context"``,
``"label"``, ...), or ``"stimulus"``: the signed direction of the largest input component
(``±e_i``, 2n conditions), usable on any task.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr

from ..experiments.probes import TRACE_INFO_PREFIX, TRACE_PREFIX
from ..experiments.results import Result

__all__ = [
    "tuning_curves",
    "response_covariance",
    "whitening_over_time",
    "representational_similarity",
    "activity_error_correlation",
]


def tuning_curves(result: Result, population: str, by: str = "stimulus",
                  start: int | None = None, stop: int | None = None) -> xr.DataArray:
    """Mean response of each unit of ``population`` per condition, dims (seed, condition, unit).

    ``start``/``stop`` restrict to recorded samples whose stream index lies in
    ``[start, stop)`` (e.g. after learning has settled).
    """
    values, times, conditions, names = _prepare(result, population, by)
    keep = _time_mask(times, start, stop)
    values, conditions = values[:, keep], conditions[:, keep]
    curves = _condition_means(values, conditions, len(names))
    unit_dim = f"{population}_unit"
    return xr.DataArray(curves, dims=("seed", "condition", unit_dim),
                        coords={"seed": result.dataset["seed"].values, "condition": names,
                                unit_dim: result.dataset[unit_dim].values},
                        name=f"tuning_{population}")


def response_covariance(result: Result, population: str, window: int = 200) -> xr.DataArray:
    """Covariance of the responses in consecutive windows of ``window`` recorded samples,
    dims ``(seed, window, unit, unit_)``; coordinate ``window_time`` = stream index of the
    window's middle sample. Samples beyond the last full window are dropped."""
    values, times, _, _ = _prepare(result, population, None)
    windows, covariance = _windowed_covariance(values, times, _check_window(window, values.shape[1]))
    unit_dim = f"{population}_unit"
    units = result.dataset[unit_dim].values
    return xr.DataArray(covariance, dims=("seed", "window", unit_dim, unit_dim + "_"),
                        coords={"seed": result.dataset["seed"].values, "window_time": ("window", windows),
                                unit_dim: units, unit_dim + "_": units},
                        name=f"covariance_{population}")


def whitening_over_time(result: Result, population: str, window: int = 200) -> xr.DataArray:
    """``‖C_yy − I‖₂`` (largest ``|eigenvalue − 1|``) of the windowed response covariance,
    dims (seed, window): 0 for perfectly white responses. Second-moment version (the
    circuits' outputs have zero mean), so it matches the adaptation task's metric."""
    values, times, _, _ = _prepare(result, population, None)
    windows, moments = _windowed_covariance(values, times, _check_window(window, values.shape[1]), centre=False)
    deviation = np.abs(np.linalg.eigvalsh(moments) - 1.0).max(axis=-1)
    return xr.DataArray(deviation, dims=("seed", "window"),
                        coords={"seed": result.dataset["seed"].values, "window_time": ("window", windows)},
                        name=f"whitening_deviation_{population}")


def representational_similarity(result: Result, population: str, by: str = "stimulus",
                                 window: int = 200) -> xr.Dataset:
    """RDMs of ``population`` per window of recorded samples and their similarity across learning.

    Returns ``rdm`` ``(seed, window, condition, condition_)``: ``1 − Pearson r`` between the
    condition-mean response patterns in each window (NaN where a condition is absent), and
    ``similarity_to_final`` (seed, window): Pearson r between the off-diagonal entries of each
    window's RDM and the last window's (over the entries defined in both).
    """
    values, times, conditions, names = _prepare(result, population, by)
    size = _check_window(window, values.shape[1])
    n_windows = values.shape[1] // size
    seeds, units = values.shape[0], values.shape[2]
    split = values[:, : n_windows * size].reshape(seeds, n_windows, size, units)
    labels = conditions[:, : n_windows * size].reshape(seeds, n_windows, size)
    means = np.stack([_condition_means(split[:, w], labels[:, w], len(names)) for w in range(n_windows)], axis=1)
    rdm = 1.0 - _pattern_correlation(means)
    upper = np.triu_indices(len(names), 1)
    flat = rdm[..., upper[0], upper[1]]
    similarity = _masked_correlation(flat, flat[:, -1:, :])
    coords = {"seed": result.dataset["seed"].values, "condition": names, "condition_": names,
              "window_time": ("window", times[: n_windows * size].reshape(n_windows, size)[:, size // 2])}
    return xr.Dataset({"rdm": (("seed", "window", "condition", "condition_"), rdm),
                       "similarity_to_final": (("seed", "window"), similarity)}, coords=coords)


def activity_error_correlation(result: Result, population: str, metric: str | None = None) -> xr.Dataset:
    """Correlation over learning between activity level and the task's error.

    ``activity`` (seed, step): mean squared activity of ``population`` over the samples
    recorded in each evaluation interval ``(step_{i−1}, step_i]``; ``error`` (seed, step): the
    task ``metric`` at that evaluation (default: the task's first headline metric, else the
    first metric); ``correlation`` (seed,): Pearson r between the two over evaluations that
    have recorded samples.
    """
    values, times, _, _ = _prepare(result, population, None)
    metric = metric or _default_metric(result)
    if metric not in result.metrics:
        raise ValueError(f"metric must be one of {sorted(map(str, result.metrics))}, got {metric!r}")
    steps = result.dataset["step"].values
    batch_size = int(result.dataset.attrs.get("batch_size", 1))
    updates = times // batch_size
    interval = np.searchsorted(steps, updates + 1, side="left")  # update u is done by the first step >= u + 1
    power = (values**2).mean(axis=-1)
    activity = np.full((values.shape[0], steps.size), np.nan)
    counts = np.bincount(interval, minlength=steps.size)[: steps.size]
    for k in range(values.shape[0]):
        sums = np.bincount(interval, weights=power[k], minlength=steps.size)[: steps.size]
        activity[k] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    error = result.metrics[metric].values
    correlation = _masked_correlation(activity[:, None, :], error[:, None, :])[:, 0]
    coords = {"seed": result.dataset["seed"].values, "step": steps}
    return xr.Dataset({"activity": (("seed", "step"), activity), "error": (("seed", "step"), error),
                       "correlation": (("seed",), correlation)}, coords=coords,
                      attrs={"metric": metric, "population": population})


# ----------------------------------------------------------------------------- helpers
def _prepare(result: Any, population: str, by: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(values (K, T, U), stream indices (T,), condition index (K, T), condition names)."""
    if not isinstance(result, Result):
        raise TypeError(f"result must be a bioplausible Result, got {type(result).__name__}")
    if not isinstance(population, str):
        raise TypeError(f"population must be a population name, got {population!r}")
    traces = [str(n)[len(TRACE_PREFIX):] for n in result.dataset.data_vars
              if str(n).startswith(TRACE_PREFIX) and not str(n).startswith(TRACE_INFO_PREFIX)]
    if population not in traces:
        raise ValueError(f"population {population!r} was not recorded; recorded: {traces} "
                         "(run with probes=[Probe(...)] to record activity)")
    values = np.asarray(result.dataset[TRACE_PREFIX + population].values, dtype=float)
    times = np.asarray(result.dataset["trace_time"].values)
    if by is None:
        return values, times, np.zeros(values.shape[:2], dtype=int), []
    if not isinstance(by, str):
        raise TypeError(f"by must be a label name or 'stimulus', got {by!r}")
    if by == "stimulus":
        roles = {p["name"]: p["role"] for p in json.loads(result.dataset.attrs.get("populations", "[]"))}
        inputs = [n for n in traces if roles.get(n) == "input"]
        if not inputs:
            raise ValueError("by='stimulus' needs the input population recorded (Probe(populations=None))")
        stimulus = np.asarray(result.dataset[TRACE_PREFIX + inputs[0]].values)
        largest = np.abs(stimulus).argmax(axis=-1)
        sign = np.take_along_axis(stimulus, largest[..., None], -1)[..., 0] < 0
        units = result.dataset[f"{inputs[0]}_unit"].values
        names = [f"{s}{inputs[0]}[{u}]" for u in units for s in "+-"]
        return values, times, 2 * largest + sign, names
    label = TRACE_INFO_PREFIX + by
    if label not in result.dataset:
        available = [str(n)[len(TRACE_INFO_PREFIX):] for n in result.dataset.data_vars
                     if str(n).startswith(TRACE_INFO_PREFIX)]
        raise ValueError(f"by must be 'stimulus' or a recorded label {available}, got {by!r}")
    raw = np.asarray(result.dataset[label].values)
    levels, index = np.unique(raw, return_inverse=True)
    return values, times, index.reshape(raw.shape), [f"{by}={v:g}" for v in levels]


def _condition_means(values: np.ndarray, conditions: np.ndarray, n_conditions: int) -> np.ndarray:
    """(K, T, U) values, (K, T) condition indices -> (K, C, U) means (NaN for empty conditions)."""
    one_hot = conditions[..., None] == np.arange(n_conditions)  # (K, T, C)
    counts = one_hot.sum(axis=1)  # (K, C)
    sums = np.einsum("ktc,ktu->kcu", one_hot, values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts[..., None] > 0, sums / counts[..., None], np.nan)


def _windowed_covariance(values: np.ndarray, times: np.ndarray, size: int,
                         centre: bool = True) -> tuple[np.ndarray, np.ndarray]:
    seeds, total, units = values.shape
    n_windows = total // size
    split = values[:, : n_windows * size].reshape(seeds, n_windows, size, units)
    if centre:
        split = split - split.mean(axis=2, keepdims=True)
    covariance = np.einsum("kwsu,kwsv->kwuv", split, split) / (size - 1 if centre else size)
    middle = times[: n_windows * size].reshape(n_windows, size)[:, size // 2]
    return middle, covariance


def _pattern_correlation(means: np.ndarray) -> np.ndarray:
    """Pearson r between condition patterns: (..., C, U) -> (..., C, C)."""
    centred = means - means.mean(axis=-1, keepdims=True)
    norms = np.linalg.norm(centred, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.einsum("...cu,...du->...cd", centred, centred) / (norms[..., :, None] * norms[..., None, :])


def _masked_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r along the last axis over entries finite in both; a (..., n), b broadcastable."""
    a, b = np.broadcast_arrays(a, b)
    mask = np.isfinite(a) & np.isfinite(b)
    count = mask.sum(axis=-1)
    a0, b0 = np.where(mask, a, 0.0), np.where(mask, b, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_a, mean_b = a0.sum(-1) / count, b0.sum(-1) / count
        da, db = np.where(mask, a0 - mean_a[..., None], 0.0), np.where(mask, b0 - mean_b[..., None], 0.0)
        r = (da * db).sum(-1) / np.sqrt((da**2).sum(-1) * (db**2).sum(-1))
    return np.where(count >= 2, r, np.nan)


def _time_mask(times: np.ndarray, start: int | None, stop: int | None) -> np.ndarray:
    keep = np.ones(times.shape, dtype=bool)
    if start is not None:
        keep &= times >= start
    if stop is not None:
        keep &= times < stop
    if not keep.any():
        raise ValueError(f"no recorded samples in [start, stop) = [{start}, {stop})")
    return keep


def _check_window(window: Any, total: int) -> int:
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)):
        raise TypeError(f"window must be an integer number of recorded samples, got {window!r}")
    if not 2 <= window <= total:
        raise ValueError(f"window must be between 2 and the {total} recorded samples, got {window}")
    return int(window)


def _default_metric(result: Result) -> str:
    from ..tasks.base import TASKS

    task = json.loads(result.dataset.attrs["task"])["task"]
    headline = [m for m in getattr(TASKS.get(task), "headline_metrics", ()) if m in result.metrics]
    return headline[0] if headline else str(next(iter(result.metrics)))
