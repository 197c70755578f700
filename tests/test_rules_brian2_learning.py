"""The Brian2 form of the declared rules, end to end: a spiking learning run whose
plasticity is the declared rules' ``run_regularly`` code at presentation boundaries (and
the declared steps in Python after the rules of their phase) agrees with the run that calls
the circuit's ``learn`` between presentations; what it cannot run is refused with the reason."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bioplausible.circuits import (
    CIRCUITS,
    Batch,
    DetMaxWSM,
    DirectWhitening,
    GainWhitening,
    InterneuronWhitening,
    make_circuit,
)
from bioplausible.rules.adaptation import normalize_columns
from bioplausible.rules.declaration import StateStep
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


def _agree(circuit_type, **params) -> dict[str, np.ndarray]:
    """plasticity='brian2' and 'python' on the same seed learn the same state (every array a
    rule or a step changes has learned); returns the learned state."""
    python_state, python_steps = _learned(circuit_type, "python", 3, **params)
    brian_state, brian_steps = _learned(circuit_type, "brian2", 3, **params)
    assert python_steps == brian_steps == 12
    circuit = circuit_type(**params).initialize(3, 0, [3, 4])
    changed = {b.state for b in circuit.rule_bindings()} | {s.state for s in circuit.state_steps()}
    assert python_state.keys() == brian_state.keys()
    for key in python_state:
        if key in changed:
            assert not np.allclose(python_state[key], circuit.state[key]), key  # it learned
        np.testing.assert_allclose(brian_state[key], python_state[key], rtol=1e-12, atol=1e-12, err_msg=key)
    return brian_state


@pytest.mark.parametrize("circuit_type,params", [
    (DirectWhitening, {"learning_rate": 0.05}),
    (InterneuronWhitening, {"learning_rate": 0.05, "leak": 0.5}),
])
def test_brian2_plasticity_agrees_with_the_rule_between_presentations(circuit_type, params):
    _agree(circuit_type, **params)


def test_brian2_plasticity_runs_the_declared_steps_after_the_rules():
    """Det-Max: four Hebbian rules in generated code (their rate a schedule of the update
    count, written per update), then its two log-det gain steps in Python, reading the
    synapses the rules have just written; the gains learn what the Python path learns."""
    _agree(DetMaxWSM, n_sources=2)


def test_a_neuron_rule_with_a_constant_state_and_a_projection_runs_in_brian2():
    """Gain whitening: the gains' homeostasis (a neuron rule toward the constant target 1) in
    generated code, on a group linked to the interneurons' counts, then the declared projection
    g ≥ 0, which holds gains at 0 in this run."""
    state = _agree(GainWhitening, learning_rate=0.05, clamp_gains=True)
    assert np.any(state["gains"] == 0.0) and np.all(state["gains"] >= 0.0)


@pytest.mark.parametrize("name,params", [
    # phase 0 the rates D (a neuron rule), phase 1 W and M reading D (states from the circuit),
    # the prewhitened mixtures (an activity it derives) and the learning gate; its steps after
    ("nsm", {"n_sources": 3, "prewhitening_samples": 5}),
    # phase 0 the running means (steps), phase 1 the rules reading them and the dendritic
    # current c = W x; then the row flip and the sample count
    ("nonnegative-ica", {"n_sources": 3}),
    # the gains toward each interneuron's synaptic norm (a quantity derived from W), W reading
    # the gains, then the renormalisation of W's columns (a step on a plastic matrix)
    ("multi-timescale-whitening", {"renormalize": True}),
])
def test_rules_that_read_the_circuits_quantities_run_in_brian2(name, params):
    """What a rule reads that no Brian2 group holds is written into its runner from Python
    before its phase; the Brian2 run learns what the Python run learns."""
    _agree(CIRCUITS[name], **params)


def test_per_sample_totals_run_on_a_group_of_summed_variables():
    """CorInfoMax: the Sherman-Morrison lateral update needs per-sample totals (B·y and
    yᵀB·y), each a summed variable over the block on a group of the rule's own, scheduled
    after the summed variables it reads; the inverse correlation B and W learn what the
    Python rule learns."""
    state = _agree(CIRCUITS["corinfomax"], n_sources=3)
    lateral = state["lateral"]
    np.testing.assert_allclose(lateral, np.swapaxes(lateral, -1, -2), atol=1e-12)  # B stays symmetric


def _learned_supervised(name: str, plasticity: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    circuit = make_circuit(name, hidden_sizes=(5,)).initialize(3, 2, [3, 4])
    initial = {k: v.copy() for k, v in circuit.state.items()}
    substrate = SpikingSubstrate(presentation=0.02, dt=5e-4, rate_unit=50.0, plasticity=plasticity)
    substrate.prepare(circuit, 3)
    rng = np.random.default_rng(3)
    inputs = np.abs(rng.standard_normal((2, 10, 3)))
    batch = Batch(inputs, inputs @ rng.standard_normal((3, 2)))
    for chunk in (batch[0:6], batch[6:10]):
        substrate.learn(circuit, chunk, 1, 0)
    return initial, {k: v.copy() for k, v in circuit.state.items()}


@pytest.mark.parametrize("name", ["backprop", "feedback-alignment", "direct-feedback-alignment", "ebd", "hebbian"])
def test_layered_rules_onto_and_from_the_readout_run_in_brian2(name):
    """The layered network: the output is a readout (not simulated), so its synapses index a
    group without dynamics and the readout's activity and the learning signals (the error,
    feedback, gains) come from Python; every learned array agrees with plasticity='python'."""
    initial, python_state = _learned_supervised(name, "python")
    _, brian_state = _learned_supervised(name, "brian2")
    learned = [key for key in python_state if not np.allclose(python_state[key], initial[key])]
    assert any(key.startswith("weight_") for key in learned)
    for key in python_state:
        np.testing.assert_allclose(brian_state[key], python_state[key], rtol=1e-12, atol=1e-12, err_msg=key)


class _NormalisedInterneurons(InterneuronWhitening):
    """Interneuron whitening with a declared step on its plastic matrix: each interneuron's
    synapses rescaled to unit norm (``rules.normalize_columns``), after the rule (both in
    phase 0), or before it (``step_first``: the step in phase 0, the rule in phase 1)."""

    step_first = False

    def rule_bindings(self):
        return [dataclasses.replace(b, phase=int(self.step_first)) for b in super().rule_bindings()]

    def state_steps(self):
        return [StateStep("unit-norm-columns", "synapses", normalize_columns, "‖w_j‖ = 1")]


class _NormalisedFirst(_NormalisedInterneurons):
    step_first = True


@pytest.mark.parametrize("circuit_type", [_NormalisedInterneurons, _NormalisedFirst], ids=["after", "before"])
def test_a_step_that_changes_a_plastic_matrix_is_written_back_to_the_synapses(circuit_type):
    """The step's new W goes back into the Brian2 synapses, so the rule's next run (the next
    presentation, or the later phase of the same one) starts from it: the runs agree only if
    the write-back and the phase order are right."""
    state = _agree(circuit_type, learning_rate=0.05, leak=0.5)
    norms = np.linalg.norm(state["synapses"], axis=-2)
    if circuit_type.step_first:  # the rule ran last: the columns moved off unit norm
        assert not np.allclose(norms, 1.0)
    else:
        np.testing.assert_allclose(norms, 1.0, rtol=1e-12)


def test_brian2_plasticity_needs_batch_size_one():
    circuit = DirectWhitening().initialize(2, 0, [0])
    substrate = SpikingSubstrate(presentation=0.02, dt=5e-4, rate_unit=50.0, plasticity="brian2")
    substrate.prepare(circuit, 0)
    with pytest.raises(ValueError, match="batch_size must be 1"):
        substrate.learn(circuit, Batch(np.zeros((1, 4, 2))), 2, 0)


def test_bad_plasticity_option():
    with pytest.raises(ValueError, match="plasticity"):
        SpikingSubstrate(plasticity="triplet")  # "stdp" is an option since issue 17 item 4


@pytest.mark.parametrize("name,reason", [
    ("nsm", "binding of 'feedforward': its array is (5, 5) per member, not the (5, 6) of its populations"),
    ("densenet", "kind 'windowed-replay' calls its circuit's rules between presentations"),
    ("rnn-eprop", "kind 'recurrent-rate' calls its circuit's rules between presentations"),
])
def test_what_brian2_plasticity_cannot_run_is_refused_with_the_reason(name, reason):
    """Each refusal is one line naming what the runner does not take (never a silent fallback
    to the Python rules); an initialized circuit is asked about its bindings."""
    circuit = make_circuit(name)
    if circuit.kind in ("fixed-point", "layered"):
        circuit.initialize(6, 2, [0])  # NSM prewhitens 6 mixtures onto its 5 sources
    got = SpikingSubstrate(plasticity="brian2").supports(circuit)
    assert got is not None and reason in got and "\n" not in got
    assert SpikingSubstrate(plasticity="python").supports(circuit) is None


def test_a_refused_circuit_fails_before_any_presentation():
    circuit = make_circuit("nsm", n_sources=2).initialize(3, 0, [0])
    substrate = SpikingSubstrate(presentation=0.02, dt=5e-4, rate_unit=50.0, plasticity="brian2")
    substrate.prepare(circuit, 0)
    before = {k: v.copy() for k, v in circuit.state.items()}
    with pytest.raises(ValueError, match="cannot run on the spiking substrate: binding of 'feedforward'"):
        substrate.learn(circuit, Batch(np.zeros((1, 2, 3))), 1, 0)
    assert circuit.steps == 0 and substrate.presented == 0
    for key, value in before.items():
        np.testing.assert_array_equal(circuit.state[key], value)


def test_signed_threshold_outputs_are_refused_for_brian2_plasticity_before_any_work():
    """CorInfoMax on the signed sparse domain is built as ON/OFF halves with a readout: the
    Brian2 rules have no population of its outputs to run on, so ``supports`` says so (before,
    it answered None and the network failed when it was built)."""
    circuit = make_circuit("corinfomax", n_sources=3, domain="sparse")
    got = SpikingSubstrate(plasticity="brian2").supports(circuit)
    assert got is not None and "ON/OFF" in got and "\n" not in got
    unsigned = make_circuit("corinfomax", domain="nonnegative-sparse")
    assert SpikingSubstrate(plasticity="brian2").supports(unsigned) is None
