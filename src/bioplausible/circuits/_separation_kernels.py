"""Compiled (numba) CorInfoMax stream: the per-sample settle + learn loop of
:class:`~bioplausible.circuits.separation.CorInfoMax`, fused for batch size 1.

It implements exactly the equations of :func:`~bioplausible.circuits.separation.corinfomax_settle`,
:func:`~bioplausible.rules.separation.corinfomax_feedforward` and
:func:`~bioplausible.rules.separation.corinfomax_lateral`; ``tests/test_separation_circuits.py``
checks it against that reference path. Ensemble members run in parallel (``prange``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# domain codes: 0 antisparse, 1 nonnegative antisparse, 2 sparse, 3 nonnegative sparse, 4 simplex,
# 5 mixed polytope (nonnegative mask (n,) and group membership (G, n), one threshold per group)


@njit(cache=True, parallel=True)
def corinfomax_stream(
    feedforward, lateral, error_gain, inputs, gamma_y, forgetting_y, learning_rate, decay, domain,
    lr_start, lr_stop, max_iterations, tolerance, threshold_rate, outputs, steps, nonnegative, groups,
):  # pragma: no cover - compiled
    """Process ``inputs`` (K, S, m) sample by sample, updating ``feedforward`` W (K, n, m)
    and ``lateral`` B_y (K, n, n) in place; write the settled outputs (K, S, n) and the
    settling steps (K, S). ``nonnegative`` (n,) and ``groups`` (G, n) are boolean masks of
    the polytope domain (code 5; ignored otherwise)."""
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
                    recurrent[i, j] = gamma_y * B[i, j] - E[i, j]
                drive[i] = acc
                y[i] = 0.0
            threshold = 0.0
            for g in range(n_groups):
                levels[g] = 0.0
            used = max_iterations
            for it in range(max_iterations):
                rate = max(lr_start / (it + 1), lr_stop)
                for i in range(n):
                    acc = 0.0
                    for j in range(n):
                        acc += recurrent[i, j] * y[j]
                    new[i] = y[i] + rate * (acc + drive[i])
                total = 0.0
                level_change = 0.0
                if domain == 0:
                    for i in range(n):
                        new[i] = min(max(new[i], -1.0), 1.0)
                elif domain == 1:
                    for i in range(n):
                        new[i] = min(max(new[i], 0.0), 1.0)
                elif domain == 5:  # groups in order on the shrunk y, then the box clip
                    for g in range(n_groups):
                        previous = levels[g]
                        total = 0.0
                        for i in range(n):
                            if groups[g, i]:
                                if nonnegative[i]:
                                    shifted = new[i] - levels[g]
                                    new[i] = shifted if shifted > 0.0 else 0.0
                                else:
                                    magnitude = abs(new[i]) - levels[g]
                                    new[i] = np.sign(new[i]) * magnitude if magnitude > 0.0 else 0.0
                                total += abs(new[i])
                        levels[g] = max(levels[g] + threshold_rate * (total - 1.0), 0.0)
                        level_change = max(level_change, abs(levels[g] - previous))
                    for i in range(n):
                        new[i] = min(max(new[i], 0.0 if nonnegative[i] else -1.0), 1.0)
                elif domain == 2:
                    for i in range(n):
                        magnitude = abs(new[i]) - threshold
                        new[i] = np.sign(new[i]) * magnitude if magnitude > 0.0 else 0.0
                        total += abs(new[i])
                    threshold = max(threshold + threshold_rate * (total - 1.0), 0.0)
                else:
                    for i in range(n):
                        new[i] = max(new[i] - threshold, 0.0)
                        total += new[i]
                    if domain == 3:
                        threshold = max(threshold + threshold_rate * (total - 1.0), 0.0)
                    else:
                        threshold = threshold + threshold_rate * (total - 1.0)
                change = 0.0
                size = 0.0
                for i in range(n):
                    change += (new[i] - y[i]) ** 2
                    size += new[i] ** 2
                    y[i] = new[i]
                if np.sqrt(change) < tolerance * np.sqrt(size) and level_change <= tolerance:
                    used = it + 1
                    break
            # learning: W += μ_W (y − ŷ) xᵀ − δ W ;  B ← (B − γ_y z zᵀ)/λ_y, z = B y
            for i in range(n):
                error = y[i] - prediction[i]
                for j in range(m):
                    W[i, j] += learning_rate * (error * x[j]) - decay * W[i, j]
                acc = 0.0
                for j in range(n):
                    acc += B[i, j] * y[j]
                z[i] = acc
            for i in range(n):
                for j in range(n):
                    B[i, j] = (B[i, j] - gamma_y * (z[i] * z[j])) / forgetting_y  # keeps B symmetric bitwise
            for i in range(n):
                outputs[k, t, i] = y[i]
            steps[k, t] = used
