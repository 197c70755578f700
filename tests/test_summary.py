"""Summary statistics of representations across learning (analysis.summary)."""

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.analysis import summary


def test_rotation_keeps_cka_and_procrustes_but_moves_units():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 8))
    Q = np.linalg.qr(rng.standard_normal((8, 8)))[0]
    assert summary.linear_cka(A, A @ Q) == pytest.approx(1.0)
    assert summary.procrustes_distance(A, 3.0 * A @ Q) == pytest.approx(0.0, abs=1e-6)
    assert summary._unit_drift(A @ Q, A) > 0.5
    assert summary._unit_drift(2.0 * A, A) == pytest.approx(0.0, abs=1e-12)
    B = rng.standard_normal((30, 8))
    assert summary.linear_cka(A, B) < 0.5
    assert summary.procrustes_distance(A, B) > 0.5
    with pytest.raises(ValueError, match="same samples"):
        summary.linear_cka(A, B[:5])


def test_decoder_margin_grows_with_class_separation():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1, 2], 40)
    centres = rng.standard_normal((3, 5))
    near = summary.decoder_scores(centres[labels] + rng.standard_normal((120, 5)), labels)
    far = summary.decoder_scores(4 * centres[labels] + rng.standard_normal((120, 5)), labels)
    assert far["accuracy"] > near["accuracy"] and far["accuracy"] > 0.9
    assert far["margin"] > near["margin"]
    ridge = summary.decoder_scores(rng.standard_normal((60, 3)) @ np.ones((3, 2)), np.zeros((60, 2)) + 1.5)
    assert "r2" in ridge


def test_summary_of_a_supervised_and_an_adaptation_run():
    task = bpl.tasks.Classification(dataset="digits")
    circuit = bpl.circuits.Backprop(hidden_sizes=(32,))
    result = bpl.run(circuit, task, steps=150, batch_size=20, eval_every=50, seeds=[0, 1],
                     probes=[bpl.Probe(populations=("hidden_1",), samples=4)], progress=False)
    stats = summary.summary_statistics(result, "hidden_1", label="label", windows=3)
    assert stats["accuracy"].shape == (2, 3)
    assert float(stats["accuracy"].isel(window=-1).mean()) > float(stats["accuracy"].isel(window=0).mean())
    assert np.allclose(stats["cka_to_first"].isel(window=0), 1.0)
    assert "metric_test_accuracy" in stats
    adapt = bpl.run(bpl.circuits.InterneuronWhitening(), bpl.tasks.StatisticalAdaptation(n_inputs=3), steps=300,
                    probes=[bpl.Probe(populations=("stimulus", "principal"))], progress=False)
    stats = summary.summary_statistics(adapt, "principal", target="stimulus", windows=3)
    assert np.all(np.isfinite(stats["r2"])) and np.all(np.isfinite(stats["procrustes_to_first"]))
    with pytest.raises(ValueError, match="exactly one"):
        summary.summary_statistics(adapt, "principal")
    with pytest.raises(ValueError, match="not traced"):
        summary.summary_statistics(adapt, "interneuron", target="stimulus")


def test_reversal_protocol_flips_labels_after_the_given_epochs():
    """Classification(reverse_after=E): labels c → n−1−c after E epochs, train and test alike."""
    task = bpl.tasks.Classification(dataset="digits", n_train=200, n_test=200, epochs=12, reverse_after=6)
    circuit = bpl.circuits.Backprop(hidden_sizes=(32,), learning_rate=0.2, output_rate=0.2)
    result = bpl.run(circuit, task, seeds=[0, 1], progress=False)
    accuracy = result.metrics["test_accuracy"].mean("seed").values  # one evaluation per epoch
    assert accuracy[6] > 0.6  # learned before the reversal (measured 0.72)
    assert accuracy[7] < 0.5 * accuracy[6]  # the old mapping is now wrong
    assert accuracy[-1] > accuracy[7] + 0.2  # relearning the reversed mapping
    stream = bpl.tasks.Classification(dataset="digits", n_train=50, reverse_after=1).reset(seed=0)
    first, second = stream.next_batch(50), stream.next_batch(50)
    original = bpl.tasks.Classification(dataset="digits", n_train=50).reset(seed=0)
    np.testing.assert_array_equal(first.info["label"], original.next_batch(50).info["label"])
    np.testing.assert_array_equal(second.info["label"], 9 - original.next_batch(50).info["label"])
    with pytest.raises(ValueError, match="reverse_after"):
        bpl.tasks.Classification(dataset="digits", reverse_after=-1)


def test_overtraining_grows_the_margin_while_training_accuracy_is_at_ceiling():
    """Kumar et al. (ICLR 2025): past the plateau the hidden code keeps separating the classes
    (decoder margin and readout margin grow) while behaviour barely changes; then, after
    ``reverse_after``, the reversed mapping is learned from the overtrained state."""
    def task(reverse_after=None):
        return bpl.tasks.Classification(dataset="digits", n_train=300, n_test=100, predictions=False,
                                        reverse_after=reverse_after)

    data = task().training_set()
    X, labels = data.inputs, data.info["label"]
    circuit = bpl.circuits.Backprop(hidden_sizes=(64,), learning_rate=0.2, output_rate=0.2)
    per_epoch = task().updates_per_epoch

    def measure():
        layers = circuit.forward(X)
        out = layers[-1]
        own = out[:, np.arange(labels.size), labels]
        rival = np.where(np.eye(10, dtype=bool)[labels], -np.inf, out).max(-1)
        return (np.mean(np.argmax(out, -1) == labels, -1), np.median(own - rival, -1),
                np.array([summary.decoder_scores(h, labels)["margin"] for h in layers[1]]))

    bpl.run(circuit, task(45), seeds=[0, 1], steps=15 * per_epoch, progress=False)
    accuracy_p, readout_p, hidden_p = measure()
    bpl.run(circuit, task(45), seeds=[0, 1], steps=30 * per_epoch, progress=False)
    accuracy_o, readout_o, hidden_o = measure()
    assert np.all(accuracy_p > 0.95) and np.all(accuracy_o >= accuracy_p - 0.01)  # behaviour at ceiling
    # measured (seeds 0, 1): hidden decoder margin 0.50 → 0.59, 0.48 → 0.54; readout 0.60 → 0.77, 0.57 → 0.80
    assert np.all(hidden_o > hidden_p + 0.03)  # the hidden code separates further
    assert np.all(readout_o > readout_p + 0.1)
    reversed_ = bpl.run(circuit, task(45), seeds=[0, 1], steps=4 * per_epoch, progress=False)
    accuracy = reversed_.metrics["test_accuracy"].values
    assert np.all(accuracy[:, 1] < 0.5 * accuracy[:, 0]) and np.all(accuracy[:, -1] > 0.5)
