"""Separation learning runs in Brian2's generated code (issue 17): CorInfoMax (nonnegative
antisparse) with its two plastic matrices (W from the input, the lateral B_y), the dendritic
prediction ŷ = W x and the rule's summed z = B_y y computed in generated code, the thresholds
A_ii = γ_e B_e,ii − γ_y B_y,ii derived from B_y and the rate cap as a refractory period,
agrees with the runtime path that calls the rules between presentations; what stays refused
says why."""

from __future__ import annotations

import numpy as np
import pytest

from bioplausible.circuits import Batch, CorInfoMax
from bioplausible.circuits.base import make_circuit
from bioplausible.substrates.spiking import SpikingSubstrate
from bioplausible.substrates.spiking.compiled import available_targets, compiled_support

pytest.importorskip("brian2")

STATES = ("feedforward", "lateral")


def _corinfomax(seed: int, codegen: str = "numpy", presentations: int = 30, **params):
    options = {"n_sources": 3, "learning_rate": 0.1, "error_lateral": 200.0, **params}
    circuit = CorInfoMax(**options).initialize(6, 0, [seed, seed + 1])
    substrate = SpikingSubstrate(presentation=0.02, dt=1e-3, rate_unit=500.0, codegen=codegen)
    substrate.prepare(circuit, seed)
    rng = np.random.default_rng(seed)
    batch = Batch(rng.uniform(0.0, 1.0, (2, presentations, 3)) @ rng.standard_normal((3, 6)))
    return circuit, substrate, batch


def _runtime(seed: int, presentations: int = 30, first: int | None = None, **params) -> dict[str, np.ndarray]:
    circuit, substrate, batch = _corinfomax(seed, presentations=presentations, **params)
    substrate.learn(circuit, batch[0:first or presentations], 1, 0)
    return {k: circuit.state[k].copy() for k in STATES}


@pytest.mark.parametrize("seed", [3, 6])
def test_corinfomax_in_generated_code_equals_the_runtime_path(seed):
    expected = _runtime(seed)
    circuit, substrate, batch = _corinfomax(seed)
    assert compiled_support(circuit) is None and substrate.learning_run_reason(circuit) is None
    initial = {k: circuit.state[k].copy() for k in STATES}
    result = substrate.learning_run(circuit, batch, 10)
    assert result["codegen"] == "numpy" and circuit.steps == 30
    for key in STATES:
        assert np.abs(circuit.state[key] - initial[key]).max() > 0.1  # both matrices learned
        # same spikes, the rules' arithmetic in another order: equal to rounding
        np.testing.assert_allclose(circuit.state[key], expected[key], rtol=0, atol=1e-11)
    np.testing.assert_array_equal(circuit.state["error_lateral"], 200.0 * np.eye(3)[None].repeat(2, 0))
    checkpoints = result["checkpoints"]
    assert checkpoints["feedforward"].shape == (4, 2, 3, 6) and checkpoints["lateral"].shape == (4, 2, 3, 3)
    np.testing.assert_array_equal(result["checkpoint_steps"], [0, 10, 20, 30])
    for key in STATES:
        np.testing.assert_array_equal(checkpoints[key][0], initial[key])
        np.testing.assert_array_equal(checkpoints[key][-1], circuit.state[key])
    middle = _runtime(seed, first=10)
    np.testing.assert_allclose(checkpoints["lateral"][1], middle["lateral"], rtol=0, atol=1e-11)


def test_corinfomax_rate_cap_binds_in_generated_code():
    """With a strong drive the outputs reach the ceiling y = 1: the refractory period caps the
    counts at r0 T in both paths, so the learned matrices still agree."""
    circuit, substrate, batch = _corinfomax(4, presentations=12)
    batch = Batch(batch.inputs * 4.0)
    reference, reference_substrate, _ = _corinfomax(4, presentations=12)
    reference_substrate.learn(reference, batch, 1, 0)
    outputs = reference_substrate.cache["fixed-point"].last_activities["output"]
    assert abs(outputs.max() - 1.0) < 1e-12  # the cap binds (and is never exceeded)
    substrate.learning_run(circuit, batch, 6)
    for key in STATES:
        assert np.all(np.isfinite(reference.state[key]))
        np.testing.assert_allclose(circuit.state[key], reference.state[key], rtol=1e-12, atol=1e-11)


def test_what_stays_refused_says_why():
    nica = make_circuit("nonnegative-ica", n_sources=3).initialize(6, 0, [0])
    reason = compiled_support(nica)
    assert reason and "state steps" in reason and "silent-row-flip" in reason and "never idle" in reason
    substrate = SpikingSubstrate(presentation=0.02, dt=1e-3, rate_unit=100.0, codegen="auto")
    assert substrate.supports(nica) is None  # it runs on spikes, on the chunked path
    assert reason in substrate.learning_run_reason(nica)
    assert substrate.pick_codegen(nica, 100)[0] == "runtime"
    exact = CorInfoMax(n_sources=3, lateral_update="sherman-morrison").initialize(6, 0, [0])
    why = compiled_support(exact)
    assert why and "2 plastic arrays" in why and "per-sample total (q)" in why


def test_corinfomax_parameters_change_the_compiled_run_like_the_runtime_one():
    """Coefficients (γ_e B_e in the drive, A_ii in the thresholds) and the rules' parameters are
    per-run values: another setting gives the runtime path's result for that setting."""
    options = {"learning_rate": 0.05, "error_lateral": 150.0}
    expected = _runtime(5, presentations=20, **options)
    circuit, substrate, batch = _corinfomax(5, presentations=20, **options)
    substrate.learning_run(circuit, batch, 20)
    for key in STATES:
        np.testing.assert_allclose(circuit.state[key], expected[key], rtol=0, atol=1e-11)


@pytest.mark.slow
def test_corinfomax_on_standalone_reuses_one_binary_for_other_parameters(tmp_path, monkeypatch):
    if "cpp_standalone" not in available_targets():
        pytest.skip("cpp_standalone needs a C++ compiler")
    monkeypatch.setenv("BIOPLAUSIBLE_CACHE_DIR", str(tmp_path))
    runs = [(3, {}), (3, {}), (5, {"learning_rate": 0.05, "error_lateral": 150.0})]
    for seed, options in runs:
        circuit, substrate, batch = _corinfomax(seed, codegen="cpp_standalone", **options)
        assert substrate.learning_run(circuit, batch, 10)["codegen"] == "cpp_standalone"
        expected = _runtime(seed, **options)
        for key in STATES:
            np.testing.assert_allclose(circuit.state[key], expected[key], rtol=0, atol=1e-11)
    assert len([p for p in tmp_path.glob("brian2_standalone/*") if p.name != "pch"]) == 1  # one build, three runs
    # as a new process would: the binary is found on disk and run without generating code again
    from bioplausible.substrates.spiking import compiled

    compiled._STANDALONE.clear()
    circuit, substrate, batch = _corinfomax(6, codegen="cpp_standalone")
    result = substrate.learning_run(circuit, batch, 10)
    assert not compiled._STANDALONE  # nothing was built in this process
    expected = _runtime(6)
    for key in STATES:
        np.testing.assert_allclose(circuit.state[key], expected[key], rtol=0, atol=1e-11)
        np.testing.assert_array_equal(result["checkpoints"][key][-1], circuit.state[key])


def test_auto_finds_a_cached_build_for_the_runs_checkpoint_interval(tmp_path, monkeypatch):
    """The standalone build is keyed by the checkpoint interval too: ``auto`` looks for the
    build of the interval the run asks for (a build for another interval is not this one)."""
    if "cpp_standalone" not in available_targets():
        pytest.skip("cpp_standalone needs a C++ compiler")
    from bioplausible.substrates.spiking.compiled import compiled_learning, standalone_cache_dir

    monkeypatch.setenv("BIOPLAUSIBLE_CACHE_DIR", str(tmp_path))
    circuit, substrate, _ = _corinfomax(3, codegen="auto")
    assert substrate.pick_codegen(circuit, 30, 10)[0] == "numpy"  # 30 presentations do not pay for a build
    key = compiled_learning(substrate, circuit, 30, 10, "cpp_standalone").key()
    (standalone_cache_dir() / key).mkdir(parents=True)
    assert substrate.pick_codegen(circuit, 30, 10) == ("cpp_standalone", "standalone build cached on disk")
    assert substrate.pick_codegen(circuit, 30, 5)[0] == "numpy"


def test_a_rate_cap_dt_cannot_realise_is_refused_in_generated_code_too():
    circuit, _, batch = _corinfomax(3, presentations=4)
    substrate = SpikingSubstrate(presentation=0.02, dt=3e-4, rate_unit=500.0)
    substrate.prepare(circuit, 3)
    with pytest.raises(ValueError, match="ceiling 1 .* rate cap of 500 Hz .* choose dt dividing 2 ms"):
        substrate.learning_run(circuit, batch, 2)
