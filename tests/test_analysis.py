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
    """The analyses read a spiking result as they read a rate one, and say the same thing.
    Measured (seeds 0/1/2, 200 samples, windows of 100): whitening deviation spiking
    0.376→0.098, 0.236→0.050, 0.399→0.133 vs rate 0.366→0.113, 0.224→0.056, 0.389→0.114;
    similarity of the first window's geometry to the final one 0.988 / 0.975 / 0.917 (spiking)
    vs 0.988 / 0.973 / 0.922 (rate). Asserted on seed 0: the deviation falls below half its
    start on spikes, each window within 0.04 of the rate run's, the similarity within 0.02."""
    task = bpl.tasks.StatisticalAdaptation(n_inputs=3, n_contexts=1, samples_per_context=200)
    results = {substrate: bpl.run(bpl.circuits.DirectWhitening(learning_rate=0.03), task, substrate, seeds=[0],
                                  progress=False, probes=[Probe(samples=None)],
                                  substrate_options=task.quick_spiking_options if substrate == "spiking" else None)
               for substrate in ("rate", "spiking")}
    result = results["spiking"]
    deviation = analysis.whitening_over_time(result, "principal", window=100)
    rate_deviation = analysis.whitening_over_time(results["rate"], "principal", window=100)
    assert deviation.shape == (1, 2) and np.isfinite(deviation).all()
    assert float(deviation[0, -1]) < 0.5 * float(deviation[0, 0]), deviation.values
    np.testing.assert_allclose(deviation.values, rate_deviation.values, atol=0.04)
    assert analysis.tuning_curves(result, "principal").shape == (1, 6, 3)
    assert np.isfinite(analysis.activity_error_correlation(result, "principal")["correlation"]).all()
    rsa = analysis.representational_similarity(result, "principal", window=100)
    assert rsa["rdm"].shape == (1, 2, 6, 6)
    rate_rsa = analysis.representational_similarity(results["rate"], "principal", window=100)
    np.testing.assert_allclose(rsa["similarity_to_final"].values, rate_rsa["similarity_to_final"].values, atol=0.02)


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
