"""The Brian2 form of the whitening rules, end to end: a spiking learning run whose
plasticity is the declared rule's ``run_regularly`` code at presentation boundaries agrees
with the run that calls the rule's numpy form between presentations."""

from __future__ import annotations

import numpy as np
import pytest

from bioplausible.circuits import Batch, DetMaxWSM, DirectWhitening, InterneuronWhitening
from bioplausible.substrates.spiking import SpikingSubstrate

pytest.importorskip("brian2")


def _learned(circuit_type, plasticity: str, seed: int, **params) -> tuple[dict[str, np.ndarray], int]:
    circuit = circuit_type(**params).initialize(3, 0, [seed, seed + 1])
    substrate = SpikingSubstrate(presentation=0.02, dt=5e-4, rate_unit=50.0, plasticity=plasticity)
    substrate.prepare(circuit, seed)
    mixing = np.array([[1.0, 0.4, 0.0], [0.0, 0.8, 0.3], [0.2, 0.0, 0.6]])
    batch = Batch(np.random.default_rng(seed).standard_normal((2, 12, 3)) @ mixing.T)
    for chunk in (batch[0:7], batch[7:12]):  # two chunks: the gate and the last presentation of each
        substrate.learn(circuit, chunk, 1, 0)
    return {k: v.copy() for k, v in circuit.state.items()}, circuit.steps


@pytest.mark.parametrize("circuit_type,params", [
    (DirectWhitening, {"learning_rate": 0.05}),
    (InterneuronWhitening, {"learning_rate": 0.05, "leak": 0.5}),
])
def test_brian2_plasticity_agrees_with_the_rule_between_presentations(circuit_type, params):
    python_state, python_steps = _learned(circuit_type, "python", 3, **params)
    brian_state, brian_steps = _learned(circuit_type, "brian2", 3, **params)
    assert python_steps == brian_steps == 12
    initial = circuit_type(**params).initialize(3, 0, [3, 4]).state
    for key in python_state:
        assert not np.allclose(python_state[key], initial[key])  # it learned
        np.testing.assert_allclose(brian_state[key], python_state[key], rtol=1e-12, atol=1e-12)


def test_brian2_plasticity_needs_batch_size_one():
    circuit = DirectWhitening().initialize(2, 0, [0])
    substrate = SpikingSubstrate(presentation=0.02, dt=5e-4, rate_unit=50.0, plasticity="brian2")
    substrate.prepare(circuit, 0)
    with pytest.raises(ValueError, match="batch_size must be 1"):
        substrate.learn(circuit, Batch(np.zeros((1, 4, 2))), 2, 0)


def test_bad_plasticity_option():
    with pytest.raises(ValueError, match="plasticity"):
        SpikingSubstrate(plasticity="triplet")  # "stdp" is an option since issue 17 item 4


def test_brian2_plasticity_refuses_a_circuit_with_declared_steps():
    """Det-Max's gain steps follow its Hebbian rules; the generated code runs the rules only,
    so plasticity='brian2' refuses it instead of silently skipping the gains."""
    circuit = DetMaxWSM(n_sources=2).initialize(3, 0, [0])
    substrate = SpikingSubstrate(presentation=0.02, dt=5e-4, rate_unit=50.0, plasticity="brian2")
    substrate.prepare(circuit, 0)
    with pytest.raises(ValueError, match="hidden-gain-step, output-gain-step"):
        substrate.learn(circuit, Batch(np.zeros((1, 2, 3))), 1, 0)
