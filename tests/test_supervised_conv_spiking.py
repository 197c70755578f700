"""The convolutional / locally connected circuits on spikes (kind "convolutional"): what they
declare for it (patch synapses, per-unit biases), the layered integrate-and-fire network
realising their layers from the declaration, the plasticity options refused with a reason,
the cost estimate, and learning above chance. Rate agreement: the circuits' agreement cases
(tests/features/test_agreement.py)."""

from __future__ import annotations

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.circuits import ConvBackprop, ConvEBD
from bioplausible.core import Batch
from bioplausible.tasks import Classification

CONNECTIVITY = ["convolutional", "locally-connected"]


def _randomised(circuit, seed=0):
    """Random nonzero kernels and biases (the initial biases are zero)."""
    rng = np.random.default_rng(seed)
    for key, value in circuit.state.items():
        if key.startswith(("weight_", "bias_")):
            circuit.state[key] = rng.uniform(-0.5, 0.5, value.shape)
    return circuit


@pytest.mark.parametrize("connectivity", CONNECTIVITY)
def test_the_declared_synapses_are_where_the_expanded_weights_can_be_nonzero(connectivity):
    circuit = _randomised(ConvEBD(connectivity=connectivity, channels=(3, 2)).initialize(64, 10, [0, 1]))
    weights, synapses = circuit.weights(), circuit.synapses()
    assert set(synapses) == {("input", "hidden_1"), ("hidden_1", "hidden_2")}  # the readout is dense
    for key, (post, pre) in synapses.items():
        assert len(set(zip(post.tolist(), pre.tolist()))) == post.size  # each pair once
        declared = np.zeros(weights[key].shape[1:], dtype=bool)
        declared[post, pre] = True
        np.testing.assert_array_equal(np.all(weights[key] != 0, axis=0), declared, err_msg=str(key))
    assert synapses[("input", "hidden_1")][0].size == 6 * 6 * 3 * 9  # locations × channels × 3×3 patch


@pytest.mark.parametrize("connectivity", CONNECTIVITY)
def test_the_biases_are_declared_per_unit_channel_last(connectivity):
    circuit = _randomised(ConvEBD(connectivity=connectivity, channels=(3,)).initialize(64, 10, [0, 1]))
    bias, per_unit = circuit.state["bias_1"], circuit.biases()["hidden_1"].reshape(2, 36, 3)
    expected = np.broadcast_to(bias[:, None, :], per_unit.shape) if connectivity == "convolutional" else bias
    np.testing.assert_array_equal(per_unit, expected)
    np.testing.assert_array_equal(circuit.biases()["output"], circuit.state["bias_2"])
    # the declared bias is the rate network's: u = W x + b with the expanded weights
    x = np.random.default_rng(1).uniform(0, 1, (2, 5, 64))
    u = np.einsum("kts,kbs->kbt", circuit.weights()[("input", "hidden_1")], x) + circuit.biases()["hidden_1"][:, None]
    np.testing.assert_allclose(np.maximum(u, 0), circuit.respond(x)["hidden_1"], atol=1e-12)
    off = ConvEBD(connectivity=connectivity, channels=(3,), bias=False).initialize(64, 10, [0])
    assert not np.any(_randomised(off).biases()["hidden_1"])


@pytest.mark.parametrize("connectivity", CONNECTIVITY)
def test_the_spike_counts_of_every_patch_layer_realise_the_rate_layers(connectivity):
    """One-second windows at 100 Hz, no learning (rates 0): the decoded counts of both hidden
    layers of two members match the rate network's ReLU layers to O(1/(r0 T)); the network
    holds only the declared synapses."""
    circuit = _randomised(ConvEBD(connectivity=connectivity, channels=(3, 2), learning_rate=0.0, output_rate=0.0,
                                  forgetting=1.0).initialize(64, 10, [0, 1]))
    for key in ("weight_1", "bias_1"):
        circuit.state[key] = np.abs(circuit.state[key])  # active units: a strict comparison
    circuit.state["bias_2"] = -np.abs(circuit.state["bias_2"])  # layer 2 signed: some units silent
    x = np.random.default_rng(2).uniform(0, 1, (2, 3, 64))
    substrate = bpl.substrates.make_substrate("spiking", rate_unit=100.0, presentation=1.0, dt=1e-3)
    substrate.prepare(circuit, 0)
    activities = substrate.learn(circuit, Batch(x, np.zeros((2, 3, 10))), 1, 0)  # the last presentation
    rate = circuit.respond(x[:, -1:])
    assert 0.2 < np.mean(rate["hidden_2"] > 0) < 1 and np.max(rate["hidden_2"]) < 8  # below 1/(r0 dt) = 10
    for name in ("hidden_1", "hidden_2"):
        assert activities[name].shape == rate[name].shape  # (K, 1, n): the batch's last presentation
        assert np.max(np.abs(activities[name] - rate[name])) < 0.03, name
    np.testing.assert_allclose(activities["output"], circuit.readout(activities["hidden_2"]))
    network = substrate.cache["layered"]
    for key, (post, _) in circuit.synapses().items():
        assert len(network.synapses[key][0]) == 2 * post.size


@pytest.mark.parametrize("connectivity,why", [("convolutional", "one weight on L_k synapses"),
                                              ("locally-connected", "patches as its presynaptic activity")])
@pytest.mark.parametrize("plasticity", ["brian2", "stdp"])
def test_per_synapse_plasticity_is_refused_with_the_reason(connectivity, why, plasticity):
    circuit = ConvEBD(connectivity=connectivity)
    reason = bpl.substrates.make_substrate("spiking", plasticity=plasticity).supports(circuit)
    assert reason is not None and why in reason and f"plasticity={plasticity!r}" in reason
    assert bpl.substrates.make_substrate("spiking").supports(circuit) is None
    learning_run = bpl.substrates.make_substrate("spiking").learning_run_reason(circuit.initialize(64, 10))
    assert learning_run is not None and "'convolutional'" in learning_run  # the chunked path runs it


def test_the_cost_estimate_counts_one_window_per_update_and_every_copy():
    task = Classification(epochs=1)
    substrate = bpl.substrates.make_substrate("spiking", **Classification.quick_spiking_options)
    cost = substrate.estimate_cost(ConvEBD(), task, 70, 3, 70)
    units = 3 * task.batch_size * (6 * 6 * 8 + 4 * 4 * 16)
    assert "70 windows" in cost.detail and f"{units:,} units" in cost.detail
    assert cost.seconds < substrate.estimate_cost(ConvEBD(), task, 140, 3, 70).seconds


def test_a_cnn_learns_well_above_chance_on_spikes():
    """One 4-channel layer, 40 mini-batches of 400 digits at the quick spiking settings.
    Measured: test accuracy 0.09 at the start, 0.925 after (chance 0.1)."""
    result = bpl.run(ConvBackprop(channels=(4,)), Classification(n_train=400, n_test=200), "spiking", seeds=[0],
                     steps=40, eval_every=40, progress=False, substrate_options=Classification.quick_spiking_options)
    accuracy = result.dataset["metric_test_accuracy"].values[0]
    assert accuracy[0] < 0.2 and accuracy[-1] > 0.6


def test_a_learning_run_of_a_patch_network_runs_on_the_chunked_path():
    circuit = ConvBackprop(channels=(2,)).initialize(64, 10, [0])
    task = Classification(n_train=20, n_test=20)
    task.reset(0)
    batch = task.next_batch(4)
    before = circuit.state["weight_1"].copy()
    substrate = bpl.substrates.make_substrate("spiking", presentation=0.02, dt=1e-3)
    substrate.prepare(circuit, 0)
    result = substrate.learning_run(circuit, Batch(batch.inputs[None], batch.targets[None]), 2)
    assert result["codegen"] == "numpy" and "'convolutional'" in result["codegen_reason"]
    assert list(result["checkpoint_steps"]) == [0, 2, 4] and result["checkpoints"]["weight_1"].shape[0] == 3
    assert circuit.steps == 4 and not np.allclose(circuit.state["weight_1"], before)


@pytest.mark.parametrize("connectivity", CONNECTIVITY)
def test_a_mini_batch_presented_at_once_learns_what_it_learns_presented_one_after_another(connectivity):
    """Undithered, every window is a deterministic function of its input and the weights: the
    B copies of one window (each reading its member's weights) learn the serial state."""
    def final(parallel, dither=False):
        circuit = ConvEBD(connectivity=connectivity, channels=(3,))
        bpl.run(circuit, Classification(n_train=200, n_test=100, epochs=1), "spiking", seeds=[0, 1], steps=3,
                eval_every=3, progress=False, substrate_options={"rate_unit": 100.0, "presentation": 0.02,
                                                                 "dt": 1e-3, "dither": dither,
                                                                 "parallel_batch": parallel})
        return circuit.state

    serial, parallel, dithered = final(False), final(True), final(True, dither=True)
    for key in serial:
        np.testing.assert_allclose(parallel[key], serial[key], rtol=1e-10, atol=1e-12, err_msg=key)
    assert not np.allclose(dithered["weight_1"], serial["weight_1"])  # the counts decide what is learned
