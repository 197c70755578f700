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


def _learn_and_decorrelate(epochs):
    """Per rule: final accuracy of a 4-seed ensemble and each member's fall of the mean
    |corr(h, ε)| on the training split (untrained member / trained member)."""
    task = Classification(predictions=False, epochs=epochs)
    train = Classification(predictions=False).reset(seed=0)
    accuracy, falls = {}, {}
    for make in (S.Backprop, S.DirectFeedbackAlignment, lambda: S.EBD(forgetting=0.9999)):
        result = bpl.run(make(), task, seeds=[0, 1, 2, 3], eval_every=task.default_steps, progress=False)
        name = result.circuit(0).name
        accuracy[name] = result.dataset["metric_test_accuracy"].values[:, -1]
        falls[name] = []
        for index, seed in enumerate([0, 1, 2, 3]):
            untrained = make().initialize(64, 10, seeds=[np.random.SeedSequence(seed).spawn(3)[1]])
            falls[name].append(_mean_correlation(untrained, train) / _mean_correlation(result.circuit(index), train))
    return accuracy, falls


def test_bp_dfa_ebd_learn_digits_and_decorrelate_quick():
    """10 epochs of digits, one 4-seed ensemble per rule (quick twin of the 60-epoch test).
    Measured final accuracy (seeds 0-3): BP 0.965 / 0.967 / 0.965 / 0.965, DFA 0.967 / 0.950 /
    0.947 / 0.962, EBD 0.937 / 0.957 / 0.947 / 0.960 (untrained 0.05-0.16); trained |corr(h, ε)|
    0.031-0.042 against ≈ 0.14 untrained. Asserted: every seed BP ≥ 0.95, DFA ≥ 0.93, EBD ≥ 0.92;
    median |EBD − DFA| ≤ 0.02; every member's correlation falls ≥ 2×."""
    accuracy, falls = _learn_and_decorrelate(10)
    assert np.all(accuracy["backprop"] >= 0.95), accuracy
    assert np.all(accuracy["direct-feedback-alignment"] >= 0.93), accuracy
    assert np.all(accuracy["ebd"] >= 0.92), accuracy
    assert np.median(np.abs(accuracy["ebd"] - accuracy["direct-feedback-alignment"])) <= 0.02, accuracy
    assert all(min(values) >= 2.0 for values in falls.values()), falls


@pytest.mark.slow
def test_bp_dfa_ebd_learn_digits_and_decorrelate():
    """Spec §7.4 (60 epochs), one 4-seed ensemble per rule. Measured final accuracy (seeds 0-3):
    BP 0.987 / 0.990 / 0.990 / 0.990, DFA 0.982 / 0.982 / 0.987 / 0.990, EBD 0.987 / 0.985 /
    0.980 / 0.980. Asserted: every seed BP ≥ 0.975, DFA ≥ 0.965, EBD ≥ 0.965, median
    |EBD − DFA| ≤ 0.015; every member's correlation falls ≥ 2×."""
    accuracy, falls = _learn_and_decorrelate(60)
    assert np.all(accuracy["backprop"] >= 0.975), accuracy
    assert np.all(accuracy["direct-feedback-alignment"] >= 0.965), accuracy
    assert np.all(accuracy["ebd"] >= 0.965), accuracy
    assert np.median(np.abs(accuracy["ebd"] - accuracy["direct-feedback-alignment"])) <= 0.015, accuracy
    assert all(min(values) >= 2.0 for values in falls.values()), falls


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
