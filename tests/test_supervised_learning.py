"""Seeded learning on sklearn digits (spec §7.4–7.5; §2.7 small-scale defaults, 60 epochs)."""

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.analysis.supervised import error_correlations
from bioplausible.circuits import supervised as S
from bioplausible.tasks import Classification


def _train(circuit, seed=0, **task_options):
    task = Classification(predictions=False, **task_options)
    result = bpl.run(circuit, task, seed=seed, eval_every=task.default_steps, progress=False)
    return result.dataset["metric_test_accuracy"].values[0, -1]


def _mean_correlation(circuit, task):
    train = task.training_set()
    values = error_correlations(circuit, train.inputs, train.targets)
    return float(np.mean([v[0] for v in values.values()]))


def test_bp_dfa_ebd_learn_digits_and_decorrelate():
    task = Classification(predictions=False).reset(seed=0)
    accuracy, falls = {}, {}
    for circuit in (S.Backprop(), S.DirectFeedbackAlignment(), S.EBD(forgetting=0.9999)):
        circuit.initialize(64, 10, seeds=[np.random.SeedSequence(0).spawn(3)[1]])
        before = _mean_correlation(circuit, task)
        circuit.steps = 0
        result = bpl.run(circuit, Classification(predictions=False), seed=0, eval_every=4200, progress=False)
        accuracy[circuit.name] = result.dataset["metric_test_accuracy"].values[0, -1]
        falls[circuit.name] = before / _mean_correlation(circuit, task)
    assert accuracy["backprop"] >= 0.975
    assert accuracy["direct-feedback-alignment"] >= 0.965
    assert accuracy["ebd"] >= 0.965 and abs(accuracy["ebd"] - accuracy["direct-feedback-alignment"]) <= 0.015
    assert all(value >= 2.0 for value in falls.values()), falls


def test_collapse_without_regularisers_and_rescue_quick():
    """Quick twin of the slow spec §7.5 claim below: 15 epochs instead of 60, one 4-seed ensemble
    each. Measured: fast R (λ_d = 0.999, μ_d = 0.3) alone 0.179 / 0.388 / 0.259 / 0.259 (at 5
    epochs still 0.55-0.71: the collapse takes ~10 epochs); with power + entropy 0.914 / 0.902 /
    0.922 / 0.889. Asserted: every plain seed < 0.5, every rescued seed ≥ 0.85."""
    regularisers = dict(power_rate=3e-3, power_target=0.25, entropy_rate=1e-3, entropy_forgetting=0.999,
                        entropy_epsilon=1e-2, entropy_init=0.25)
    plain = _ensemble_accuracy(S.EBD(forgetting=0.999, learning_rate=0.3), 15)[:, -1]
    rescued = _ensemble_accuracy(S.EBD(forgetting=0.999, learning_rate=0.3, **regularisers), 15)[:, -1]
    assert np.all(plain < 0.5), plain
    assert np.all(rescued >= 0.85), rescued


@pytest.mark.slow
def test_collapse_without_regularisers_and_rescue():
    """Spec §7.5: fast R (λ_d = 0.999, μ_d = 0.3) collapses; power + entropy rescue it."""
    plain = _train(S.EBD(forgetting=0.999, learning_rate=0.3))
    rescued = _train(S.EBD(
        forgetting=0.999, learning_rate=0.3, power_rate=3e-3, power_target=0.25,
        entropy_rate=1e-3, entropy_forgetting=0.999, entropy_epsilon=1e-2, entropy_init=0.25,
    ))
    assert plain < 0.5
    assert rescued >= 0.85


def _ensemble_accuracy(circuit, epochs, seeds=(0, 1, 2, 3)):
    task = Classification(predictions=False, epochs=epochs)
    result = bpl.run(circuit, task, seeds=list(seeds), eval_every=task.default_steps, progress=False)
    return result.dataset["metric_test_accuracy"].values  # (seeds, [untrained, trained])


def test_feedback_alignment_learns_digits():
    """10 epochs of digits, one 4-seed ensemble: untrained 0.05-0.16, trained 0.922-0.932
    (measured). Asserted: every seed ≥ 0.88 and ≥ 0.6 above its untrained score."""
    accuracy = _ensemble_accuracy(S.FeedbackAlignment(), 10)
    assert np.all(accuracy[:, -1] >= 0.88), accuracy
    assert np.all(accuracy[:, -1] - accuracy[:, 0] >= 0.6), accuracy


def test_hebbian_readout_learns_digits():
    """10 epochs of digits, one 4-seed ensemble: untrained 0.05-0.16, trained 0.80-0.90
    (measured 0.841, 0.897, 0.816, 0.796). Asserted: median ≥ 0.78, every seed ≥ 0.7 and
    ≥ 0.5 above its untrained score."""
    accuracy = _ensemble_accuracy(S.Hebbian(), 10)
    assert np.median(accuracy[:, -1]) >= 0.78 and np.all(accuracy[:, -1] >= 0.7), accuracy
    assert np.all(accuracy[:, -1] - accuracy[:, 0] >= 0.5), accuracy
