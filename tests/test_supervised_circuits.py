"""Supervised circuits: DFA = frozen EBD, ρ-FA, backprop, ensembles, state, parameter checks."""

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.analysis import supervised as analysis
from bioplausible.circuits import supervised as S
from bioplausible.circuits.base import Batch
from bioplausible.tasks import Classification


@pytest.fixture(scope="module")
def digits():
    return Classification(predictions=False).reset(seed=0)


def _train(circuit, task, updates=50, batch_size=20):
    for _ in range(updates):
        batch = task.next_batch(batch_size)
        stacked = Batch(batch.inputs[None], batch.targets[None])
        circuit.learn(circuit.respond(stacked.inputs), stacked)
    return circuit


def test_dfa_is_ebd_with_frozen_projection_bit_for_bit(digits):
    """Spec §7.1: EBD with the R update disabled equals DFA with B = R[0] after 50 batches,
    checked against the DFA class and against DFA written out in plain numpy."""
    ebd = S.EBD(freeze_projection=True).initialize(64, 10, seeds=[3])
    dfa = S.DirectFeedbackAlignment().initialize(64, 10, seeds=[3])
    feedback = [ebd.state[f"projection_{k}"][0].copy() for k in (1, 2)]
    w = [ebd.state[f"weight_{k}"][0].copy() for k in (1, 2, 3)]
    b = [ebd.state[f"bias_{k}"][0].copy() for k in (1, 2, 3)]
    task_a, task_b, task_c = (Classification(predictions=False).reset(seed=1) for _ in range(3))
    _train(ebd, task_a)
    _train(dfa, task_b)
    for _ in range(50):  # DFA by hand: δ_k = 1[h_k > 0] ⊙ B_k ε, ΔW_k = −μ δ_k h_{k−1}ᵀ / B
        batch = task_c.next_batch(20)
        h0 = batch.inputs
        h1 = np.maximum(h0 @ w[0].T + b[0], 0)
        h2 = np.maximum(h1 @ w[1].T + b[1], 0)
        e = h2 @ w[2].T + b[2] - batch.targets
        d1, d2 = (h1 > 0) * (e @ feedback[0].T), (h2 > 0) * (e @ feedback[1].T)
        w[2], b[2] = w[2] - 0.05 * e.T @ h2 / 20, b[2] - 0.05 * e.mean(0)
        w[1], b[1] = w[1] - 5.0 * d2.T @ h1 / 20, b[1] - 5.0 * d2.mean(0)
        w[0], b[0] = w[0] - 5.0 * d1.T @ h0 / 20, b[0] - 5.0 * d1.mean(0)
    for key in ebd.state:
        np.testing.assert_array_equal(ebd.state[key], dfa.state[key])
    for k in (1, 2, 3):
        np.testing.assert_allclose(ebd.state[f"weight_{k}"][0], w[k - 1], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ebd.state[f"bias_{k}"][0], b[k - 1], rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(ebd.state["projection_1"][0], feedback[0])


def test_ebd_projection_tracks_layer_error_correlation(digits):
    ebd = S.EBD(forgetting=0.0).initialize(64, 10, seeds=[0])
    batch = digits.next_batch(20)
    stacked = Batch(batch.inputs[None], batch.targets[None])
    acts = ebd.respond(stacked.inputs)
    error = acts["output"] - stacked.targets
    ebd.learn(acts, stacked)
    expected = acts["hidden_1"][0].T @ error[0] / 20
    np.testing.assert_allclose(ebd.state["projection_1"][0], expected, rtol=1e-12)


def test_rho_fa_at_init_interpolates_between_backprop_and_fa(digits):
    """Spec §7.2."""
    batch = digits.next_batch(20)
    bp_like = S.FeedbackAlignment(rho=1.0).initialize(64, 10, seeds=[0])
    for value in analysis.update_alignment(bp_like, batch.inputs, batch.targets):
        assert value[0] >= 1 - 1e-9
    fa = S.FeedbackAlignment(rho=0.0, hidden_sizes=(512, 512)).initialize(64, 10, seeds=range(5))
    last = analysis.update_alignment(fa, batch.inputs, batch.targets)[-1]
    assert np.all(np.abs(last) < 0.2)


def test_backprop_update_is_the_descent_direction(digits):
    circuit = S.Backprop(learning_rate=0.05, output_rate=0.05).initialize(64, 10, seeds=[0, 1])
    batch = digits.next_batch(20)
    acts = circuit.respond(batch.inputs)
    layers = circuit.layers_from(acts)
    targets = np.broadcast_to(batch.targets, layers[-1].shape)
    updates = circuit.proposed_updates(acts, targets)
    for k, descent in enumerate(analysis.backprop_descent(circuit, layers, targets), 1):
        np.testing.assert_allclose(updates[f"weight_{k}"], 0.05 * descent, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", ["ebd", "backprop", "feedback-alignment", "direct-feedback-alignment", "hebbian"])
def test_ensemble_member_equals_single_run(name):
    task = Classification(predictions=False, n_train=200, n_test=50)
    make = bpl.circuits.make_circuit
    both = bpl.run(make(name), task, seeds=[4, 5], steps=30, eval_every=10, progress=False)
    one = bpl.run(make(name), task, seed=5, steps=30, eval_every=10, progress=False)
    np.testing.assert_allclose(
        both.dataset["metric_test_accuracy"].values[1], one.dataset["metric_test_accuracy"].values[0]
    )
    np.testing.assert_allclose(
        both.dataset["final_state_weight_1"].values[1], one.dataset["final_state_weight_1"].values[0],
        rtol=1e-9, atol=1e-12,
    )


def test_state_round_trip_and_regularisers_run(digits):
    circuit = S.EBD(
        forgetting=0.999, learning_rate=0.3, power_rate=3e-3, entropy_rate=1e-3, l1_rate=1e-4,
        forward_broadcast_rate=1e-3, momentum=0.5, sparsity=0.3, weight_decay=1e-5,
    ).initialize(64, 10, seeds=[0])
    _train(circuit, digits, updates=5)
    assert {"autocorrelation_1", "mask_1", "velocity_1"} <= set(circuit.state)
    assert np.all(circuit.state["weight_1"][circuit.state["mask_1"] == 0] == 0)
    clone = S.EBD(**circuit.params.to_dict()).load_state_dict(circuit.state_dict())
    _train(circuit, Classification(predictions=False).reset(seed=2), updates=3)
    _train(clone, Classification(predictions=False).reset(seed=2), updates=3)
    for key in circuit.state:
        np.testing.assert_array_equal(circuit.state[key], clone.state[key])


def test_graph_declares_biases_and_broadcast():
    circuit = S.EBD().initialize(64, 10)
    graph = circuit.graph()
    assert [p.role for p in circuit.populations()].count("input") == 1
    assert graph.nodes["output"]["role"] == "readout"
    assert graph.nodes["hidden_1"]["offset"] == 0.0
    assert graph.edges["output", "hidden_1"]["rule"] == "running-correlation"
    assert graph.edges["input", "hidden_1"]["rule"] == "three-factor"
    assert graph.edges["hidden_2", "output"]["rule"] == "delta-rule"
    np.testing.assert_array_equal(circuit.biases()["hidden_2"], circuit.state["bias_2"])


def test_generic_settle_reproduces_respond_without_biases():
    """The declared graph (ReLU populations, readout) has respond() as its fixed point."""
    circuit = S.Backprop(bias=False).initialize(6, 3, seeds=[0, 1])
    x = np.random.default_rng(0).random((2, 5, 6))
    settled, direct = circuit.settle(x), circuit.respond(x)
    for name in ("hidden_1", "hidden_2", "output"):
        np.testing.assert_allclose(settled[name], direct[name], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hidden_sizes": ()}, "hidden_sizes"),
        ({"hidden_sizes": (10, 0)}, "hidden_sizes"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"learning_rate": (1.0,)}, "learning_rate"),
        ({"forgetting": 1.5}, "forgetting"),
        ({"sign": "up"}, "sign"),
        ({"momentum": 1.0}, "momentum"),
        ({"sparsity": 1.0}, "sparsity"),
        ({"entropy_epsilon": 0.0}, "entropy_epsilon"),
    ],
)
def test_ebd_parameters_are_checked(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        S.EBD(**kwargs)


def test_dfa_refuses_unfrozen_projection():
    with pytest.raises(ValueError, match="freeze_projection"):
        S.DirectFeedbackAlignment(freeze_projection=False)


def test_learn_needs_targets():
    circuit = S.Backprop().initialize(4, 2)
    with pytest.raises(ValueError, match="targets"):
        circuit.learn(circuit.respond(np.ones((1, 3, 4))), Batch(np.ones((1, 3, 4))))
