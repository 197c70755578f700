"""Mechanism tests of the integrate-and-fire substrate (shared/specs/spiking.md §6.1–4)."""

from dataclasses import dataclass

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.circuits import DirectWhitening
from bioplausible.circuits.base import Batch, Circuit, Connection, Parameters, Population
from bioplausible.substrates.spiking import SpikingSubstrate


@dataclass(frozen=True)
class _LateralParameters(Parameters):
    lateral: np.ndarray = None


class LateralInhibition(Circuit):
    """y = [x − L y]₊: nonnegative units with fixed lateral inhibition (no learning)."""

    name = "test-lateral-inhibition"
    family = "test"
    description = "test circuit"
    default_task = ""
    Parameters = _LateralParameters

    def populations(self):
        n = self.params.lateral.shape[0]
        return [Population("drive", n, role="input"), Population("units", n, offset=0.0)]

    def connections(self):
        return [Connection("drive", "units", kind="drive"), Connection("units", "units", kind="lateral")]

    def weights(self):
        n = self.params.lateral.shape[0]
        return {("drive", "units"): np.eye(n)[None], ("units", "units"): -self.params.lateral[None]}

    def initial_state(self, rng, n_inputs, n_targets):
        return {"unused": np.zeros(1)}

    def respond(self, inputs):
        return self.settle(inputs, step_size=0.05, tolerance=1e-12)

    def learn(self, activities, batch):
        self.recorded = activities


def _present(circuit, inputs, **options):
    substrate = SpikingSubstrate(**options)
    substrate.prepare(circuit, 0)
    recorded = []
    original = circuit.learn

    def spy(activities, batch):
        recorded.append({k: v.copy() for k, v in activities.items()})
        original(activities, batch)

    circuit.learn = spy
    substrate.learn(circuit, Batch(inputs), 1, 0)
    return recorded


def _lateral_task(seed=0):
    rng = np.random.default_rng(seed)
    factor = rng.uniform(0, 1, (40, 5))
    lateral = factor @ factor.T
    np.fill_diagonal(lateral, 0.0)
    lateral *= 0.8 / np.abs(np.linalg.eigvals(lateral)).max()
    drive = rng.uniform(-20, 80, 40) / 100.0  # b in Hz over r0 = 100 Hz
    return LateralInhibition(lateral=lateral).initialize(40, 0, [0]), drive[None, None, :]


@pytest.mark.parametrize("presentation,tolerance", [(1.0, 0.03), (0.25, 0.08)])
def test_lateral_inhibition_steady_state(presentation, tolerance):
    """Spec §6.1: counts match the rate fixed point within 3 % (T = 1 s) / 8 % (T = 0.25 s)."""
    circuit, drive = _lateral_task()
    exact = circuit.respond(drive)["units"][0, 0]
    counted = _present(circuit, drive, rate_unit=100.0, presentation=presentation, dt=1e-4)[0]["units"][0, 0]
    assert np.linalg.norm(counted - exact) / np.linalg.norm(exact) < tolerance


def test_offset_coded_whitening_steady_state():
    """Spec §6.2: y = (I+M)⁻¹x decoded from offset-coded IF counts, mean relative error < 10 % at T = 1 s."""
    rng = np.random.default_rng(0)
    samples = rng.standard_normal((10, 30)) * np.linspace(0.3, 1.5, 10)[:, None]
    covariance = np.cov(samples)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    root = (eigenvectors * np.sqrt(eigenvalues)) @ eigenvectors.T  # I + M with M = C^{1/2} − I
    circuit = DirectWhitening(learning_rate=1e-12, spike_offset=1.5).initialize(10, 0, [0])
    circuit.state["recurrent"] = root[None]
    inputs = 0.3 * rng.multivariate_normal(np.zeros(10), covariance, 5)[None]
    recorded = _present(circuit, inputs, rate_unit=50.0, presentation=1.0, dt=2e-4)
    decoded = np.stack([r["principal"][0, 0] for r in recorded])
    exact = np.linalg.solve(root, inputs[0].T).T
    errors = np.linalg.norm(decoded - exact, axis=1) / np.linalg.norm(exact, axis=1)
    assert errors.mean() < 0.10
    assert np.all(decoded + 1.5 > 0)


def test_same_seed_same_spikes_different_seed_different_spikes():
    circuit, drive = _lateral_task()
    drive = np.repeat(drive, 3, axis=1)

    def decoded(seed):
        substrate = SpikingSubstrate(presentation=0.05, dt=1e-4)
        substrate.prepare(circuit, seed)
        substrate.learn(circuit, Batch(drive), 3, 0)
        return circuit.recorded["units"]

    np.testing.assert_array_equal(decoded(1), decoded(1))
    assert not np.array_equal(decoded(1), decoded(2))


def test_presentation_level_plasticity_calls_the_rate_rule(monkeypatch):
    """Spec §6.4: the spiking substrate learns through the very same rules (the circuit's
    declared rules, applied by ``apply_rules`` as on the rate substrate)."""
    calls = []
    original = bpl.circuits.base.apply_rules

    def spy(state, bindings, activities, *args, **kwargs):
        calls.append((tuple(b.rule.name for b in bindings), activities["principal"].shape))
        return original(state, bindings, activities, *args, **kwargs)

    monkeypatch.setattr(bpl.circuits.base, "apply_rules", spy)
    task = bpl.tasks.StatisticalAdaptation(n_inputs=2, n_contexts=1)
    bpl.run(DirectWhitening(), task, substrate="spiking", steps=2, batch_size=2, eval_every=2, progress=False,
            substrate_options={"presentation": 0.02, "dt": 5e-4, "rate_unit": 50.0})
    # two updates of two presentations each
    assert calls == [(("recurrent-whitening",), (1, 2, 2)), (("recurrent-whitening",), (1, 2, 2))]


@pytest.mark.parametrize("kwargs,match", [
    ({"rate_unit": 0}, "rate_unit"),
    ({"presentation": -1}, "presentation"),
    ({"presentation": 1e-4, "dt": 1e-4}, "presentation"),
    ({"codegen": "fortran"}, "codegen"),
    ({"dither": 1}, "dither"),
])
def test_spiking_substrate_bad_options(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        SpikingSubstrate(**kwargs)
