"""Separation task: sources, mixing, noise, and the metrics against cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from bioplausible.tasks.separation import (
    DOMAINS,
    SourceSeparation,
    amari_index,
    component_snr_db,
    generate_sources,
    permutation_error,
    project_l1_ball,
    sinr_db,
    t_copula_uniforms,
)


# ----------------------------------------------------------------------------- SINR
@pytest.mark.parametrize("centre", [False, True])
def test_sinr_is_infinite_for_a_permuted_scaled_sign_flipped_separator(rng, centre):
    sources = rng.uniform(0, 1, (2000, 5))
    order = np.array([3, 0, 4, 1, 2])
    scales = np.array([2.0, -0.5, 3.0, -7.0, 0.1])
    outputs = sources[:, order] * scales
    assert sinr_db(sources, outputs, centre=centre) > 100
    assert np.all(component_snr_db(sources, outputs, centre=centre) > 100)


@pytest.mark.parametrize("q", [10.0, 20.0, 30.0])
def test_sinr_of_additive_noise_equals_its_relative_power(rng, q):
    sources = rng.uniform(0, 1, (200_000, 4))
    power = np.mean(sources**2, axis=0)
    noise = rng.standard_normal(sources.shape) * np.sqrt(10 ** (-q / 10) * power)
    outputs = (sources + noise)[:, ::-1] * -3.0
    assert sinr_db(sources, outputs) == pytest.approx(q, abs=1.0)


def test_sinr_is_invariant_to_extra_outputs_and_greedy_matching(rng):
    sources = rng.uniform(-1, 1, (5000, 3))
    extra = np.concatenate([sources, rng.uniform(-1, 1, (5000, 2)) * 0.1], axis=1)
    assert sinr_db(sources, extra) > 100


def test_sinr_of_a_mixture_is_low(rng):
    sources = rng.uniform(0, 1, (5000, 4))
    mixing = rng.standard_normal((4, 4))
    assert sinr_db(sources, sources @ mixing.T) < 15


def test_inner_product_matching_follows_output_scale_on_correlated_nonnegative_sources(rng):
    # CIM-BSS's matching (raw |<y_i, s_j>|, "inner-product") equals the cosine one for equal
    # output scales, but with mean-dominated, correlated sources a 20 % larger output wins
    # a second source: SINR collapses although the separator is perfect.
    sources = t_copula_uniforms(rng, 4, 20_000, correlation=0.8)
    permuted = sources[:, [2, 0, 3, 1]]
    assert sinr_db(sources, permuted, matching="inner-product") > 100
    scaled = permuted * np.array([1.2, 1.0, 1.0, 1.0])
    assert sinr_db(sources, scaled) > 100
    assert sinr_db(sources, scaled, matching="inner-product") < 20
    assert np.all(component_snr_db(sources, scaled) > 100)
    with pytest.raises(ValueError, match="matching"):
        sinr_db(sources, scaled, matching="hungarian")


def test_task_reports_the_cosine_sinr_beside_the_authors_matching():
    from bioplausible.circuits import CorInfoMax

    circuit = CorInfoMax().initialize(10, 0, [0])
    default = SourceSeparation(correlation=0.5, evaluation_samples=2000).reset(seed=1)
    authors = SourceSeparation(correlation=0.5, evaluation_samples=2000, sinr_matching="inner-product").reset(seed=1)
    ours, theirs = default.score(circuit), authors.score(circuit)
    assert "sinr_cosine_db" not in ours
    assert theirs["sinr_cosine_db"] == pytest.approx(ours["sinr_db"])
    assert authors.config()["sinr_matching"] == "inner-product"
    with pytest.raises(ValueError, match="sinr_matching"):
        SourceSeparation(sinr_matching="best")


# ----------------------------------------------------------------------------- other metrics
def test_amari_index_zero_for_scaled_permutation_positive_otherwise(rng):
    permutation = np.eye(4)[[2, 0, 3, 1]] * np.array([1.0, -2.0, 0.5, 3.0])
    assert amari_index(permutation) == pytest.approx(0.0, abs=1e-12)
    assert 0.05 < amari_index(rng.standard_normal((4, 4))) <= 1.0
    with pytest.raises(ValueError, match="square"):
        amari_index(np.ones((2, 3)))


def test_permutation_error_zero_for_permuted_outputs_and_matches_by_hand(rng):
    sources = rng.uniform(0, 1, (500, 3))
    assert permutation_error(sources, sources[:, [2, 0, 1]]) == pytest.approx(0.0, abs=1e-12)
    shifted = sources[:, [1, 2, 0]] + 0.1
    assert permutation_error(sources, shifted) == pytest.approx(0.01, rel=1e-9)


# ----------------------------------------------------------------------------- projections and sources
def test_l1_projection_matches_a_brute_force_qp(rng):
    for _ in range(5):
        point = rng.uniform(-2, 2, 5)
        result = minimize(lambda y, point=point: np.sum((y - point) ** 2), np.zeros(5), method="SLSQP",
                          constraints=[{"type": "ineq", "fun": lambda y: 1 - np.sum(np.sqrt(y**2 + 1e-14))}],
                          options={"ftol": 1e-14, "maxiter": 500})
        assert np.allclose(project_l1_ball(point[None])[0], result.x, atol=1e-6)
    inside = np.array([[0.2, -0.3, 0.1]])
    assert np.array_equal(project_l1_ball(inside), inside)


@pytest.mark.parametrize("domain", DOMAINS[:-1])
def test_sources_lie_in_their_domain(rng, domain):
    sources = generate_sources(domain, 5, 4000, rng, correlation=0.3)
    assert sources.shape == (4000, 5)
    if domain == "antisparse":
        assert np.abs(sources).max() <= 1
    if domain in ("nonnegative-antisparse",):
        assert sources.min() >= 0 and sources.max() <= 1
    if domain in ("sparse", "nonnegative-sparse"):
        assert np.abs(sources).sum(axis=1).max() <= 1 + 1e-9
    if domain.startswith("nonnegative") or domain == "simplex":
        assert sources.min() >= 0
    if domain == "simplex":
        assert np.allclose(sources.sum(axis=1), 1)
    if domain == "nonnegative-bernoulli":
        assert np.mean(sources**2) == pytest.approx(1.6, rel=0.05)  # E[U²]/2 = 48/5/3/2
        assert np.var(sources) == pytest.approx(1.0, rel=0.08)


def test_copula_has_uniform_marginals_and_grows_correlation(rng):
    weak = t_copula_uniforms(rng, 4, 20000, 0.0)
    strong = t_copula_uniforms(rng, 4, 20000, 0.7)
    assert np.allclose(np.mean(strong, axis=0), 0.5, atol=0.02)
    assert np.allclose(np.var(strong, axis=0), 1 / 12, atol=0.005)
    off = ~np.eye(4, dtype=bool)
    assert np.abs(np.corrcoef(weak.T)[off]).max() < 0.05
    assert np.corrcoef(strong.T)[off].min() > 0.55
    toeplitz = t_copula_uniforms(rng, 4, 20000, 0.7, "toeplitz")
    corr = np.corrcoef(toeplitz.T)
    assert corr[0, 1] > corr[0, 2] > corr[0, 3]


# ----------------------------------------------------------------------------- task
def test_task_is_reproducible_and_adds_noise_at_the_requested_snr():
    task = SourceSeparation(snr_db=20.0, evaluation_samples=20000).reset(3)
    again = SourceSeparation(snr_db=20.0, evaluation_samples=20000).reset(3)
    assert np.array_equal(task.next_batch(10).inputs, again.next_batch(10).inputs)
    clean = task.evaluation_sources @ task.mixing_matrix.T
    noise = task.evaluation_mixtures - clean
    measured = 10 * np.log10(np.mean(clean**2, axis=0) / np.mean(noise**2, axis=0))
    assert np.allclose(measured, 20.0, atol=0.3)
    batch = task.next_batch(7)
    assert batch.inputs.shape == (7, 10) and batch.info["sources"].shape == (7, 5)


def test_task_validates_its_arguments():
    with pytest.raises(ValueError, match="domain"):
        SourceSeparation(domain="cube")
    with pytest.raises(ValueError, match="n_mixtures"):
        SourceSeparation(n_sources=5, n_mixtures=3)
    with pytest.raises(ValueError, match="correlation"):
        SourceSeparation(correlation=1.0)
    with pytest.raises(ValueError, match="mixing"):
        SourceSeparation(mixing="cauchy")


def test_natural_image_sources_are_scaled_windows():
    task = SourceSeparation(domain="natural-images", n_sources=3, n_mixtures=3, image_scaling="unit-variance",
                            image_side=32).reset(0)
    sources = task.evaluation_sources
    assert sources.shape == (32 * 32, 3)
    assert np.allclose(sources.min(axis=0), 0) and np.allclose(sources.std(axis=0), 1)
    boxed = SourceSeparation(domain="natural-images", n_sources=3, n_mixtures=3, image_side=32).reset(0)
    assert np.allclose(boxed.evaluation_sources.max(axis=0), 1)
    assert task.circuit_options() == {"domain": "nonnegative-antisparse"}
    assert task.next_batch(100).inputs.shape == (100, 3)


def test_mixture_scaling_follows_the_detmax_and_wsm_protocols():
    """``row-std``: clean mixture rows at std 0.5, noise std 10^(−SNR/20)·0.5 (Det-Max scripts);
    ``noisy-row-std``: noisy rows at std 0.5 (WSM in CIM-BSS); ``none`` leaves the data as it was."""
    rowwise = SourceSeparation(n_sources=4, n_mixtures=8, snr_db=20.0, evaluation_samples=5000,
                               mixture_scaling="row-std", mixture_std=0.5).reset(3)
    clean = rowwise.evaluation_sources @ rowwise.mixing_matrix.T
    assert np.allclose(clean.std(axis=0), 0.5)
    assert np.allclose(rowwise.noise_std, 0.05)
    batch = rowwise.next_batch(5000)
    noise = batch.inputs - batch.info["sources"] @ rowwise.mixing_matrix.T
    assert np.allclose(noise.std(axis=0), 0.05, rtol=0.03)
    noisy = SourceSeparation(n_sources=4, n_mixtures=8, snr_db=10.0, evaluation_samples=5000,
                             mixture_scaling="noisy-row-std", mixture_std=0.5).reset(3)
    assert np.allclose(noisy.evaluation_mixtures.std(axis=0), 0.5, rtol=0.03)
    clean = noisy.evaluation_sources @ noisy.mixing_matrix.T
    snr = 10 * np.log10(np.mean(clean**2, axis=0) / noisy.noise_std**2)
    assert np.allclose(snr, 10.0, atol=1e-9)  # the noise model itself is unchanged
    default = SourceSeparation(n_sources=4, n_mixtures=8).reset(3)
    explicit = SourceSeparation(n_sources=4, n_mixtures=8, mixture_scaling="none").reset(3)
    assert np.array_equal(default.evaluation_mixtures, explicit.evaluation_mixtures)
    with pytest.raises(ValueError, match="mixture_scaling"):
        SourceSeparation(mixture_scaling="unit")
    with pytest.raises(ValueError, match="mixture_std"):
        SourceSeparation(mixture_std=0.0)
