"""Every plastic state array of a circuit changes only through its declared rule.

For each circuit that declares ``rule_bindings()``: one ``learn`` on random inputs (K = 2
members, B = 3 samples) must change exactly the bound arrays, each by its rule's batched
numpy form applied to the same activities, and leave every other state array as it was.
"""

from __future__ import annotations

import numpy as np
import pytest

from bioplausible.circuits import Batch, CorInfoMax, DirectWhitening, InterneuronWhitening
from bioplausible.rules.declaration import apply_rules

CASES = [
    (DirectWhitening, {"learning_rate": 0.05}, 3),
    (InterneuronWhitening, {"learning_rate": 0.05, "n_interneurons": 4}, 3),
    (CorInfoMax, {"fast_path": "reference"}, 10),
]


@pytest.mark.parametrize("circuit_type,params,n_inputs", CASES, ids=[c[0].__name__ for c in CASES])
@pytest.mark.parametrize("seed", [0, 1])
def test_plastic_state_changes_only_through_its_declared_rule(circuit_type, params, n_inputs, seed):
    circuit = circuit_type(**params).initialize(n_inputs, 0, [seed, seed + 10])
    rng = np.random.default_rng(seed)
    inputs = rng.uniform(-1.0, 1.0, (2, 3, n_inputs))
    batch = Batch(inputs)
    activities = circuit.respond(inputs)
    before = {key: value.copy() for key, value in circuit.state.items()}
    expected = {key: value.copy() for key, value in circuit.state.items()}
    apply_rules(expected, circuit.rule_bindings(), activities)
    circuit.learn(activities, batch)
    bound = {binding.state for binding in circuit.rule_bindings()}
    assert bound, "a plastic circuit binds at least one rule"
    for key, value in circuit.state.items():
        if key in bound:
            assert not np.allclose(value, before[key]), f"{key} did not learn"
            np.testing.assert_allclose(value, expected[key], rtol=1e-12, atol=1e-12, err_msg=key)
        else:
            np.testing.assert_array_equal(value, before[key], err_msg=f"{key} changed without a declared rule")
