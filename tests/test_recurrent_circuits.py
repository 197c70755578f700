"""Recurrent rate circuits: BPTT's gradient, the declared three-factor rules, learning to integrate."""

from __future__ import annotations

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.circuits.recurrent import bptt_gradient
from bioplausible.core import TrialBatch
from bioplausible.rules import recurrent as rules

SEEDS = [0, 1, 2, 3, 4]


def _trials(seed: int = 0, trials: int = 3, steps: int = 12) -> TrialBatch:
    batch = bpl.tasks.Integration(trial_steps=steps).reset(seed=seed).next_batch(trials)
    return TrialBatch(batch.inputs[None], batch.targets[None], dt=batch.dt)


def _loss(circuit: bpl.circuits.RecurrentBPTT, batch: TrialBatch) -> float:
    output = circuit.respond(batch.inputs)["output"]
    return 0.5 * float(np.mean((output - batch.targets) ** 2))


@pytest.mark.parametrize("nonlinearity", ["linear", "rectified"])
def test_bptt_gradient_is_the_gradient_of_the_trial_loss(nonlinearity):
    circuit = bpl.circuits.RecurrentBPTT(n_hidden=5, nonlinearity=nonlinearity, initial_scale=1.5,
                                         readout_scale=1.0).initialize(1, 1, [3])
    batch = _trials()
    activities = circuit.respond(batch.inputs)
    gradient = bptt_gradient(circuit.state["recurrent"], circuit.state["readout"], activities["hidden"],
                             circuit.slope(activities["drive"]), activities["output"] - batch.targets,
                             circuit.params.alpha)
    eps = 1e-6
    for i, j in [(0, 1), (2, 2), (4, 0)]:
        plus, minus = circuit.member(0), circuit.member(0)
        plus.state = {k: v.copy() for k, v in circuit.state.items()}
        minus.state = {k: v.copy() for k, v in circuit.state.items()}
        plus.state["recurrent"][0, i, j] += eps
        minus.state["recurrent"][0, i, j] -= eps
        numeric = (_loss(plus, batch) - _loss(minus, batch)) / (2 * eps)
        np.testing.assert_allclose(gradient[0, i, j], numeric, rtol=1e-5, atol=1e-10)


def _trace_by_hand(previous, slope, signal, alpha, filter_post):
    """The traces of RFLO (filter_post) or e-prop, written out per trial as an independent check."""
    n_members, n_trials, n_steps, n = previous.shape
    total = np.zeros((n_members, n, n))
    for k in range(n_members):
        for b in range(n_trials):
            trace = np.zeros((n, n))
            for t in range(n_steps):
                if filter_post:
                    trace = (1 - alpha) * trace + alpha * np.outer(slope[k, b, t], previous[k, b, t])
                    total[k] += signal[k, b, t][:, None] * trace
                else:
                    trace = (1 - alpha) * trace + alpha * previous[k, b, t][None, :]
                    total[k] += (signal[k, b, t] * slope[k, b, t])[:, None] * trace
    return total / (n_trials * n_steps)


@pytest.mark.parametrize("rule,filter_post", [(rules.RFLO, True), (rules.EPROP, False)])
def test_trial_update_runs_the_declared_traces_per_trial(rule, filter_post):
    rng = np.random.default_rng(0)
    previous, signal = rng.standard_normal((2, 2, 3, 7, 4))
    slope = (rng.random((2, 3, 7, 4)) > 0.4).astype(float)
    change = rules.trial_update(rule, previous, slope, signal, 0.3, 1.0)
    np.testing.assert_allclose(change, _trace_by_hand(previous, slope, signal, 0.3, filter_post), atol=1e-12)


def test_linear_rflo_with_symmetric_feedback_is_symmetric_eprop():
    """With φ' = 1 the two traces coincide: RFLO given B = Vᵀ makes e-prop's update."""
    eprop = bpl.circuits.RecurrentEprop(n_hidden=6).initialize(1, 1, [0, 1])
    rflo = bpl.circuits.RecurrentRFLO(n_hidden=6).initialize(1, 1, [0, 1])
    rflo.state["feedback"] = np.swapaxes(rflo.state["readout"], -1, -2).copy()
    batch = _trials(trials=2)
    batch = TrialBatch(np.repeat(batch.inputs, 2, 0), np.repeat(batch.targets, 2, 0), dt=batch.dt)
    for circuit in (eprop, rflo):
        circuit.learn(circuit.respond(batch.inputs), batch)
    np.testing.assert_allclose(eprop.state["recurrent"], rflo.state["recurrent"], atol=1e-14)
    assert not np.allclose(eprop.state["recurrent"], bpl.circuits.RecurrentEprop(n_hidden=6).initialize(
        1, 1, [0, 1]).state["recurrent"])


# measured (150 updates, 16 trials of 60 steps, N = 16, η = 0.1, seeds 0-4): normalised MSE at most
# 2e-7 (BPTT), 3.2e-3 (RFLO), 1e-4 (e-prop); learned timescale 4.94-4.97 s, 3.05-4.70 s, 4.70-4.82 s
LEARNED = {"rnn-bptt": (1e-3, 0.05), "rnn-rflo": (2e-2, 0.5), "rnn-eprop": (5e-3, 0.1)}


@pytest.mark.parametrize("name", sorted(LEARNED))
def test_each_rule_learns_the_leaky_integrator(name):
    task = bpl.tasks.Integration(trial_steps=60, evaluation_trials=32)
    circuit = bpl.circuits.make_circuit(name, n_hidden=16, learning_rate=0.1, readout_rate=0.1)
    result = bpl.run(circuit, task, seeds=SEEDS, steps=150, eval_every=150, progress=False)
    error, timescale = result.metrics["normalized_mse"], result.metrics["timescale_error"]
    assert np.all(error.values[:, 0] > 0.9)  # a small W cannot integrate at first
    mse_bound, timescale_bound = LEARNED[name]
    assert np.all(error.values[:, -1] < mse_bound), error.values[:, -1]
    assert np.all(timescale.values[:, -1] < timescale_bound), timescale.values[:, -1]
    assert result.metrics["learned_timescale"].attrs["units"] == "s"


def test_rectified_units_learn_part_of_the_integrator():
    # measured: normalised MSE 0.009-0.017 on 4 of 5 seeds, 0.47 on one (units silenced early)
    task = bpl.tasks.Integration(trial_steps=60, evaluation_trials=32)
    circuit = bpl.circuits.RecurrentEprop(n_hidden=16, learning_rate=0.1, readout_rate=0.1, nonlinearity="rectified")
    result = bpl.run(circuit, task, seeds=SEEDS, steps=150, eval_every=150, progress=False)
    assert np.median(result.metrics["normalized_mse"].values[:, -1]) < 0.05


def test_inputs_and_batches_are_checked_in_one_line():
    circuit = bpl.circuits.RecurrentEprop(n_hidden=4).initialize(1, 1, [0])
    with pytest.raises(ValueError, match=r"inputs must be trials of shape \(B, T, 1\)"):
        circuit.respond(np.zeros((3, 1)))
    batch = _trials()
    activities = circuit.respond(batch.inputs)
    with pytest.raises(TypeError, match="batch must be a TrialBatch with targets"):
        circuit.learn(activities, None)
    with pytest.raises(ValueError, match=r"activities\['noise'\] must have shape \(1, B, 1\)"):
        circuit.learn(activities, bpl.circuits.Batch(np.zeros((1, 3, 1))))  # samples, not trials
    with pytest.raises(ValueError, match="nonlinearity"):
        bpl.circuits.RecurrentBPTT(nonlinearity="tanh")


@pytest.mark.parametrize("name", sorted(LEARNED))
def test_unscored_steps_add_no_change_and_sizes_follow_the_task(name):
    """Several inputs and outputs, and a mask (as a NeuroGym trial has): targets at unscored
    steps do not matter."""
    rng = np.random.default_rng(0)
    inputs, targets = rng.standard_normal((2, 4, 10, 3)), rng.standard_normal((2, 4, 10, 2))
    mask = rng.random((2, 4, 10)) > 0.5
    other = targets.copy()
    other[~mask] += 5.0
    states = []
    for target in (targets, other):
        circuit = bpl.circuits.make_circuit(name, n_hidden=5).initialize(3, 2, [0, 1])
        circuit.learn(circuit.respond(inputs), TrialBatch(inputs, target, mask, dt=0.1))
        states.append(circuit.state)
    assert states[0]["readout"].shape == (2, 2, 5) and states[0]["input_weights"].shape == (2, 5, 3)
    for key in states[0]:
        np.testing.assert_array_equal(states[0][key], states[1][key], err_msg=key)
