"""The integration task: white-noise trials, the Euler-stepped target filters, its metrics."""

from __future__ import annotations

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.core import TrialBatch
from bioplausible.tasks.integration import Integration, filter_noise, target_filter


def test_trials_are_white_noise_with_the_filtered_target():
    task = Integration(trial_steps=200, dt=0.05, timescale=2.0).reset(seed=0)
    batch = task.next_batch(2000)
    assert isinstance(batch, TrialBatch) and batch.inputs.shape == (2000, 200, 1) and batch.dt == 0.05
    assert batch.targets.shape == (2000, 200, 1) and batch.targets[:, 0].max() == 0.0  # trials start at rest
    np.testing.assert_allclose(batch.inputs.var(), 1 / 0.05, rtol=0.02)  # unit-intensity white noise
    # the stationary variance of the Euler-stepped leaky integrator, dt / (1 − (1 − dt c)²) ≈ 1 / 2c
    decay = 1 - 0.05 / 2.0
    np.testing.assert_allclose(batch.targets[:, 100:].var(), 0.05 / (1 - decay**2), rtol=0.05)


@pytest.mark.parametrize("target", ["leaky", "oscillator"])
def test_target_filters_approach_the_continuous_kernels(target):
    dt, timescale, frequency = 1e-3, 1.5, 0.4
    kernel = target_filter(target, timescale, frequency, dt, 3000) / dt
    lags = np.arange(3000) * dt  # k⋆_n is the response n steps after the impulse, at lag (n − 1) dt
    exact = np.exp(-lags / timescale) * (np.cos(2 * np.pi * frequency * lags) if target == "oscillator" else 1.0)
    np.testing.assert_allclose(kernel, exact, atol=5e-3)


def test_filter_is_causal_and_linear():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 3, 50, 1))
    both = filter_noise(a + 2 * b, "oscillator", 3.0, 0.2, 0.1)
    np.testing.assert_allclose(both, filter_noise(a, "oscillator", 3.0, 0.2, 0.1)
                               + 2 * filter_noise(b, "oscillator", 3.0, 0.2, 0.1), atol=1e-12)
    later = a.copy()
    later[:, 30:] = 0.0
    np.testing.assert_array_equal(filter_noise(later, "leaky", 3.0, 0.2, 0.1)[:, :31],
                                  filter_noise(a, "leaky", 3.0, 0.2, 0.1)[:, :31])


def test_a_hand_built_integrator_scores_perfectly():
    """W = (1 − τ_m/τ⋆) û ûᵀ and V = ûᵀ/(|u| α)·dt realise the target exactly: the metrics say so."""
    task = Integration(timescale=4.0, trial_steps=80).reset(seed=0)
    circuit = bpl.circuits.RecurrentBPTT(n_hidden=8).initialize(1, 1, [0])
    u = circuit.state["input_weights"][0, :, 0]
    unit = u / np.linalg.norm(u)
    circuit.state["recurrent"][0] = (1 - 1.0 / 4.0) * np.outer(unit, unit)
    circuit.state["readout"][0] = unit[None] / np.linalg.norm(u)
    metrics = task.score(circuit)
    assert metrics["normalized_mse"] < 1e-20
    np.testing.assert_allclose(metrics["learned_timescale"], 4.0, rtol=1e-12)
    assert metrics["timescale_error"] < 1e-12


@pytest.mark.parametrize("options,word", [
    ({"target": "square"}, "target"), ({"timescale": -1.0}, "timescale"), ({"dt": 6.0}, "dt"),
    ({"trial_steps": 1}, "trial_steps"), ({"target": "oscillator", "frequency": 6.0}, "frequency"),
    ({"evaluation_trials": 0}, "evaluation_trials"), ({"frequency": 0.0}, "frequency"),
])
def test_bad_options_are_refused_in_one_line_naming_them(options, word):
    with pytest.raises((TypeError, ValueError), match=word) as error:
        Integration(**options)
    assert "\n" not in str(error.value)


def test_a_circuit_with_another_step_is_refused_before_any_work():
    with pytest.raises(ValueError, match=r"dt=0.05 s must equal the task's step dt=0.1"):
        bpl.run(bpl.circuits.RecurrentEprop(dt=0.05), Integration(), steps=1, progress=False)
    with pytest.raises(ValueError, match="recurrent family"):
        bpl.run(bpl.circuits.DirectWhitening(), Integration(), steps=1, progress=False)
