"""The whitening quantities written once in ``core.whitening`` and used by the adaptation
circuits and task."""

import numpy as np

import bioplausible as bpl
from bioplausible.circuits.adaptation import optimal_gains
from bioplausible.core.whitening import covariance_root, whitening_error


def test_covariance_root_squares_to_the_covariance_and_whitens_it(rng):
    factor = rng.standard_normal((3, 4, 4))
    covariance = factor @ np.swapaxes(factor, -1, -2) + 0.1 * np.eye(4)
    root = covariance_root(covariance)
    np.testing.assert_allclose(root, np.swapaxes(root, -1, -2), atol=1e-12)
    np.testing.assert_allclose(root @ root, covariance, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(whitening_error(root, covariance), 0.0, atol=1e-10)
    assert np.all(np.linalg.eigvalsh(root) > 0)


def test_covariance_root_counts_rounding_negative_eigenvalues_as_zero():
    covariance = np.diag([4.0, -1e-17])
    np.testing.assert_array_equal(covariance_root(covariance), np.diag([2.0, 0.0]))


def test_task_samples_and_optimal_gains_share_the_root(rng):
    task = bpl.tasks.StatisticalAdaptation(n_inputs=2, n_contexts=1).reset(seed=3)
    covariance = task.covariances[0]
    frame = np.stack([np.cos([0.3, 1.4, 2.5]), np.sin([0.3, 1.4, 2.5])])
    gains = optimal_gains(frame, covariance)
    matrix = np.eye(2) + (frame * gains) @ frame.T  # M = I + W diag(g*) Wᵀ = C^{1/2} (K = N(N+1)/2)
    np.testing.assert_allclose(matrix, covariance_root(covariance), atol=1e-10)
