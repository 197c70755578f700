"""The whitening rules against hand-computed steps, and the spec's exactness targets (§6.1–4)."""

import numpy as np
import pytest

from bioplausible.circuits import DirectWhitening, GainWhitening, InterneuronWhitening, MultiTimescaleWhitening
from bioplausible.circuits.adaptation import optimal_gains
from bioplausible.rules import adaptation as rules


def random_covariance(rng, n, spread=1.0):
    q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    return (q * np.exp(spread * rng.uniform(-1, 1, n))) @ q.T


def test_recurrent_whitening_hand_step():
    y = np.array([[[1.0, 2.0]]])
    expected = 0.1 * (np.array([[1.0, 2.0], [2.0, 4.0]]) - np.eye(2))
    np.testing.assert_allclose(rules.recurrent_whitening(y, 0.1)[0], expected)


def test_interneuron_whitening_hand_step():
    y, n, w = np.array([[[1.0, -1.0]]]), np.array([[[2.0]]]), np.array([[[0.5], [0.5]]])
    expected = 0.5 * (np.array([[2.0], [-2.0]]) - w[0])
    np.testing.assert_allclose(rules.interneuron_whitening(y, n, w, 0.5)[0], expected)


def test_gain_homeostasis_and_gain_modulated_hebbian_hand_steps():
    z = np.array([[[2.0, 0.0], [0.0, 1.0]]])  # two samples
    np.testing.assert_allclose(rules.gain_homeostasis(z, 1.0, 0.1)[0], [0.1 * (2.0 - 1), 0.1 * (0.5 - 1)])
    r, z = np.array([[[1.0, 0.0]]]), np.array([[[1.5]]])  # interneuron output n = g z = 3
    w, g = np.array([[[1.0], [0.0]]]), np.array([[2.0]])
    expected = 0.1 * (np.array([[3.0], [0.0]]) - 2 * w[0])
    np.testing.assert_allclose(rules.gain_modulated_hebbian(r, z, w, g, 0.1)[0], expected)


@pytest.mark.parametrize("cls,params", [
    (DirectWhitening, {"initial_scale": 2.0}),
    (InterneuronWhitening, {"initial_scale": 2.0, "n_interneurons": 5}),
    (GainWhitening, {"initial_gains": 0.3}),
    (MultiTimescaleWhitening, {"initial_gains": 0.5, "n_interneurons": 4}),
])
def test_euler_settling_reaches_closed_form(cls, params, rng):
    """Spec §6.1: ‖y − M⁻¹x‖ < 1e-8 ‖y‖."""
    circuit = cls(**params).initialize(3, 0, [0, 1])
    x = rng.standard_normal((2, 4, 3))
    closed, settled = circuit.respond(x), circuit.settle(x, step_size=0.05, tolerance=1e-13)
    for name in closed:
        error = np.linalg.norm(settled[name] - closed[name]) / np.linalg.norm(closed[name])
        assert error < 1e-8, (name, error)


@pytest.mark.parametrize("cls", [DirectWhitening, InterneuronWhitening, GainWhitening, MultiTimescaleWhitening])
def test_expected_update_equals_mean_of_online_updates(cls, rng):
    """Spec §6.2: the Monte-Carlo mean of 1e5 online updates (all from the same state) agrees
    with the offline update within 5 standard errors per entry."""
    params = {"synapse_rate": 0.01, "renormalize": False} if cls is MultiTimescaleWhitening else {}
    n, samples = 3, 100_000
    covariance = random_covariance(rng, n)
    offline = cls(**params).initialize(n, 0, [0])
    before = {k: v.copy() for k, v in offline.state.items()}
    offline.expected_update(covariance)
    # one ensemble member per sample: each makes one online update from the same state
    online = cls(**params).initialize(n, 0, [0])
    online.state = {k: np.repeat(v, samples, axis=0) for k, v in before.items()}
    x = rng.standard_normal((samples, 1, n)) @ np.linalg.cholesky(covariance).T
    online.learn(online.respond(x), None)
    for key in before:
        change = online.state[key] - before[key]
        mean, sem = change.mean(axis=0), change.std(axis=0) / np.sqrt(samples)
        expected = offline.state[key][0] - before[key][0]
        assert np.all(np.abs(mean - expected) <= 5 * sem + 1e-12), key


def test_optimal_gains_whiten_exactly(rng):
    """Spec §6.3: N = 4, K = 10 Gaussian frame: ‖I + W diag(g*) Wᵀ − C^{1/2}‖_F < 1e-8; Δg(g*) = 0."""
    covariance = random_covariance(rng, 4)
    circuit = GainWhitening(n_interneurons=10).initialize(4, 0, [3])
    circuit.state["gains"] = optimal_gains(circuit.state["frame"][0], covariance)[None]
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    root = (eigenvectors * np.sqrt(eigenvalues)) @ eigenvectors.T
    assert np.linalg.norm(circuit.effective_matrix()[0] - root) < 1e-8
    gains = circuit.state["gains"].copy()
    circuit.expected_update(covariance)
    np.testing.assert_allclose(circuit.state["gains"], gains, atol=1e-10)
    assert circuit.whitening_error(covariance)[0] < 1e-8


def test_interneuron_flow_is_preconditioned_direct_flow(rng):
    """Spec §6.4: ΔM for M = WWᵀ equals −η(∇f M + M ∇f) to relative error O(η)."""
    eta, n = 1e-6, 4
    covariance = random_covariance(rng, n)
    circuit = InterneuronWhitening(learning_rate=eta, initial_scale=1.5, leak=0.0).initialize(n, 0, [2])
    circuit.state["synapses"] = circuit.state["synapses"] + 0.3 * rng.standard_normal((1, n, n))
    m0 = circuit.effective_matrix()[0]
    inverse = np.linalg.inv(m0)
    gradient = np.eye(n) - inverse @ covariance @ inverse
    circuit.expected_update(covariance)
    change = circuit.effective_matrix()[0] - m0
    predicted = -eta * (gradient @ m0 + m0 @ gradient)
    assert np.linalg.norm(change - predicted) / np.linalg.norm(predicted) < 1e-5
