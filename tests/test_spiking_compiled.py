"""Whole learning runs in Brian2's generated code (issue 17): the compiled run (stimulus and
dither TimedArrays, the rule's Brian2 form at boundaries, weights and thresholds derived from
the plastic matrix inside Brian2, checkpoints by a monitor) agrees with the runtime path that
calls the rule between presentations, on every target."""

from __future__ import annotations

import numpy as np
import pytest

from bioplausible.circuits import Batch, DirectWhitening, GainWhitening, InterneuronWhitening
from bioplausible.substrates.spiking import SpikingSubstrate
from bioplausible.substrates.spiking.compiled import available_targets, compiled_support

pytest.importorskip("brian2")

MIXING = np.array([[1.0, 0.4, 0.0], [0.0, 0.8, 0.3], [0.2, 0.0, 0.6]])


def _setup(seed: int, codegen: str = "numpy", presentations: int = 30):
    circuit = DirectWhitening(learning_rate=0.05).initialize(3, 0, [seed, seed + 1])
    substrate = SpikingSubstrate(presentation=0.02, dt=5e-4, rate_unit=50.0, codegen=codegen)
    substrate.prepare(circuit, seed)
    batch = Batch(np.random.default_rng(seed).standard_normal((2, presentations, 3)) @ MIXING.T)
    return circuit, substrate, batch


def _runtime_path(seed: int, presentations: int = 30) -> np.ndarray:
    circuit, substrate, batch = _setup(seed)
    substrate.learn(circuit, batch[0:presentations], 1, 0)
    return circuit.state["recurrent"]


@pytest.mark.parametrize("seed", [3, 8])
def test_compiled_run_on_numpy_equals_the_runtime_path(seed):
    expected = _runtime_path(seed)
    circuit, substrate, batch = _setup(seed)
    initial = circuit.state["recurrent"].copy()
    result = substrate.learning_run(circuit, batch, 10)
    assert result["codegen"] == "numpy" and substrate.config()["codegen_used"] == "numpy"
    assert circuit.steps == 30
    assert not np.allclose(circuit.state["recurrent"], initial)  # it learned
    # same spikes, same arithmetic order in the rule: equal to rounding
    np.testing.assert_allclose(circuit.state["recurrent"], expected, rtol=0, atol=1e-12)
    checkpoints = result["checkpoints"]["recurrent"]
    assert checkpoints.shape == (4, 2, 3, 3)
    np.testing.assert_array_equal(result["checkpoint_steps"], [0, 10, 20, 30])
    np.testing.assert_array_equal(checkpoints[0], initial)
    np.testing.assert_array_equal(checkpoints[-1], circuit.state["recurrent"])
    np.testing.assert_allclose(checkpoints[1], _runtime_path(seed, presentations=10), atol=1e-12)


def test_auto_picks_numpy_for_short_runs_and_says_why():
    circuit, substrate, batch = _setup(1, codegen="auto", presentations=12)
    target, why = substrate.pick_codegen(circuit, 12)
    if (target, why) == ("cpp_standalone", "standalone build cached on disk"):
        pytest.skip("a standalone build of this architecture is cached in this user's cache")
    assert target == "numpy" and why
    result = substrate.learning_run(circuit, batch, 4)
    assert result["codegen"] == "numpy" and substrate.config()["codegen_used"] == "numpy"
    assert substrate.pick_codegen(circuit, 10**6)[0] == ("cpp_standalone" if "cpp_standalone" in
                                                          available_targets() else "numpy")


class _SquaredGains(GainWhitening):
    """A declared step after each update that is neither idle nor a form generated code realises."""

    name = "test-squared-gains"

    def state_steps(self):
        from bioplausible.rules.declaration import StateStep

        return [StateStep("squared-gains", "gains", np.square)]


def test_circuits_outside_compiled_runs_fall_back_with_the_reason():
    circuit = _SquaredGains(n_interneurons=6).initialize(3, 0, [0])
    reason = compiled_support(circuit)
    assert reason and "squared-gains" in reason and "never idle" in reason  # a step with no Brian2 form
    substrate = SpikingSubstrate(presentation=0.02, dt=5e-4, rate_unit=50.0, codegen="auto")
    substrate.prepare(circuit, 0)
    result = substrate.learning_run(circuit, Batch(np.random.default_rng(0).standard_normal((1, 6, 3))), 3)
    assert result["codegen"] == "numpy" and reason in result["codegen_reason"]
    assert result["checkpoints"]["gains"].shape[0] == 3 and circuit.steps == 6


def _gains(seed: int, codegen: str = "numpy", presentations: int = 30):
    circuit = GainWhitening(learning_rate=0.02, n_interneurons=6).initialize(3, 0, [seed, seed + 1])
    substrate = SpikingSubstrate(presentation=0.02, dt=5e-4, rate_unit=50.0, codegen=codegen)
    substrate.prepare(circuit, seed)
    return circuit, substrate, Batch(np.random.default_rng(seed).standard_normal((2, presentations, 3)) @ MIXING.T)


@pytest.mark.parametrize("seed", [4, 9])
def test_gain_whitening_in_generated_code_equals_the_runtime_path(seed):
    """A neuron rule in generated code: the interneurons' gains g as a group variable updated
    by the rule's Brian2 form, the feedback weights ``−W diag(g)`` as ``v_post += c · g_pre``
    and the principal biases as a summed variable of g."""
    circuit, substrate, batch = _gains(seed)
    assert compiled_support(circuit) is None
    substrate.learn(circuit, batch, 1, 0)
    expected = circuit.state["gains"].copy()
    circuit, substrate, batch = _gains(seed)
    initial = circuit.state["gains"].copy()
    result = substrate.learning_run(circuit, batch, 10)
    assert result["codegen"] == "numpy" and circuit.steps == 30
    assert np.abs(circuit.state["gains"] - initial).max() > 0.05  # it learned
    np.testing.assert_allclose(circuit.state["gains"], expected, rtol=0, atol=1e-12)
    checkpoints = result["checkpoints"]["gains"]
    assert checkpoints.shape == (4, 2, 6)
    np.testing.assert_array_equal(checkpoints[0], initial)
    np.testing.assert_array_equal(checkpoints[-1], circuit.state["gains"])


@pytest.mark.slow
def test_gain_whitening_on_standalone_equals_the_runtime_path(tmp_path, monkeypatch):
    if "cpp_standalone" not in available_targets():
        pytest.skip("cpp_standalone needs a C++ compiler")
    monkeypatch.setenv("BIOPLAUSIBLE_CACHE_DIR", str(tmp_path))
    circuit, substrate, batch = _gains(4)
    substrate.learn(circuit, batch, 1, 0)
    expected = circuit.state["gains"].copy()
    circuit, substrate, batch = _gains(4, codegen="cpp_standalone")
    assert substrate.learning_run(circuit, batch, 10)["codegen"] == "cpp_standalone"
    np.testing.assert_allclose(circuit.state["gains"], expected, rtol=0, atol=1e-12)


@pytest.mark.slow
def test_one_standalone_build_serves_other_frames(tmp_path, monkeypatch):
    """The fixed weights the structure gives the network (here each seed's random frame W) are
    per-run values: a second seed re-runs the same binary and still equals its runtime path."""
    if "cpp_standalone" not in available_targets():
        pytest.skip("cpp_standalone needs a C++ compiler")
    monkeypatch.setenv("BIOPLAUSIBLE_CACHE_DIR", str(tmp_path))
    from bioplausible.substrates.spiking import compiled

    for seed in (4, 9):
        circuit, substrate, batch = _gains(seed)
        substrate.learn(circuit, batch, 1, 0)
        expected = circuit.state["gains"].copy()
        circuit, substrate, batch = _gains(seed, codegen="cpp_standalone")
        assert substrate.learning_run(circuit, batch, 10)["codegen"] == "cpp_standalone"
        np.testing.assert_allclose(circuit.state["gains"], expected, rtol=0, atol=1e-12)
        compiled._STANDALONE.clear()  # the second seed: the binary found on disk, no code generated
    assert len([p for p in tmp_path.glob("brian2_standalone/*") if p.name != "pch"]) == 1  # pch: the headers
    assert not compiled._STANDALONE


def _interneuron(seed: int, interneurons: int, presentations: int = 30, codegen: str = "numpy"):
    circuit = InterneuronWhitening(learning_rate=0.05, leak=0.5, n_interneurons=interneurons).initialize(
        3, 0, [seed, seed + 1])
    substrate = SpikingSubstrate(presentation=0.02, dt=5e-4, rate_unit=50.0, codegen=codegen)
    substrate.prepare(circuit, seed)
    return circuit, substrate, Batch(np.random.default_rng(seed).standard_normal((2, presentations, 3)) @ MIXING.T)


@pytest.mark.parametrize("interneurons", [3, 5])
def test_interneuron_whitening_in_generated_code_equals_the_runtime_path(interneurons):
    """Two populations joined by one plastic matrix: Wᵀ on the forward pathway (principal →
    interneuron), −W on the backward one (``on_post``), biases as summed variables; the
    stored W (principal × interneuron) is the transpose of the rule's target."""
    circuit, substrate, batch = _interneuron(4, interneurons)
    assert compiled_support(circuit) is None
    substrate.learn(circuit, batch, 1, 0)
    expected = circuit.state["synapses"].copy()
    circuit, substrate, batch = _interneuron(4, interneurons)
    initial = circuit.state["synapses"].copy()
    result = substrate.learning_run(circuit, batch, 15)
    assert result["codegen"] == "numpy" and circuit.steps == 30
    assert np.abs(circuit.state["synapses"] - initial).max() > 0.1  # it learned
    np.testing.assert_allclose(circuit.state["synapses"], expected, rtol=0, atol=1e-12)
    checkpoints = result["checkpoints"]["synapses"]
    assert checkpoints.shape == (3, 2, 3, interneurons)
    np.testing.assert_array_equal(checkpoints[0], initial)
    np.testing.assert_array_equal(checkpoints[-1], circuit.state["synapses"])


def test_bad_codegen_and_standalone_on_the_runtime_path():
    with pytest.raises(ValueError, match="codegen"):
        SpikingSubstrate(codegen="cuda")
    circuit, substrate, batch = _setup(0, codegen="cpp_standalone", presentations=4)
    with pytest.raises(ValueError, match="learning_run"):
        substrate.learn(circuit, batch, 1, 0)
    with pytest.raises(ValueError, match="checkpoint_every"):
        substrate.learning_run(circuit, batch, 0)


@pytest.mark.slow
@pytest.mark.parametrize("codegen", ["cpp_standalone", "cython"])
def test_compiled_run_on_compiled_targets_equals_the_runtime_path(codegen, compiled_target):
    expected = _runtime_path(3)
    results = []
    for seed in (3, 3, 8):  # the second run re-uses the build (standalone: run_args only)
        circuit, substrate, batch = _setup(seed, codegen=codegen)
        result = substrate.learning_run(circuit, batch, 10)
        assert result["codegen"] == codegen
        results.append(circuit.state["recurrent"])
    # -ffast-math may reorder the rule's arithmetic: equal to a few ulps, same spikes
    np.testing.assert_allclose(results[0], expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_allclose(results[2], _runtime_path(8), rtol=0, atol=1e-12)


def test_compiled_runs_resume_exactly():
    """run(N) equals run(N/2) then run(N/2) on the same substrate: at a boundary the plastic
    matrix and the substrate's generator (the dither stream) are the whole state."""
    circuit, substrate, batch = _setup(5, presentations=20)
    substrate.learning_run(circuit, batch, 5)
    whole = circuit.state["recurrent"].copy()
    circuit, substrate, batch = _setup(5, presentations=20)
    substrate.learning_run(circuit, batch[0:10], 5)
    second = substrate.learning_run(circuit, batch[10:20], 5)
    assert circuit.steps == 20
    np.testing.assert_array_equal(second["checkpoint_steps"], [10, 15, 20])
    np.testing.assert_array_equal(circuit.state["recurrent"], whole)


def _adaptation_run(circuit, compiled: bool, **options):
    import json

    from bioplausible import run
    from bioplausible.tasks import make_task

    task = make_task("adaptation", n_inputs=3, n_contexts=2, samples_per_context=20)
    result = run(circuit, task, "spiking", seeds=[0, 1], steps=40, eval_every=15, progress=False,
                 substrate_options={"rate_unit": 50.0, "presentation": 0.02, "dt": 5e-4, "compiled_runs": compiled},
                 **options)
    return result.dataset, json.loads(result.dataset.attrs["substrate"])


def test_the_runner_runs_a_whole_learning_run_in_generated_code():
    """run() on spikes learns in one Brian2 run where the circuit allows it, scores the
    checkpoints afterwards (the last interval shorter than eval_every) and says so in its
    attrs; the result equals the chunked path's."""
    whole, config = _adaptation_run(InterneuronWhitening(learning_rate=0.05, leak=0.25), True)
    chunked, _ = _adaptation_run(InterneuronWhitening(learning_rate=0.05, leak=0.25), False)
    assert whole.attrs["learning_run"] == "one run in generated code"
    assert config["codegen"] == "auto" and config["codegen_used"] in available_targets() and config["codegen_reason"]
    assert chunked.attrs["learning_run"].endswith("compiled_runs=False")
    np.testing.assert_array_equal(whole["step"], [0, 15, 30, 40])
    np.testing.assert_array_equal(whole["step"], chunked["step"])
    np.testing.assert_array_equal(whole["metric_context"], chunked["metric_context"])
    assert np.ptp(whole["metric_whitening_error"].values) > 0.01  # it learned
    np.testing.assert_allclose(whole["metric_whitening_error"], chunked["metric_whitening_error"], atol=1e-10)
    np.testing.assert_allclose(whole["final_state_synapses"], chunked["final_state_synapses"], atol=1e-12)


def test_the_runner_says_why_a_run_is_chunked():
    dataset, _ = _adaptation_run(DirectWhitening(learning_rate=0.05), True, probes=["principal"])
    assert "probes of populations ['principal']" in dataset.attrs["learning_run"]
    assert np.isfinite(dataset["activity_principal"].values[:, 1:]).all()


@pytest.mark.slow
def test_interneuron_whitening_on_standalone_equals_the_runtime_path(tmp_path, monkeypatch):
    """The backward pathway (``on_post``) and the presynaptic summed bias in a standalone binary."""
    if "cpp_standalone" not in available_targets():
        pytest.skip("cpp_standalone needs a C++ compiler")
    monkeypatch.setenv("BIOPLAUSIBLE_CACHE_DIR", str(tmp_path))
    circuit, substrate, batch = _interneuron(6, 4)
    substrate.learn(circuit, batch, 1, 0)
    expected = circuit.state["synapses"].copy()
    circuit, substrate, batch = _interneuron(6, 4, codegen="cpp_standalone")
    assert substrate.learning_run(circuit, batch, 10)["codegen"] == "cpp_standalone"
    np.testing.assert_allclose(circuit.state["synapses"], expected, rtol=0, atol=1e-12)


def _resumed(circuit_of, codegen: str, compiled: bool, state: str):
    """``run`` for 24 steps, and for 12 then 12 more (a resumption: same seeds, same circuit)."""
    from bioplausible import run
    from bioplausible.tasks import make_task

    options = {"rate_unit": 50.0, "presentation": 0.02, "dt": 5e-4, "codegen": codegen, "compiled_runs": compiled}
    task = make_task("adaptation", n_inputs=3, n_contexts=2, samples_per_context=12)
    whole = circuit_of()
    run(whole, task, "spiking", seeds=[0, 1], steps=24, eval_every=6, progress=False, substrate_options=options)
    split = circuit_of()
    first = run(split, task, "spiking", seeds=[0, 1], steps=12, eval_every=6, progress=False,
                substrate_options=options)
    second = run(split, task, "spiking", seeds=[0, 1], steps=12, eval_every=6, progress=False,
                 substrate_options=options)
    assert split.steps == 24 and list(second.dataset["step"].values) == [12, 18, 24]
    assert not np.allclose(first.dataset[f"final_state_{state}"], second.dataset[f"final_state_{state}"])
    return whole.state[state], split.state[state]


@pytest.mark.parametrize("compiled", [True, False], ids=["generated-code", "chunked"])
def test_runs_on_spikes_resume_exactly(compiled):
    """run(N) equals run(N/2) then a resumed run(N/2) for the same target and seed: the
    resumed run advances the dither generator past the presentations already learned from."""
    whole, split = _resumed(lambda: GainWhitening(learning_rate=0.02, n_interneurons=6), "numpy", compiled, "gains")
    np.testing.assert_array_equal(split, whole)


@pytest.mark.slow
def test_runs_on_standalone_resume_exactly(tmp_path, monkeypatch):
    if "cpp_standalone" not in available_targets():
        pytest.skip("cpp_standalone needs a C++ compiler")
    monkeypatch.setenv("BIOPLAUSIBLE_CACHE_DIR", str(tmp_path))
    whole, split = _resumed(lambda: DirectWhitening(learning_rate=0.05), "cpp_standalone", True, "recurrent")
    np.testing.assert_array_equal(split, whole)


@pytest.mark.slow
def test_cython_compiles_the_runtime_network_once_for_every_chunk_length_and_size(tmp_path):
    """No shape in the generated code (inputs are written at boundaries, not a TimedArray)
    and names that repeat from run to run: the cython modules of the first run serve runs of
    other chunk lengths, ensemble sizes and input sizes (cold: ≈ 80 s for 20 modules here)."""
    if "cython" not in available_targets():
        pytest.skip("cython needs a C++ compiler")
    cache = tmp_path / "cython"

    def modules() -> int:
        return len(list(cache.rglob("*.so")))

    counts = []
    for members, n, chunk in [(1, 3, 5), (2, 3, 9), (1, 4, 6)]:
        circuit = DirectWhitening(learning_rate=0.01).initialize(n, 0, list(range(members)))
        substrate = SpikingSubstrate(presentation=0.02, dt=1e-3, rate_unit=50.0, codegen="cython", cache_dir=cache)
        substrate.prepare(circuit, 0)
        substrate.learn(circuit, Batch(np.random.default_rng(0).standard_normal((members, chunk, n))), 1, 0)
        substrate.learn(circuit, Batch(np.random.default_rng(1).standard_normal((members, chunk + 3, n))), 1, chunk)
        substrate.close()
        del substrate, circuit
        counts.append(modules())
    assert counts[0] > 0 and counts == [counts[0]] * 3, counts


def test_a_run_whose_checkpoint_falls_at_its_end_learns_every_presentation_every_time():
    """One checkpoint interval spanning the run (checkpoint_every = presentations, 40 steps
    each: the monitor's clock counts the run's end as its last tick). Brian2's runtime loop
    used to stop at the last boundary when it drew that clock among the clocks due there (a
    Python set, by memory address): the last update and checkpoint were lost in some runs of
    one process (3 of 12 measured). Six runs in a row now agree bitwise and each records its
    final checkpoint, the state it ends in."""
    finals = []
    for _ in range(6):
        circuit, substrate, batch = _setup(5, presentations=300)
        result = substrate.learning_run(circuit, batch, 300)
        assert list(result["checkpoint_steps"]) == [0, 300] and circuit.steps == 300
        np.testing.assert_array_equal(result["checkpoints"]["recurrent"][-1], circuit.state["recurrent"])
        finals.append(circuit.state["recurrent"])
    for final in finals[1:]:
        np.testing.assert_array_equal(final, finals[0])


def test_the_learning_network_decides_by_its_finest_due_clock():
    """A clock of 1 ms and five of 10 s due together at 10 s, the run ending 1 ms later: the
    slow clocks have reached their end (within Brian2's 10⁻⁴ dt), the fine one has not; the
    fine clock's step at 10 s runs every time (a plain ``Network`` stops before it whenever
    it draws a slow clock: most of these runs)."""
    import brian2 as b2

    from bioplausible.substrates.spiking.compiled import learning_network

    previous = b2.prefs.codegen.target
    b2.prefs.codegen.target = "numpy"
    try:
        for _ in range(4):
            fine = b2.NeuronGroup(1, "n : 1", dt=1 * b2.ms)
            fine.run_regularly("n += 1", dt=1 * b2.ms)
            slow = [b2.NeuronGroup(1, "m : 1", dt=10 * b2.second) for _ in range(5)]
            for group in slow:
                group.run_regularly("m += 1", dt=10 * b2.second)
            learning_network(b2, fine, *slow, name="test_learning_network*").run(10.001 * b2.second, namespace={})
            assert fine.n[0] == 10_001 and all(group.m[0] == 2 for group in slow)
    finally:
        b2.prefs.codegen.target = previous
