"""The layered circuits' options run through their declared rules and steps.

``tests/test_rules_declared_state.py`` checks every circuit at its agreement case; here the
options that add bindings or steps (EBD's regularisers, heavy ball, sparsity, Woodbury
solver; Hebbian synaptic scaling with biases; weight decay; the CNNs' connectivities) must
also change every state array only through them.
"""

from __future__ import annotations

import numpy as np
import pytest

from bioplausible.circuits import make_circuit
from bioplausible.rules.declaration import apply_step, phases, rule_changes
from bioplausible.tasks import make_task

CASES = [
    ("ebd", {"hidden_sizes": (6, 5), "power_rate": 1e-2, "entropy_rate": 1e-2, "l1_rate": 1e-3,
             "forward_broadcast_rate": 1e-2, "weight_decay": 1e-3}),
    ("ebd", {"hidden_sizes": (6,), "entropy_rate": 1e-2, "entropy_solver": "woodbury", "momentum": 0.5,
             "sparsity": 0.3, "sign": "ascent"}),
    ("ebd", {"hidden_sizes": (6,), "momentum": 0.5, "bias": False}),
    ("direct-feedback-alignment", {"hidden_sizes": (6, 5), "weight_decay": 1e-3}),
    ("backprop", {"hidden_sizes": (6, 5, 4), "weight_decay": 1e-3}),
    ("feedback-alignment", {"hidden_sizes": (6, 5), "rho": 0.5}),
    ("hebbian", {"hidden_sizes": (6, 5), "learning_rate": 1e-3}),
    ("hebbian", {"hidden_sizes": (6,), "synaptic_scaling": False, "weight_decay": 1e-3}),
    ("ebd-cnn", {"connectivity": "locally-connected", "channels": (3,), "weight_decay": 1e-3}),
    ("backprop-cnn", {"channels": (3, 4)}),
]


def _trained(name, options, steps=3):
    task = make_task("classification", n_train=60, n_test=20).reset(seed=0)
    circuit = make_circuit(name, **options).initialize(task.n_inputs, task.n_targets, [0, 1])
    for _ in range(steps):
        batch = task.next_batch(5)
        circuit.learn(circuit.respond(batch.inputs), batch)
    return circuit, task.next_batch(5)


@pytest.mark.parametrize(("name", "options"), CASES)
def test_every_option_changes_the_state_only_through_its_declaration(name, options):
    circuit, batch = _trained(name, options)
    responses = circuit.respond(batch.inputs)
    activities = circuit.rule_activities(responses, batch)
    expected = {key: value.copy() for key, value in circuit.state.items()}
    for bound, stepped in phases(circuit.rule_bindings(), circuit.state_steps()):
        for key, change in rule_changes(expected, bound, activities, expected).items():
            expected[key] = expected[key] + change
        for step in stepped:
            apply_step(expected, step, activities)
    before = {key: value.copy() for key, value in circuit.state.items()}
    circuit.learn(responses, batch)
    declared = {b.state for b in circuit.rule_bindings()} | {s.state for s in circuit.state_steps()}
    for key, value in circuit.state.items():
        if key in declared:
            np.testing.assert_allclose(value, expected[key], rtol=1e-12, atol=1e-14, err_msg=key)
        else:
            np.testing.assert_array_equal(value, before[key], err_msg=f"{key} changed without a declared rule")
    assert not any(np.array_equal(circuit.state[b.state], before[b.state]) for b in circuit.rule_bindings())
    if not options.get("bias", True):
        assert not any(key.startswith("bias_") for key in declared)


def test_synaptic_scaling_keeps_each_neurons_norm_with_its_bias():
    circuit, _ = _trained("hebbian", {"hidden_sizes": (6, 5), "learning_rate": 1e-2}, steps=4)
    for k in (1, 2):
        weights, bias = circuit.state[f"weight_{k}"], circuit.state[f"bias_{k}"]
        assert np.abs(bias).max() > 0
        norms = np.sqrt(np.sum(weights**2, axis=-1) + bias**2)
        np.testing.assert_allclose(norms, circuit.state[f"row_norm_{k}"], rtol=1e-12)


def test_the_heavy_ball_moves_the_weights_by_the_new_velocity():
    """Phase 0 steps the velocity (reading W before the update), phase 1 adds it to W."""
    circuit, batch = _trained("ebd", {"hidden_sizes": (6,), "momentum": 0.5, "weight_decay": 1e-3})
    before = circuit.state["weight_1"].copy()
    updates = circuit.proposed_updates(circuit.respond(batch.inputs), batch.targets)
    circuit.learn(circuit.respond(batch.inputs), batch)
    np.testing.assert_allclose(circuit.state["weight_1"] - before, circuit.state["velocity_1"], rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(updates["weight_1"], circuit.state["velocity_1"], rtol=1e-12, atol=1e-15)
