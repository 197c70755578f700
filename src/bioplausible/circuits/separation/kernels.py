"""Compiled (numba) separation streams: the per-sample settle + learn loops of
:class:`~bioplausible.circuits.separation.corinfomax.CorInfoMax` and
:class:`~bioplausible.circuits.separation.detmax.DetMaxWSM`, fused for batch size 1.

No equation is typed here. The learning rules are the per-sample forms generated from their
declarations (:mod:`bioplausible.rules.separation`); the rules' schedules and the Det-Max gain
step (``wsm_gain_change``, ``cap_gain_step``, ``gain_near_minimum``, ``decayed_gain_rate``,
``wsm_synaptic_rate_code``, ``wsm_gain_weights``), the projections
(:mod:`~bioplausible.circuits.separation.domains`: ``box_clip``, ``soft_threshold``,
``rectified_shift``, ``level_step``) and the settle loops' step sizes, stopping tests and
Det-Max couplings (:mod:`~bioplausible.circuits.separation.solvers`) are the very functions the
numpy paths apply to arrays, compiled here with numba. What remains here is the loop structure
(per sample, per unit) and the matrix-vector sums. ``tests/test_separation_circuits.py`` checks
both streams against the numpy paths. Ensemble members run in parallel (``prange``).
"""

from __future__ import annotations

import hashlib
import inspect
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit, prange

from ...core.generated import cache_directory, load_module
from ...rules.separation import (
    CORINFOMAX_FEEDFORWARD,
    CORINFOMAX_LATERAL,
    CORINFOMAX_LATERAL_SHERMAN_MORRISON,
    WSM_HEBBIAN,
    cap_gain_step,
    decayed_gain_rate,
    gain_near_minimum,
    wsm_gain_change,
    wsm_gain_weights,
    wsm_synaptic_rate_code,
)
from .domains import box_clip, level_step, rectified_shift, soft_threshold
from .solvers import (
    corinfomax_converged,
    corinfomax_coupling,
    corinfomax_step_size,
    detmax_converged,
    detmax_feedback,
    detmax_hidden_coupling,
    detmax_hidden_feed,
    detmax_hidden_scale,
    detmax_step_size,
)


def scalar_source(function: Callable[..., Any]) -> str:
    """The source of an elementwise equation's per-unit form (see :func:`_scalar_form`)."""
    source = textwrap.dedent(inspect.getsource(function))
    for ufunc, builtin in (("np.minimum(", "min("), ("np.maximum(", "max("), ("np.abs(", "abs(")):
        source = source.replace(ufunc, builtin)
    return source


def _scalar_form(function: Callable[..., Any]) -> Any:
    """The per-unit compiled form of an elementwise equation written with numpy ufuncs,
    generated from its one definition: the same source with the ufuncs of two scalars
    (``np.minimum``, ``np.maximum``, ``np.abs``) as the builtins ``min``, ``max``, ``abs``,
    which numba compiles to plain comparisons (its ufuncs on scalars cost ≈ 20 % of the Det-Max
    stream), compiled with numba from a file named by the source's hash."""
    source = scalar_source(function)
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    name = f"bioplausible_scalar_{function.__name__}_{digest}"
    text = "from typing import Any\n\nimport numpy as np\n\n\n" + source
    module = load_module(name, text, cache_directory("scalar"))
    return njit(cache=True, inline="always")(getattr(module, function.__name__))


# The rules' per-sample forms, generated from their declarations and compiled once; the
# fused loops below call them, so no learning equation is written here.
_feedforward_step = CORINFOMAX_FEEDFORWARD.compiled()
_lateral_step = CORINFOMAX_LATERAL.compiled()
_lateral_exact_step = CORINFOMAX_LATERAL_SHERMAN_MORRISON.compiled()
_hebbian_step = WSM_HEBBIAN.compiled()
# the rules' scalar schedules, compiled from their one definition
_synaptic_rate = njit(cache=True)(wsm_synaptic_rate_code)
_gain_rate = njit(cache=True)(decayed_gain_rate)
_gain_change = njit(cache=True, inline="always")(wsm_gain_change)
_gain_weights = njit(cache=True, inline="always")(wsm_gain_weights)
_cap_gain = _scalar_form(cap_gain_step)
_near_minimum = njit(cache=True, inline="always")(gain_near_minimum)
# the dynamics' equations (projections, step sizes, stopping tests, couplings), compiled (inlined)
# from the very functions the numpy paths apply to arrays: no dynamics equation is written here
_box = _scalar_form(box_clip)
_soft_threshold = _scalar_form(soft_threshold)
_rectified_shift = _scalar_form(rectified_shift)
_level_step = _scalar_form(level_step)
_coupling = njit(cache=True, inline="always")(corinfomax_coupling)
_corinfomax_step_size = njit(cache=True, inline="always")(corinfomax_step_size)
_corinfomax_converged = njit(cache=True, inline="always")(corinfomax_converged)
_detmax_step_size = njit(cache=True, inline="always")(detmax_step_size)
_detmax_converged = njit(cache=True, inline="always")(detmax_converged)
_hidden_feed = njit(cache=True, inline="always")(detmax_hidden_feed)
_hidden_coupling = njit(cache=True, inline="always")(detmax_hidden_coupling)
_hidden_scale = njit(cache=True, inline="always")(detmax_hidden_scale)
_feedback = njit(cache=True, inline="always")(detmax_feedback)

# domain codes: 0 antisparse, 1 nonnegative antisparse, 2 sparse, 3 nonnegative sparse, 4 simplex,
# 5 mixed polytope (nonnegative mask (n,) and group membership (G, n), one threshold per group)


@njit(cache=True, parallel=True)
def corinfomax_stream(
    feedforward, lateral, error_gain, inputs, gamma_y, forgetting_y, learning_rate, decay, domain,
    lr_start, lr_stop, max_iterations, tolerance, threshold_rate, outputs, steps, nonnegative, groups, diverged,
    exact_lateral,
):  # pragma: no cover - compiled
    """Process ``inputs`` (K, S, m) sample by sample, updating ``feedforward`` W (K, n, m)
    and ``lateral`` B_y (K, n, n) in place; write the settled outputs (K, S, n) and the
    settling steps (K, S). ``nonnegative`` (n,) and ``groups`` (G, n) are boolean masks of
    the polytope domain (code 5; ignored otherwise). A member whose weights become
    non-finite at sample t stops there with ``diverged[k] = t`` (left at −1 otherwise).
    ``exact_lateral`` picks the lateral rule's form: False the authors'
    (``CORINFOMAX_LATERAL``), True the exact Sherman–Morrison step
    (``CORINFOMAX_LATERAL_SHERMAN_MORRISON``)."""
    members, samples, m = inputs.shape
    n = feedforward.shape[1]
    n_groups = groups.shape[0]
    for k in prange(members):
        W = feedforward[k]
        B = lateral[k]
        E = error_gain[k]
        prediction = np.empty(n)
        drive = np.empty(n)
        y = np.empty(n)
        new = np.empty(n)
        z = np.empty(n)
        recurrent = np.empty((n, n))
        levels = np.empty(n_groups)
        for t in range(samples):
            x = inputs[k, t]
            for i in range(n):
                acc = 0.0
                for j in range(m):
                    acc += W[i, j] * x[j]
                prediction[i] = acc
            for i in range(n):
                acc = 0.0
                for j in range(n):
                    acc += E[i, j] * prediction[j]
                    recurrent[i, j] = -_coupling(E[i, j], B[i, j], gamma_y)
                drive[i] = acc
                y[i] = 0.0
            threshold = 0.0
            for g in range(n_groups):
                levels[g] = 0.0
            used = max_iterations
            for it in range(max_iterations):
                rate = _corinfomax_step_size(it, lr_start, lr_stop)
                for i in range(n):
                    acc = 0.0
                    for j in range(n):
                        acc += recurrent[i, j] * y[j]
                    new[i] = y[i] + rate * (acc + drive[i])
                level_change = 0.0
                if domain == 5:
                    level_change = _project_groups(new, levels, groups, nonnegative, threshold_rate)
                else:
                    threshold = _project(new, threshold, domain, threshold_rate)
                change = 0.0
                size = 0.0
                for i in range(n):
                    change += (new[i] - y[i]) ** 2
                    size += new[i] ** 2
                    y[i] = new[i]
                if _corinfomax_converged(change, size, tolerance) and level_change <= tolerance:
                    used = it + 1
                    break
            # the declared rules' compiled per-sample forms (rules/separation.py)
            _feedforward_step(W, x, y, prediction, learning_rate, decay)
            if exact_lateral:
                _lateral_exact_step(B, y, z, gamma_y, forgetting_y)
            else:
                _lateral_step(B, y, z, gamma_y, forgetting_y)
            finite = True
            for i in range(n):
                for j in range(n):
                    finite = finite and np.isfinite(B[i, j])
                for j in range(m):
                    finite = finite and np.isfinite(W[i, j])
            for i in range(n):
                outputs[k, t, i] = y[i]
            steps[k, t] = used
            if not finite:
                diverged[k] = t
                break


@njit(cache=True)
def _project_groups(values, levels, groups, nonnegative, threshold_rate):  # pragma: no cover - compiled
    """The mixed polytope's ``project_domain`` for one sample, in place: the groups in order
    on the already-shrunk values, each updating its own threshold ``levels[g]``, then the box
    clip. Returns the largest threshold change."""
    n = values.shape[0]
    level_change = 0.0
    for g in range(levels.shape[0]):
        previous = levels[g]
        total = 0.0
        for i in range(n):
            if groups[g, i]:
                if nonnegative[i]:
                    values[i] = _rectified_shift(values[i], levels[g])
                else:
                    values[i] = _soft_threshold(values[i], levels[g])
                total += abs(values[i])
        levels[g] = _level_step(levels[g], total, threshold_rate, 0.0)
        level_change = max(level_change, abs(levels[g] - previous))
    for i in range(n):
        values[i] = _box(values[i], 0.0 if nonnegative[i] else -1.0, 1.0)
    return level_change


@njit(cache=True)
def _project(values, threshold, domain, threshold_rate):  # pragma: no cover - compiled
    """``project_domain`` for one sample, in place; returns the new threshold λ."""
    n = values.shape[0]
    total = 0.0
    if domain == 0:
        for i in range(n):
            values[i] = _box(values[i], -1.0, 1.0)
    elif domain == 1:
        for i in range(n):
            values[i] = _box(values[i], 0.0, 1.0)
    elif domain == 2:
        for i in range(n):
            values[i] = _soft_threshold(values[i], threshold)
            total += abs(values[i])
        threshold = _level_step(threshold, total, threshold_rate, 0.0)
    else:
        for i in range(n):
            values[i] = _rectified_shift(values[i], threshold)
            total += values[i]
        if domain == 3:
            threshold = _level_step(threshold, total, threshold_rate, 0.0)
        else:
            threshold = _level_step(threshold, total, threshold_rate, -np.inf)
    return threshold


@njit(cache=True)
def _gain_step(
    gains, lateral, feedforward, weight, zeta, rate, update, step_cap, revert_margin, low, high,
):  # pragma: no cover - compiled
    """One layer's gain update in place (``wsm_gain`` then clip, or cap + revert)."""
    n, m = feedforward.shape
    change = np.empty(n)
    near_minimum = False
    for i in range(n):
        quadratic = 0.0
        for j in range(n):
            quadratic += lateral[i, j] * gains[j] * lateral[j, i]
        energy = 0.0
        for j in range(m):
            energy += feedforward[i, j] ** 2
        change[i] = _gain_change(quadratic, energy, gains[i], weight, zeta, rate)
        if update == 1:
            change[i] = _cap_gain(change[i], gains[i], step_cap)
            if _near_minimum(gains[i] + change[i], low, revert_margin):
                near_minimum = True
    if update == 1 and near_minimum:
        return
    for i in range(n):
        gains[i] = _box(gains[i] + change[i], low, high)


@njit(cache=True, parallel=True)
def detmax_stream(
    hidden_input, hidden_lateral, output_input, output_lateral, hidden_gains, output_gains, inputs, first_step,
    beta, zeta, gamma_start, gamma_stop, schedule, gain_rates, gain_rate_decay, gain_rate_interval, gain_update,
    gain_step_cap, gain_revert_margin, min_gains, max_gains, domain, lr_start, lr_stop, lr_decay, max_iterations,
    tolerance, threshold_rate, hidden_clip, hidden_out, outputs, steps, diverged,
):  # pragma: no cover - compiled
    """Process ``inputs`` (K, S, m) sample by sample, updating W_HX (K, n, m), M_H, W_YH, M_Y
    (K, n, n), D1, D2 (K, n) in place (locals carry the paper's names: W_HX, M_H, W_YH, M_Y,
    D_1, D_2; v, u are the two layers' somatic currents, h, y their outputs); write h, y
    (K, S, n) and the settling steps (K, S).
    ``schedule`` 0 "log" / 1 "slow-log"; ``gain_update`` 0 "clipped" / 1 "capped-reverted".
    A member whose state becomes non-finite at sample t stops there with ``diverged[k] = t``."""
    members, samples, m = inputs.shape
    n = hidden_input.shape[1]
    for k in prange(members):
        W_HX = hidden_input[k]
        M_H = hidden_lateral[k]
        W_YH = output_input[k]
        M_Y = output_lateral[k]
        D_1 = hidden_gains[k]
        D_2 = output_gains[k]
        feed = np.empty(n)
        couple = np.empty((n, n))
        back = np.empty((n, n))
        out_couple = np.empty((n, n))
        hidden_scale = np.empty(n)
        out_scale = np.empty(n)
        v = np.empty(n)
        u = np.empty(n)
        h = np.empty(n)
        y = np.empty(n)
        v_new = np.empty(n)
        u_new = np.empty(n)
        h_new = np.empty(n)
        y_new = np.empty(n)
        for t in range(samples):
            x = inputs[k, t]
            for i in range(n):
                acc = 0.0
                for j in range(m):
                    acc += W_HX[i, j] * x[j]
                feed[i] = _hidden_feed(acc, D_1[i], beta, zeta)
                hidden_scale[i] = _hidden_scale(M_H[i, i], D_1[i], beta, zeta)
                out_scale[i] = M_Y[i, i] * D_2[i]
                for j in range(n):
                    if i == j:
                        couple[i, j] = 0.0
                        out_couple[i, j] = 0.0
                    else:
                        couple[i, j] = _hidden_coupling(M_H[i, j], D_1[i], D_1[j], beta, zeta)
                        out_couple[i, j] = M_Y[i, j] * D_2[j]
                    back[i, j] = _feedback(W_YH[j, i], beta, zeta) * D_2[j]
                v[i] = 0.0
                u[i] = 0.0
                h[i] = 0.0
                y[i] = 0.0
            threshold = 0.0
            used = max_iterations
            for it in range(1, max_iterations + 1):
                rate = _detmax_step_size(it, lr_start, lr_stop, lr_decay)
                change_v = 0.0
                size_v = 0.0
                for i in range(n):
                    acc = -v[i] + feed[i]
                    for j in range(n):
                        acc += back[i, j] * y[j] - couple[i, j] * h[j]
                    v_new[i] = v[i] + rate * acc
                    h_new[i] = _box(v_new[i] / hidden_scale[i], -hidden_clip, hidden_clip)
                    change_v += (v_new[i] - v[i]) ** 2
                    size_v += v_new[i] ** 2
                change_u = 0.0
                size_u = 0.0
                for i in range(n):
                    acc = -u[i]
                    for j in range(n):
                        acc += W_YH[i, j] * h_new[j] - out_couple[i, j] * y[j]
                    u_new[i] = u[i] + rate * acc
                    y_new[i] = u_new[i] / out_scale[i]
                    change_u += (u_new[i] - u[i]) ** 2
                    size_u += u_new[i] ** 2
                threshold = _project(y_new, threshold, domain, threshold_rate)
                for i in range(n):
                    v[i] = v_new[i]
                    u[i] = u_new[i]
                    h[i] = h_new[i]
                    y[i] = y_new[i]
                if _detmax_converged(change_v, size_v, tolerance) and _detmax_converged(change_u, size_u, tolerance):
                    used = it
                    break
            # learning: every synapse W_HX ← W_HX + γ_k (post preᵀ − W_HX); then the gains
            step = first_step + t
            gamma = _synaptic_rate(step, gamma_start, gamma_stop, schedule)
            _hebbian_step(M_H, h, h, gamma)  # (synapse, pre, post, rate)
            _hebbian_step(W_HX, x, h, gamma)
            _hebbian_step(M_Y, y, y, gamma)
            _hebbian_step(W_YH, h, y, gamma)
            hidden_rate = _gain_rate(gain_rates[0], step, gain_rate_decay, gain_rate_interval)
            output_rate = _gain_rate(gain_rates[1], step, gain_rate_decay, gain_rate_interval)
            hidden_weight, output_weight = _gain_weights(beta, zeta)
            _gain_step(D_1, M_H, W_HX, hidden_weight, zeta, hidden_rate, gain_update, gain_step_cap,
                       gain_revert_margin, min_gains[0], max_gains[0])
            _gain_step(D_2, M_Y, W_YH, output_weight, zeta, output_rate, gain_update, gain_step_cap,
                       gain_revert_margin, min_gains[1], max_gains[1])
            finite = True
            for i in range(n):
                hidden_out[k, t, i] = h[i]
                outputs[k, t, i] = y[i]
                finite = finite and np.isfinite(D_1[i]) and np.isfinite(D_2[i])
                for j in range(n):
                    finite = finite and np.isfinite(M_H[i, j]) and np.isfinite(M_Y[i, j]) and np.isfinite(W_YH[i, j])
                for j in range(m):
                    finite = finite and np.isfinite(W_HX[i, j])
            steps[k, t] = used
            if not finite:
                diverged[k] = t
                break
