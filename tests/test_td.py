"""TD value learning: the ``value`` task, the ``td-value`` circuit, its declared rule, and the
loss-dynamics theory against simulated learning curves."""

from __future__ import annotations

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.rules import td as rules
from bioplausible.theory.td import TDProblem, plateau, td_learning_curve

SMALL = {"n_positions": 12, "episode_length": 12, "episodes_per_update": 4}


def test_true_value_solves_the_bellman_equation_and_fixed_point_is_representable():
    task = bpl.tasks.ValueTrack(**SMALL)
    value = task.true_value
    np.testing.assert_allclose(value, task.rewards + task.discount * task.transition_matrix @ value, atol=1e-12)
    np.testing.assert_allclose(task.stationary_distribution @ task.transition_matrix, task.stationary_distribution,
                               atol=1e-12)
    # as many place cells as positions: the features represent V, so the TD fixed point is V
    np.testing.assert_allclose(task.features @ task.td_fixed_point(), value, rtol=1e-5, atol=1e-6)
    coarse = bpl.tasks.ValueTrack(**SMALL, n_cells=3, field_width=1.0)
    assert coarse.value_errors(coarse.features @ coarse.td_fixed_point())["value_error"] > 0.01


def test_stream_is_episodes_back_to_back_and_cuts_anywhere():
    task = bpl.tasks.ValueTrack(**SMALL).reset(seed=3)
    whole = task.next_batch(50)
    task.reset(seed=3)
    parts = [task.next_batch(n) for n in (7, 0, 43)]
    np.testing.assert_array_equal(np.concatenate([p.info["position"] for p in parts]), whole.info["position"])
    first = whole.info["first"]
    assert np.flatnonzero(first).tolist() == list(range(0, 50, task.transitions_per_episode))
    position, following = whole.info["position"], task.next_batch(1)
    steps = np.abs(np.diff(position))[~first[1:]]
    assert set(steps.tolist()) <= {1}
    assert following.inputs.shape == (1, task.n_cells)


@pytest.mark.parametrize("argument,value,word", [
    ("discount", 1.0, "discount"), ("n_positions", 1, "n_positions"), ("forward_probability", 1.0,
                                                                        "forward_probability"),
    ("episode_length", 1, "episode_length"), ("field_width", 0.0, "field_width")])
def test_bad_task_arguments_are_refused_by_name(argument, value, word):
    with pytest.raises(ValueError, match=word):
        bpl.tasks.ValueTrack(**{argument: value})


def test_run_refuses_a_circuit_with_another_discount():
    with pytest.raises(ValueError, match="discount"):
        bpl.run(bpl.circuits.TDValue(discount=0.5), bpl.tasks.ValueTrack(**SMALL), steps=1, progress=False)


def test_learn_is_the_declared_rule_on_the_rpe_and_trace():
    task = bpl.tasks.ValueTrack(**SMALL).reset(seed=0)
    circuit = bpl.circuits.TDValue(learning_rate=0.3, trace_decay=0.5,
                                   initial_scale=1.0).initialize(task.n_inputs, 0, [0, 1])
    batch = task.next_batch(15)
    stacked = bpl.circuits.Batch(np.stack([batch.inputs] * 2), None,
                                 {k: np.stack([v] * 2) for k, v in batch.info.items()})
    w = circuit.state["value_weights"].copy()
    activities = circuit.respond(stacked.inputs)
    circuit.learn(activities, stacked)
    # by hand: δ_t = r + γ V(s') − V(s), e_t = γλ e_{t−1} + ψ_t (restart at episode start)
    for k in range(2):
        trace, change = np.zeros(task.n_cells), np.zeros(task.n_cells)
        for t in range(15):
            psi = batch.inputs[t]
            delta = batch.info["reward"][t] + 0.9 * batch.info["next_inputs"][t] @ w[k, 0] - psi @ w[k, 0]
            trace = (0.0 if batch.info["first"][t] else 0.9 * 0.5) * trace + psi
            change += 0.3 * delta * trace / 15
        np.testing.assert_allclose(circuit.state["value_weights"][k, 0], w[k, 0] + change, rtol=1e-12)
        np.testing.assert_allclose(circuit.state["trace"][k], trace, rtol=1e-12)
    assert rules.TD_VALUE.name in bpl.rules.RULES


@pytest.mark.parametrize("trace_decay", [0.0, 0.8])
def test_td_learns_the_value_over_seeds(trace_decay):
    task = bpl.tasks.ValueTrack(**SMALL)
    result = bpl.run(bpl.circuits.TDValue(learning_rate=0.5, trace_decay=trace_decay), task, seeds=[0, 1, 2],
                     steps=150, eval_every=50, progress=False)
    error = result.dataset["metric_value_error"].values
    assert np.all(error[:, 0] == 1.0)
    assert np.all(error[:, -1] < 0.05), error  # measured 0.003-0.02 over seeds 0-2


def test_theory_matches_the_simulated_learning_curve():
    task = bpl.tasks.ValueTrack(**SMALL)
    problem = TDProblem.from_task(task)
    steps, every = 120, 10
    theory = td_learning_curve(problem, 0.5, task.episodes_per_update, steps)
    np.testing.assert_allclose(theory["value_error"][0], 1.0)
    result = bpl.run(bpl.circuits.TDValue(learning_rate=0.5), task, seeds=range(48), steps=steps,
                     eval_every=every, progress=False)
    simulated = result.dataset["metric_fixed_point_error"].values.mean(axis=0)
    predicted = theory["fixed_point_error"][::every]
    assert abs(plateau(simulated) / plateau(predicted) - 1) < 0.1
    assert np.abs(np.log(simulated[1:] / predicted[1:])).mean() < 0.1


def test_theory_plateau_grows_with_the_learning_rate_and_the_discount():
    task = bpl.tasks.ValueTrack(**SMALL)
    plateaus = [plateau(td_learning_curve(TDProblem.from_task(bpl.tasks.ValueTrack(**SMALL, discount=g)), lr, 4,
                                          400)["fixed_point_error"]) for g, lr in ((0.5, 0.2), (0.5, 0.8), (0.9, 0.8))]
    assert plateaus[0] < plateaus[1] < plateaus[2]
    assert task.discount == 0.9


def test_spiking_presentation_plan_shows_each_state_once_per_visit():
    from bioplausible.substrates.spiking.td import presentation_plan

    task = bpl.tasks.ValueTrack(**SMALL).reset(seed=1)
    batch = task.next_batch(30)  # 11 transitions per episode: two episode starts inside the chunk
    shown, source, successor = presentation_plan(batch.inputs[None], batch.info["next_inputs"][None],
                                                 batch.info["first"])
    assert len(shown) == 30 + 3  # one per transition, plus the chunk's and each new episode's start
    np.testing.assert_array_equal(shown[source, 0], batch.inputs)
    np.testing.assert_array_equal(shown[successor, 0], batch.info["next_inputs"])
    np.testing.assert_array_equal(successor - source, 1)


@pytest.mark.slow
def test_td_lambda_on_spikes_agrees_with_rate():
    task = bpl.tasks.ValueTrack(**SMALL)
    errors = {}
    for substrate, options in (("rate", None), ("spiking", {"rate_unit": 250.0, "presentation": 0.04, "dt": 1e-3})):
        result = bpl.run(bpl.circuits.TDValue(learning_rate=0.5, trace_decay=0.8), task, substrate, seeds=[0, 1, 2],
                         steps=20, eval_every=20, progress=False, substrate_options=options)
        errors[substrate] = result.dataset["metric_value_error"].values[:, -1]
    assert np.all(errors["spiking"] < 0.2)
    np.testing.assert_allclose(errors["spiking"], errors["rate"], rtol=0.2, atol=0.005)
