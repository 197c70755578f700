"""NSM learning inside Brian2's generated code (issue 17, :mod:`~bioplausible.substrates.spiking.compiled_phased`):
its rates D as a neuron rule on the output group, W₁ from the prewhitened input ``h = W_pre x``,
W₂ lateral, the warm-up (prewhitening and the silent-row heuristic) on the chunked path."""

from __future__ import annotations

import numpy as np
import pytest

from bioplausible.circuits import Batch, NonnegativeSimilarityMatching
from bioplausible.circuits.base import CIRCUITS, make_circuit
from bioplausible.rules.declaration import apply_step, idle_steps, phases, samples_until_idle
from bioplausible.substrates.spiking import SpikingSubstrate
from bioplausible.substrates.spiking.compiled import compiled_support
from bioplausible.substrates.spiking.compiled_phased import PhasedCompiledLearning

STATES = ("feedforward", "lateral", "rates", "seen", "silent", "prewhitening", "input_sum", "input_moment")


def _nsm(compiled: bool, codegen: str = "numpy", n: int = 3, m: int = 4, presentations: int = 160, seed: int = 0,
         members: int = 1, **params):
    rng = np.random.default_rng(seed + 100)
    mixing = rng.standard_normal((m, n))
    sources = (rng.uniform(size=(members, presentations, n)) < 0.5) * rng.uniform(size=(members, presentations, n))
    settings = {"prewhitening_samples": 40, "silent_window": 30, "silent_samples": 5, **params}
    circuit = NonnegativeSimilarityMatching(n_sources=n, **settings).initialize(m, 0, list(range(seed, seed + members)))
    substrate = SpikingSubstrate(rate_unit=200.0, presentation=0.05, dt=1e-3, codegen=codegen, compiled_runs=compiled)
    substrate.prepare(circuit, seed)
    return circuit, substrate, Batch(sources @ mixing.T)


@pytest.mark.parametrize("members, every", [(1, 20), (2, 20), (1, 50)])
def test_nsm_in_generated_code_equals_the_chunked_path(members, every):
    """The first 40 + 30 presentations (prewhitening, silent-row window) run on the chunked path,
    the rest as one run in generated code; every state array equals the chunked path's (all
    Python between presentations, every presentation simulated) at the end and at every
    checkpoint. Measured: 3e-16 on numpy, 2e-14 on cpp_standalone (the slow twin)."""
    circuit, substrate, batch = _nsm(True, members=members)
    reference, reference_substrate, _ = _nsm(False, members=members)
    result = substrate.learning_run(circuit, batch, every)
    expected = []  # every presentation simulated, Python between them (no learning_run)
    for start in range(0, batch.size, every):
        reference_substrate.learn(reference, batch[start: start + every], 1, reference.steps)
        expected.append({key: reference.state[key].copy() for key in STATES})
    # the warm-up ends at 70, off the checkpoint grid: the compiled run records on a finer one
    assert result["codegen"] == "numpy" and "first 70 presentations on the chunked path" in result["codegen_reason"]
    assert "40 presentations simulated nothing" in result["codegen_reason"]  # the prewhitening phase
    # every interval's end, and the run's end after a shorter last interval, as on the chunked path
    np.testing.assert_array_equal(result["checkpoint_steps"], sorted({*range(0, batch.size, every), batch.size}))
    assert circuit.steps == reference.steps == batch.size
    for key in STATES:
        np.testing.assert_allclose(circuit.state[key], reference.state[key], rtol=1e-12, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(result["checkpoints"][key][1:], np.stack([e[key] for e in expected]),
                                   rtol=1e-12, atol=1e-12, err_msg=key)
    assert np.abs(circuit.state["lateral"]).max() > 0.05  # it learned in the compiled stretch
    assert np.abs(circuit.state["feedforward"] - result["checkpoints"]["feedforward"][80 // every]).max() > 1e-3


def test_a_run_after_the_warm_up_is_one_run_in_generated_code():
    """Resumed past its warm-up, a learning run makes no presentation on the chunked path, and
    run(N) equals run(N/2) then run(N/2) (exact resume: the dither stream continues)."""
    whole, whole_substrate, batch = _nsm(True, presentations=200)
    split, split_substrate, _ = _nsm(True, presentations=200)
    whole_substrate.learning_run(whole, batch, 20)
    split_substrate.learning_run(split, batch[:100], 20)
    assert samples_until_idle(split.state, split.state_steps()) == 0
    result = split_substrate.learning_run(split, batch[100:], 20)
    assert "chunked" not in result["codegen_reason"]
    for key in STATES:
        np.testing.assert_allclose(split.state[key], whole.state[key], rtol=1e-12, atol=1e-12, err_msg=key)


def test_the_compiled_run_refuses_a_start_before_the_warm_up_ends():
    circuit, substrate, batch = _nsm(True)
    run = PhasedCompiledLearning(substrate, circuit, batch.size, 20, "numpy")
    with pytest.raises(ValueError, match=r"not idle yet \(70 more samples\)"):
        run.run(batch)


def test_what_stays_refused_says_why():
    """Bio-NICA's running means and resets are never idle: refused in one line naming them."""
    nica = make_circuit("nonnegative-ica", n_sources=3).initialize(6, 0, [0])
    reason = compiled_support(nica)
    assert reason and "never idle" in reason and "mean-inputs" in reason
    assert compiled_support(NonnegativeSimilarityMatching(n_sources=3).initialize(5, 0, [0])) is None


def test_declared_idle_steps_leave_the_state_unchanged():
    """Every registered separation circuit's steps with an ``active`` window, run in an update's order
    (phase by phase, the samplewise counters among them) on random arrays with the counters at
    and past the declared values, leave their arrays unchanged."""
    checked = 0
    for name, cls in CIRCUITS.items():
        if cls.family != "separation":
            continue
        circuit = make_circuit(name).initialize(10, 0, [0, 1])
        steps = circuit.state_steps()
        idle = [s for s in steps if s.active is not None]
        if not idle:
            continue
        rng = np.random.default_rng(1)
        for past in (0, 17):
            state = {k: rng.standard_normal(np.shape(v)) for k, v in circuit.state.items()}
            for s in idle:
                counter, _, value = s.active
                state[counter] = np.maximum(state[counter], np.full(np.shape(state[counter]), value + past))
            assert idle_steps(state, steps) == idle
            activities = {p.name: rng.uniform(0, 1, (2, 3, p.size)) for p in circuit.populations()}
            activities = dict(circuit.rule_activities(activities, Batch(activities["mixtures"])))
            before = {s.state: state[s.state].copy() for s in idle}
            for _, stepped in phases([], steps):
                for s in stepped:
                    apply_step(state, s, activities)
            for s in idle:
                np.testing.assert_array_equal(state[s.state], before[s.state], err_msg=f"{name}: {s.name}")
                checked += 1
    assert checked >= 12


@pytest.mark.slow
def test_nsm_on_standalone_equals_the_chunked_path(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOPLAUSIBLE_CACHE_DIR", str(tmp_path))
    circuit, substrate, batch = _nsm(True, codegen="cpp_standalone")
    reference, reference_substrate, _ = _nsm(False)
    result = substrate.learning_run(circuit, batch, 20)
    for start in range(0, batch.size, 20):
        reference_substrate.learn(reference, batch[start: start + 20], 1, reference.steps)
    assert result["codegen"] == "cpp_standalone" and "(numpy:" in result["codegen_reason"]
    for key in STATES:
        np.testing.assert_allclose(circuit.state[key], reference.state[key], rtol=1e-9, atol=1e-9, err_msg=key)
    assert not list(tmp_path.rglob("*.tmp"))


def test_saturated_units_are_reported_on_both_paths():
    """A unit fires at most once per time step, so activities above 1/(r0 dt) (= 5 here) are
    clipped: the chunked path and the run in generated code each warn once, naming the
    population and the bound; an unsaturated run does not warn."""
    import warnings

    from bioplausible.errors import SaturationWarning

    circuit, substrate, batch = _nsm(True, presentations=200)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SaturationWarning)
        substrate.learning_run(circuit, batch[:100], 20)  # the warm-up, then generated code: no saturation
    loud = Batch(batch.inputs[:, 100:] * 40.0)
    with pytest.warns(SaturationWarning, match=r"units of 'output' fired at every time step .* = 5 was clipped"):
        result = substrate.learning_run(circuit, loud, 20)
    assert "chunked" not in result["codegen_reason"]  # the warning came from the generated code's count
    chunked, chunked_substrate, _ = _nsm(False, presentations=200)
    with pytest.warns(SaturationWarning) as record:
        chunked_substrate.learn(chunked, Batch(batch.inputs * 40.0), 1, 0)
    assert len([w for w in record if issubclass(w.category, SaturationWarning)]) == 1  # once per prepare


def test_state_step_declarations_are_checked():
    from bioplausible.rules.declaration import StateStep

    with pytest.raises(ValueError, match="active must be"):
        StateStep("count", "seen", np.abs, active=("seen", 10.0, 5.0))
    with pytest.raises(TypeError, match="samplewise must be a bool"):
        StateStep("count", "seen", np.abs, samplewise=1)  # type: ignore[arg-type]
