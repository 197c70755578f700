"""Theory of learning to integrate: exact expected gradients, the rich-regime reduction to the
outlier eigenvalues, the lazy regime, against simulated BPTT trajectories."""

from __future__ import annotations

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.tasks.integration import target_filter
from bioplausible.theory import integration as theory

DT = ALPHA = 0.1  # dt = 0.1 s, τ_m = 1 s


def _network(n: int, scale: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, n)) * scale / np.sqrt(n), rng.standard_normal(n) / np.sqrt(n),
            rng.standard_normal(n) * 0.3 / np.sqrt(n))


def test_expected_gradients_are_the_gradients_of_the_expected_loss():
    recurrent, u, v = _network(6, 0.5)
    kernel = target_filter("oscillator", 3.0, 0.3, DT, 29)
    _, grad_w, grad_v = theory.expected_gradients(recurrent, u, v, kernel, ALPHA, DT)
    eps = 1e-6
    bump = np.zeros_like(recurrent)
    bump[2, 4] = eps
    numeric = (theory.expected_loss(recurrent + bump, u, v, kernel, ALPHA, DT)
               - theory.expected_loss(recurrent - bump, u, v, kernel, ALPHA, DT)) / (2 * eps)
    np.testing.assert_allclose(grad_w[2, 4], numeric, rtol=1e-6)
    step = np.eye(6)[1] * eps
    numeric = (theory.expected_loss(recurrent, u, v + step, kernel, ALPHA, DT)
               - theory.expected_loss(recurrent, u, v - step, kernel, ALPHA, DT)) / (2 * eps)
    np.testing.assert_allclose(grad_v[1], numeric, rtol=1e-6)


def test_expected_loss_is_the_mean_trial_loss_of_the_circuit():
    task = bpl.tasks.Integration(trial_steps=20).reset(seed=2)
    circuit = bpl.circuits.RecurrentBPTT(n_hidden=5, initial_scale=0.8, readout_scale=1.0).initialize(1, 1, [1])
    batch = task.next_batch(8000)
    simulated = 0.5 * np.mean((circuit.respond(batch.inputs)["output"][0] - batch.targets) ** 2)
    predicted = theory.expected_loss(circuit.state["recurrent"][0], circuit.state["input_weights"][0],
                                     circuit.state["readout"][0], target_filter("leaky", 5.0, 0.25, DT, 19),
                                     ALPHA, DT)
    np.testing.assert_allclose(simulated, predicted, rtol=0.03)  # Monte Carlo error ≈ 1 %


@pytest.mark.parametrize("target", ["leaky", "oscillator"])
def test_from_zero_weights_learning_stays_in_span_u_v(target):
    """The reduction is exact from W = 0: the 2 × 2 system's eigenvalues are W's outliers."""
    _, u, v = _network(20, 0.0)
    kernel = target_filter(target, 5.0, 0.25, DT, 59)
    full = theory.expected_dynamics(np.zeros((20, 20)), u, v, kernel, ALPHA, DT, 0.1, 0.1, 60, every=10)
    reduced = theory.reduced_dynamics(np.zeros((20, 20)), u, v, kernel, ALPHA, DT, 0.1, 0.1, 60, every=10)
    np.testing.assert_allclose(reduced.loss, full.loss, rtol=1e-10)
    for whole, small in zip(full.eigenvalues, reduced.eigenvalues):
        outliers = whole[np.abs(whole) > 1e-8]  # the rest of W's spectrum stays at 0
        assert outliers.size <= 2
        np.testing.assert_allclose(np.sort_complex(outliers), np.sort_complex(small[np.abs(small) > 1e-8]),
                                   atol=1e-10)
    if target == "leaky":
        assert reduced.loss[-1] < 0.2 * reduced.loss[0]


def _simulate(n_hidden: int, scale: float, seeds: list[int], steps: int, batch_size: int, trial_steps: int):
    task = bpl.tasks.Integration(trial_steps=trial_steps, evaluation_trials=16)
    circuit = bpl.circuits.RecurrentBPTT(n_hidden=n_hidden, initial_scale=scale, learning_rate=0.1,
                                         readout_rate=0.1)
    result = bpl.run(circuit, task, seeds=seeds, steps=steps, eval_every=steps // 10, batch_size=batch_size,
                     probes=["recurrent", "readout", "input_weights"], progress=False)
    kernel = target_filter("leaky", task.timescale, task.frequency, DT, trial_steps - 1)
    for k in range(len(seeds)):
        recurrent = result.dataset["state_recurrent"].values[k]
        readout = result.dataset["state_readout"].values[k][0]
        read_in = result.dataset["state_input_weights"].values[k][0]
        simulated = theory.outlier_eigenvalue(np.linalg.eigvals(recurrent)).real
        reduced = theory.reduced_dynamics(recurrent[0], read_in, readout, kernel, ALPHA, DT, 0.1, 0.1, steps,
                                          every=steps // 10)
        change = np.linalg.norm(recurrent[-1] - recurrent[0]) / np.linalg.norm(recurrent[0])
        yield simulated, reduced.outlier.real, change


def test_rich_outlier_follows_the_reduced_theory_and_lazy_weights_barely_move():
    # measured (3 seeds): gap 0.016-0.073 (SGD noise in the fast phase: the unreduced expected
    # dynamics is as far), relative change of W 2.7-3.0 (rich), 0.054-0.059 (lazy, N = 64)
    for simulated, predicted, change in _simulate(32, 0.05, [0, 1, 2], 150, 32, 60):
        assert theory.outlier_gap(simulated, predicted, bulk_radius=0.05) < 0.15
        np.testing.assert_allclose(predicted[-1], 1 - 1 / 5.0, atol=0.01)  # λ⋆ = 1 − τ_m/τ⋆
        assert change > 1.0
    for _, _, change in _simulate(32, 0.9, [0], 150, 32, 60):
        assert change < 0.15


@pytest.mark.slow
def test_rich_outlier_within_5_percent_of_theory_at_the_papers_size():
    # measured: N = 100, 64 trials of 100 steps, 300 updates: gap 0.005 (seed 0)
    for simulated, predicted, _ in _simulate(100, 0.05, [0, 1], 300, 64, 100):
        assert theory.outlier_gap(simulated, predicted, bulk_radius=0.05) < 0.05


def test_bad_inputs_name_the_argument():
    recurrent, u, v = _network(4, 0.1)
    kernel = target_filter("leaky", 5.0, 0.25, DT, 9)
    with pytest.raises(ValueError, match="recurrent must be a square matrix"):
        theory.expected_dynamics(recurrent[:3], u, v, kernel, ALPHA, DT, 0.1, 0.1, 2)
    with pytest.raises(ValueError, match="readout"):
        theory.expected_dynamics(recurrent, u, v[:3], kernel, ALPHA, DT, 0.1, 0.1, 2)
    with pytest.raises(ValueError, match="learning_rate"):
        theory.expected_dynamics(recurrent, u, v, kernel, ALPHA, DT, -0.1, 0.1, 2)
    with pytest.raises(ValueError, match="never leaves the bulk"):
        theory.outlier_gap(np.zeros(3), np.full(3, 0.01), bulk_radius=0.1)
