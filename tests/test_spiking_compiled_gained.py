"""Declared steps and gain-modulated synapses inside Brian2's generated code (issue 17).

Multi-timescale whitening: fast gains g and slow synapses W in one run, the feedback weight
−W diag(g) bilinear in both, the gain target ‖w_j‖² and the unit-norm step as summed variables.
Gain whitening with ``clamp_gains``: the projection g ≥ 0 after each update, read off as an
interval. The compiled runs agree with the runtime path that calls the circuit's own update
between presentations; what has another form is refused, and runs chunked."""

from __future__ import annotations

import numpy as np
import pytest

from bioplausible.circuits import Batch, GainWhitening, MultiTimescaleWhitening
from bioplausible.rules import adaptation as rules
from bioplausible.rules.declaration import StateStep
from bioplausible.substrates.spiking import SpikingSubstrate
from bioplausible.substrates.spiking.compiled import available_targets, compiled_support
from bioplausible.substrates.spiking.compiled_gained import gained_structure
from bioplausible.substrates.spiking.compiled_structure import interval_bounds

pytest.importorskip("brian2")

MIXING = np.array([[1.0, 0.4, 0.0], [0.0, 0.8, 0.3], [0.2, 0.0, 0.6]])
STATES = ("synapses", "gains")


def _setup(seed: int, codegen: str = "numpy", presentations: int = 30, cls=MultiTimescaleWhitening, **params):
    params = {"gain_rate": 0.02, "synapse_rate": 5e-3, "n_interneurons": 3, **params}
    circuit = cls(**params).initialize(3, 0, [seed, seed + 1])
    substrate = SpikingSubstrate(presentation=0.02, dt=5e-4, rate_unit=50.0, codegen=codegen)
    substrate.prepare(circuit, seed)
    return circuit, substrate, Batch(np.random.default_rng(seed).standard_normal((2, presentations, 3)) @ MIXING.T)


def _runtime(seed: int, presentations: int = 30, stop: int | None = None, **params) -> dict[str, np.ndarray]:
    """The runtime path's states after the first ``stop`` of ``presentations``."""
    circuit, substrate, batch = _setup(seed, presentations=presentations, **params)
    substrate.learn(circuit, batch[0: stop or presentations], 1, 0)
    return {k: circuit.state[k].copy() for k in STATES}


@pytest.mark.parametrize("seed", [4, 9])
def test_multi_timescale_whitening_in_generated_code_equals_the_runtime_path(seed):
    expected = _runtime(seed)
    circuit, substrate, batch = _setup(seed)
    assert compiled_support(circuit) is None
    initial = {k: circuit.state[k].copy() for k in STATES}
    result = substrate.learning_run(circuit, batch, 10)
    assert result["codegen"] == "numpy" and circuit.steps == 30
    assert "state steps" not in result["codegen_reason"]  # the unit-norm step ran in generated code
    assert np.abs(circuit.state["gains"] - initial["gains"]).max() > 0.1  # both learned
    assert np.abs(circuit.state["synapses"] - initial["synapses"]).max() > 1e-3
    for state in STATES:
        np.testing.assert_allclose(circuit.state[state], expected[state], rtol=0, atol=1e-12)
        checkpoints = result["checkpoints"][state]
        assert checkpoints.shape == (4, *initial[state].shape)
        np.testing.assert_array_equal(checkpoints[0], initial[state])
        np.testing.assert_array_equal(checkpoints[-1], circuit.state[state])
    np.testing.assert_allclose(np.linalg.norm(circuit.state["synapses"], axis=-2), 1.0, atol=1e-12)
    at_ten = _runtime(seed, stop=10)
    np.testing.assert_allclose(result["checkpoints"]["synapses"][1], at_ten["synapses"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(result["checkpoints"]["gains"][1], at_ten["gains"], rtol=0, atol=1e-12)


def test_without_renormalisation_the_norms_drift_and_still_agree():
    """``renormalize=False``: no step, the gain target ‖w_j‖² moves with W (a summed variable
    of the old W, read by the gain rule)."""
    expected = _runtime(2, presentations=40, renormalize=False, synapse_rate=0.05)
    circuit, substrate, batch = _setup(2, presentations=40, renormalize=False, synapse_rate=0.05)
    result = substrate.learning_run(circuit, batch, 20)
    assert result["codegen"] == "numpy"
    norms = np.linalg.norm(circuit.state["synapses"], axis=-2)
    assert np.abs(norms - 1.0).max() > 1e-3  # the norms moved: the target is not a constant 1
    for state in STATES:
        np.testing.assert_allclose(circuit.state[state], expected[state], rtol=0, atol=1e-12)


@pytest.mark.parametrize(("n", "k", "leak", "gains", "members", "renormalize"), [
    (2, 2, 1.0, 0.0, [0], True),
    (4, None, 0.5, 0.3, [0, 1, 2], True),  # the default K = 2N(N+1) = 40
    (3, 5, 2.0, "ramp", [3, 4], False),
])
def test_other_sizes_leaks_gains_and_ensembles_agree(n, k, leak, gains, members, renormalize):
    initial = np.linspace(0.0, 0.5, k) if gains == "ramp" else gains

    def setup():
        circuit = MultiTimescaleWhitening(gain_rate=0.03, synapse_rate=0.01, n_interneurons=k, leak=leak,
                                          initial_gains=initial, renormalize=renormalize).initialize(n, 0, members)
        substrate = SpikingSubstrate(presentation=0.02, dt=5e-4, rate_unit=60.0, codegen="numpy")
        substrate.prepare(circuit, 7)
        return circuit, substrate, Batch(0.7 * np.random.default_rng(1).standard_normal((len(members), 25, n)))

    runtime, substrate, batch = setup()
    substrate.learn(runtime, batch, 1, 0)
    circuit, substrate, batch = setup()
    start = circuit.state["gains"].copy()
    assert substrate.learning_run(circuit, batch, 5)["codegen"] == "numpy"
    assert np.abs(circuit.state["gains"] - start).max() > 0.1
    for state in STATES:
        np.testing.assert_allclose(circuit.state[state], runtime.state[state], rtol=0, atol=1e-12)


class _DoubledNorm(MultiTimescaleWhitening):
    """Columns rescaled to norm 2: a step generated code does not realise."""

    name = "test-doubled-norm"

    def state_steps(self):
        return [StateStep("norm-two-columns", "synapses", lambda w: 2.0 * rules.normalize_columns(w))]


class _AbsoluteTarget(MultiTimescaleWhitening):
    """A gain target Σ|w| instead of ‖w‖²."""

    name = "test-absolute-target"

    def rule_states(self):
        return {**self.state, "synaptic_norms": np.sum(np.abs(self.state["synapses"]), axis=-2)}


class _PlainFeedback(MultiTimescaleWhitening):
    """Feedback −W without the gains: not the bilinear form."""

    name = "test-plain-feedback"

    def weights(self):
        weights = super().weights()
        weights[("interneuron", "principal")] = -self.state["synapses"] + 0.0 * self.state["gains"][..., None, :]
        return weights


@pytest.mark.parametrize(("cls", "words"), [
    (_DoubledNorm, ["norm-two-columns", "unit norm"]),
    (_AbsoluteTarget, ["synaptic_norms", "squared synaptic norm"]),
    (_PlainFeedback, ["interneuron -> principal", "times the gains"]),
])
def test_forms_generated_code_does_not_realise_are_refused_and_run_chunked(cls, words):
    circuit, substrate, batch = _setup(1, presentations=6, cls=cls)
    reason = compiled_support(circuit)
    assert isinstance(gained_structure(circuit), str)
    assert reason and all(word in reason for word in words), reason
    result = substrate.learning_run(circuit, batch, 3)
    assert result["codegen"] == "numpy" and circuit.steps == 6
    assert result["checkpoints"]["gains"].shape[0] == 3


def test_the_runner_runs_multi_timescale_whitening_in_generated_code():
    """run() on spikes: one run in generated code, the scores equal to the chunked path's."""
    import json

    from bioplausible import run
    from bioplausible.tasks import make_task

    task = make_task("adaptation", n_inputs=3, n_contexts=2, samples_per_context=20)
    results = {}
    for compiled in (True, False):
        circuit = MultiTimescaleWhitening(gain_rate=0.02, synapse_rate=5e-3, n_interneurons=3)
        results[compiled] = run(circuit, task, "spiking", seeds=[0, 1], steps=40, eval_every=15, progress=False,
                                substrate_options={"rate_unit": 50.0, "presentation": 0.02, "dt": 5e-4,
                                                   "compiled_runs": compiled, "codegen": "numpy"}).dataset
    whole, chunked = results[True], results[False]
    assert whole.attrs["learning_run"] == "one run in generated code"
    assert json.loads(whole.attrs["substrate"])["codegen_used"] == "numpy"
    np.testing.assert_array_equal(whole["step"], [0, 15, 30, 40])
    assert np.ptp(whole["metric_whitening_error"].values) > 0.01  # it learned
    np.testing.assert_allclose(whole["metric_whitening_error"], chunked["metric_whitening_error"], atol=1e-10)
    for state in STATES:
        np.testing.assert_allclose(whole[f"final_state_{state}"], chunked[f"final_state_{state}"], atol=1e-12)


def test_multi_timescale_runs_in_generated_code_resume_exactly():
    circuit, substrate, batch = _setup(5, presentations=20)
    substrate.learning_run(circuit, batch, 5)
    whole = {k: circuit.state[k].copy() for k in STATES}
    circuit, substrate, batch = _setup(5, presentations=20)
    substrate.learning_run(circuit, batch[0:10], 5)
    second = substrate.learning_run(circuit, batch[10:20], 5)
    np.testing.assert_array_equal(second["checkpoint_steps"], [10, 15, 20])
    for state in STATES:
        np.testing.assert_array_equal(circuit.state[state], whole[state])


@pytest.mark.slow
@pytest.mark.parametrize("codegen", ["cython", "cpp_standalone"])
def test_multi_timescale_on_compiled_targets_equals_the_runtime_path(codegen, compiled_target):
    for seed in (4, 9):  # the second re-uses the build (standalone: other W, g and dither by run_args)
        expected = _runtime(seed)
        circuit, substrate, batch = _setup(seed, codegen=codegen)
        assert substrate.learning_run(circuit, batch, 10)["codegen"] == codegen
        for state in STATES:
            np.testing.assert_allclose(circuit.state[state], expected[state], rtol=0, atol=1e-12)


# ---------------------------------------------------------------------- interval steps on gains


def _clamped(seed: int, codegen: str = "numpy", cls=GainWhitening, initial: float = 0.05):
    circuit = cls(learning_rate=0.1, clamp_gains=True, n_interneurons=6, initial_gains=initial).initialize(
        3, 0, [seed, seed + 1])
    substrate = SpikingSubstrate(presentation=0.02, dt=5e-4, rate_unit=50.0, codegen=codegen)
    substrate.prepare(circuit, seed)
    return circuit, substrate, Batch(0.5 * np.random.default_rng(seed).standard_normal((2, 30, 3)) @ MIXING.T)


@pytest.mark.parametrize(("seed", "initial"), [(4, 0.05), (9, -0.2)])
def test_clamped_gains_in_generated_code_equal_the_runtime_path(seed, initial):
    """The projection g ≥ 0 after each update, gated as the rule is (a negative initial gain
    stays until the first update, as on the runtime path)."""
    circuit, substrate, batch = _clamped(seed, initial=initial)
    assert compiled_support(circuit) is None
    substrate.learn(circuit, batch, 1, 0)
    expected = circuit.state["gains"].copy()
    assert (expected == 0.0).sum() >= 4  # the projection acted
    circuit, substrate, batch = _clamped(seed, initial=initial)
    result = substrate.learning_run(circuit, batch, 10)
    assert result["codegen"] == "numpy" and "state steps" not in result["codegen_reason"]
    np.testing.assert_allclose(circuit.state["gains"], expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(result["checkpoints"]["gains"][0], initial)
    assert result["checkpoints"]["gains"][1:].min() >= 0.0


@pytest.mark.parametrize(("function", "bounds"), [
    (lambda g: np.maximum(g, 0.0), (0.0, np.inf)),
    (lambda g: np.clip(g, -1.5, 2.0), (-1.5, 2.0)),
    (lambda g: np.minimum(g, 3.0), (-np.inf, 3.0)),
    (lambda g: g.copy(), (-np.inf, np.inf)),
    (np.abs, None),
    (lambda g: np.maximum(g, 0.0) * 1.0000001, None),
    (lambda g: np.maximum(g, np.arange(g.shape[-1])), None),  # a bound per neuron: not one interval
])
def test_interval_steps_are_read_off_by_probing(function, bounds):
    step = StateStep("step", "gains", function)
    assert interval_bounds(step, (2, 5)) == bounds


class _AbsoluteGains(GainWhitening):
    name = "test-absolute-gains"

    def state_steps(self):
        return [StateStep("absolute-gains", "gains", np.abs)]


def test_a_step_that_is_not_an_interval_runs_chunked_with_the_reason():
    circuit, substrate, batch = _clamped(1, cls=_AbsoluteGains)
    reason = compiled_support(circuit)
    assert reason and "absolute-gains" in reason
    result = substrate.learning_run(circuit, batch[0:6], 3)
    assert result["codegen"] == "numpy" and reason in result["codegen_reason"]


@pytest.mark.slow
def test_clamped_gains_on_standalone_equal_the_runtime_path(tmp_path, monkeypatch):
    if "cpp_standalone" not in available_targets():
        pytest.skip("cpp_standalone needs a C++ compiler")
    monkeypatch.setenv("BIOPLAUSIBLE_CACHE_DIR", str(tmp_path))
    for seed, initial in ((4, 0.05), (9, -0.2)):  # the second re-uses the binary
        circuit, substrate, batch = _clamped(seed, initial=initial)
        substrate.learn(circuit, batch, 1, 0)
        expected = circuit.state["gains"].copy()
        circuit, substrate, batch = _clamped(seed, "cpp_standalone", initial=initial)
        assert substrate.learning_run(circuit, batch, 10)["codegen"] == "cpp_standalone"
        np.testing.assert_allclose(circuit.state["gains"], expected, rtol=0, atol=1e-12)


@pytest.mark.slow
def test_multi_timescale_on_spikes_learns_the_basis_as_rate_does():
    """The NeurIPS synthetic setting (N = L = K = 2, η_g = 5e-2, η_w = 1e-4, 64 basis contexts)
    for 64 presentations of 512 samples, four seeds, on rate and on spikes (one run in generated
    code, r0 T = 20). Measured (stop 26): distance of W to V from 1.163 / 1.016 / 1.151 / 0.467
    to 0.624 / 0.050 / 0.595 / 0.009 on rate and 0.629 / 0.038 / 0.572 / 0.014 on spikes (the
    full 1,024 presentations recover V in 8 of 8 seeds on both: benchmarks/multi_timescale_speed.py).
    Asserted: the median distance halves on both and the substrates end within 0.06 per seed."""
    import bioplausible as bpl
    from bioplausible.tasks import StatisticalAdaptation

    if "cpp_standalone" not in available_targets():
        pytest.skip("the 13 M-step run needs cpp_standalone (a C++ compiler)")
    distances = {}
    for substrate in ("rate", "spiking"):
        task = StatisticalAdaptation(n_inputs=2, n_contexts=64, contexts="basis", schedule="random",
                                     samples_per_context=512, n_blocks=64)
        circuit = MultiTimescaleWhitening(n_interneurons=2, gain_rate=5e-2, synapse_rate=1e-4)
        options = {"rate_unit": 200.0, "presentation": 0.1, "dt": 2.5e-4} if substrate == "spiking" else None
        result = bpl.run(circuit, task, substrate, seeds=[0, 1, 2, 3], steps=64 * 512, eval_every=16 * 512,
                         progress=False, substrate_options=options)
        if substrate == "spiking":
            assert result.dataset.attrs["learning_run"] == "one run in generated code"
        distances[substrate] = result.metrics["basis_distance"].values
    for distance in distances.values():
        assert np.median(distance[:, -1]) < np.median(distance[:, 0]) / 2, distance
    assert np.abs(distances["spiking"][:, -1] - distances["rate"][:, -1]).max() < 0.06, distances


@pytest.mark.parametrize("circuit_of", [lambda: MultiTimescaleWhitening(n_interneurons=2),
                                        lambda: GainWhitening(learning_rate=0.05, n_interneurons=3)],
                         ids=["multi-timescale", "gain"])
@pytest.mark.parametrize(("presentations", "every"), [(7, 3), (5, 10), (6, 3)])
def test_a_run_whose_length_is_not_a_multiple_of_its_interval_checkpoints_its_end(circuit_of, presentations, every):
    """In generated code as on the chunked path: the checkpoints after 0, e, 2e, … updates and
    after the last (a shorter last interval), the same steps and the same states."""
    results = []
    for compiled in (True, False):
        circuit = circuit_of().initialize(2, 0, [0])
        substrate = SpikingSubstrate(presentation=0.02, dt=5e-4, rate_unit=60.0, codegen="numpy",
                                     compiled_runs=compiled)
        substrate.prepare(circuit, 3)
        results.append(substrate.learning_run(
            circuit, Batch(np.random.default_rng(2).standard_normal((1, presentations, 2))), every))
    whole, chunked = results
    expected = sorted({*range(0, presentations, every), presentations})
    np.testing.assert_array_equal(whole["checkpoint_steps"], expected)
    np.testing.assert_array_equal(chunked["checkpoint_steps"], expected)
    for state, history in whole["checkpoints"].items():
        assert history.shape[0] == len(expected)
        np.testing.assert_allclose(history, chunked["checkpoints"][state], rtol=0, atol=1e-12)
