"""Analysis helpers: the same functions on rate and spiking results."""

from __future__ import annotations

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible import analysis
from bioplausible.experiments.probes import Probe

TASK = bpl.tasks.StatisticalAdaptation(n_inputs=3, n_contexts=2, samples_per_context=1500)


@pytest.fixture(scope="module")
def rate_result():
    return bpl.run(bpl.circuits.DirectWhitening(learning_rate=0.003), TASK, seeds=[0, 1], progress=False,
                   probes=[Probe(samples=None)])


def test_whitening_over_time_falls_as_the_circuit_learns_and_jumps_at_the_switch(rate_result):
    deviation = analysis.whitening_over_time(rate_result, "principal", window=250).values
    assert deviation.shape == (2, 12)  # two contexts of 1500 samples, windows of 250
    assert (deviation[:, 0] > 0.6).all() and (deviation[:, 5] < 0.25).all()  # adapted to context 0
    assert (deviation[:, 6] > 0.8).all() and (deviation[:, 11] < 0.25).all()  # switch, then re-adapted
    covariance = analysis.response_covariance(rate_result, "principal", window=250)
    assert covariance.shape == (2, 12, 3, 3)
    np.testing.assert_allclose(covariance, np.swapaxes(covariance.values, -1, -2))


def test_tuning_curves_follow_the_stimulus_direction(rate_result):
    curves = analysis.tuning_curves(rate_result, "principal", start=1000)
    assert curves.shape == (2, 6, 3)
    # the unit on the largest input axis responds with its sign more than the others do on average
    diagonal = np.array([curves.values[:, 2 * i, i] - curves.values[:, 2 * i + 1, i] for i in range(3)])
    assert (diagonal > 0).all()
    by_context = analysis.tuning_curves(rate_result, "principal", by="context")
    assert list(by_context["condition"].values) == ["context=0", "context=1"]


def test_representational_similarity_converges_to_the_final_geometry(rate_result):
    rsa = analysis.representational_similarity(rate_result, "principal", window=500)
    assert rsa["rdm"].shape == (2, 6, 6, 6)
    similarity = rsa["similarity_to_final"].values
    np.testing.assert_allclose(similarity[:, -1], 1.0)
    assert np.all(np.abs(similarity) <= 1 + 1e-12)


def test_activity_error_correlation_is_positive_for_whitening(rate_result):
    out = analysis.activity_error_correlation(rate_result, "principal")
    assert out.attrs["metric"] == "whitening_error"
    assert (out["correlation"] > 0.2).all()  # loud, unwhitened responses go with a large error


def test_the_same_functions_work_on_a_spiking_result():
    task = bpl.tasks.StatisticalAdaptation(n_inputs=3, n_contexts=1, samples_per_context=200)
    result = bpl.run(bpl.circuits.DirectWhitening(learning_rate=0.03), task, "spiking", seeds=[0], progress=False,
                     probes=[Probe(samples=None)], substrate_options=task.quick_spiking_options)
    deviation = analysis.whitening_over_time(result, "principal", window=100)
    assert deviation.shape == (1, 2) and np.isfinite(deviation).all()
    assert analysis.tuning_curves(result, "principal").shape == (1, 6, 3)
    assert np.isfinite(analysis.activity_error_correlation(result, "principal")["correlation"]).all()
    assert analysis.representational_similarity(result, "principal", window=100)["rdm"].shape == (1, 2, 6, 6)


def test_analysis_errors_name_the_argument(rate_result):
    with pytest.raises(ValueError, match="was not recorded"):
        analysis.tuning_curves(rate_result, "cortex")
    with pytest.raises(ValueError, match="by"):
        analysis.tuning_curves(rate_result, "principal", by="colour")
    with pytest.raises(ValueError, match="window"):
        analysis.whitening_over_time(rate_result, "principal", window=1)
    with pytest.raises(TypeError, match="result"):
        analysis.whitening_over_time("run.nc", "principal")
    with pytest.raises(ValueError, match="metric"):
        analysis.activity_error_correlation(rate_result, "principal", metric="accuracy")
