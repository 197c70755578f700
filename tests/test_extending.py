"""Adding a circuit and adding a substrate each touch one file (issue 10, closing note).

A rule, a circuit using it and a third substrate are declared here, outside the package,
with only its public names; nothing else is edited. The circuit then runs on the rate
substrate, on spikes (the generic builder, from its declaration) and in generated code, and
the substrate runs every fixed-point circuit through ``run`` and ``compare``, and refuses the
others with its own reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.circuits import CIRCUITS, register_circuit
from bioplausible.circuits.adaptation.base import WhiteningCircuit, identity_drive, stimulus_and_principal
from bioplausible.circuits.base import Connection, Parameters
from bioplausible.experiments.compare import NOT_RUN, compare, not_run
from bioplausible.rules.declaration import RULES, Rule, RuleBinding, register_rule
from bioplausible.substrates import SUBSTRATES, make_substrate
from bioplausible.substrates.base import Substrate, register_substrate
from bioplausible.tasks import make_task

LEAKY = Rule(
    "test-leaky-whitening", "M += learning_rate * (y_post * y_pre - identity - decay * (M - identity))",
    paper="(a test rule: direct whitening with a leak of M towards I)", activities=("y",),
    parameters=("learning_rate", "decay"), recurrent=True)


@dataclass(frozen=True)
class LeakyParameters(Parameters):
    n_inputs: int | None = None
    learning_rate: float = 0.02
    decay: float = 0.01
    spike_offset: float = 4.0


class LeakyWhitening(WhiteningCircuit):
    """Direct whitening whose matrix also leaks towards the identity (declared, not written)."""

    name = "test-leaky-whitening"
    description = "direct whitening with a leak towards I (test)"
    Parameters = LeakyParameters
    _input_axis_array = "recurrent"

    def initial_state(self, rng, n_inputs, n_targets):
        return {"recurrent": np.eye(n_inputs)}

    def effective_matrix(self):
        return self.state["recurrent"]

    def populations(self):
        return stimulus_and_principal(self.n_inputs if self.state else 0, self.params.spike_offset, "y = M⁻¹x")

    def connections(self):
        return [Connection("stimulus", "principal", kind="drive"),
                Connection("principal", "principal", LEAKY, kind="lateral")]

    def weights(self):
        M = self.state["recurrent"]
        off_diagonal = M - np.eye(M.shape[-1]) * np.diagonal(M, axis1=-2, axis2=-1)[..., None, :]
        return {("stimulus", "principal"): identity_drive(self.ensemble_size, self.n_inputs),
                ("principal", "principal"): -off_diagonal}

    def thresholds(self):
        return {"principal": np.diagonal(self.state["recurrent"], axis1=-2, axis2=-1).copy()}

    def rule_bindings(self):
        return [RuleBinding("recurrent", LEAKY, "principal", "principal", {"y": "principal"},
                            {"learning_rate": self.params.learning_rate, "decay": self.params.decay})]


class NoisyRateSubstrate(Substrate):
    """A third substrate: the rate fixed point with Gaussian noise of s.d. ``noise`` on every
    rate the rules read (drawn from the run's seed); fixed-point circuits only."""

    name = "test-noisy-rate"
    description = "rate network with noisy rates (test)"

    def __init__(self, noise: float = 0.05) -> None:
        if not noise >= 0:
            raise ValueError(f"noise must be >= 0, got {noise!r}")
        self.noise = float(noise)

    def prepare(self, circuit, seed):
        self.rng = np.random.default_rng(seed)

    def supports(self, circuit):
        if circuit.kind != "fixed-point":
            return f"its kind is {circuit.kind!r}; this substrate runs fixed points"
        return None

    def learn(self, circuit, batch, batch_size, first_step):
        activities = {}
        for update, start in enumerate(range(0, batch.size, batch_size)):
            part = batch[start: start + batch_size]
            activities = {name: value + self.noise * self.rng.standard_normal(np.shape(value))
                          for name, value in circuit.respond(part.inputs).items()}
            self.apply_rules(circuit, activities, part)
            circuit.check_finite(first_step + update + 1)
        return activities


@pytest.fixture
def extended():
    """Register the rule, the circuit and the substrate for one test, and remove them after."""
    register_rule(LEAKY)
    register_circuit(LeakyWhitening)
    register_substrate(NoisyRateSubstrate)
    try:
        yield
    finally:
        del RULES[LEAKY.name]
        CIRCUITS.unregister(LeakyWhitening.name)
        SUBSTRATES.unregister(NoisyRateSubstrate.name)


def _task():
    return make_task("adaptation", n_inputs=3, n_contexts=1, samples_per_context=300)


def test_a_circuit_declared_in_one_file_learns_on_rate_and_on_spikes(extended):
    rate = bpl.run(bpl.circuits.make_circuit(LeakyWhitening.name), _task(), "rate", seeds=[0, 1], eval_every=25,
                   progress=False)
    error = rate.dataset["metric_whitening_error"].values
    assert np.all(error[:, -4:].mean(axis=1) < 0.5 * error[:, 0])  # the declared rule whitens
    spiking = make_substrate("spiking", rate_unit=50.0, presentation=0.1, dt=5e-4)
    circuit = bpl.circuits.make_circuit(LeakyWhitening.name)
    assert spiking.supports(circuit) is None  # built from the declaration by the generic builder
    spikes = bpl.run(circuit, _task(), spiking, seeds=[0, 1], eval_every=25, progress=False)
    on_spikes = spikes.dataset["metric_whitening_error"].values
    np.testing.assert_allclose(on_spikes[:, -4:].mean(axis=1), error[:, -4:].mean(axis=1), rtol=0.3)


def test_the_new_rule_runs_in_generated_code_without_a_line_for_it(extended):
    from bioplausible.substrates.spiking.compiled import compiled_support

    circuit = bpl.circuits.make_circuit(LeakyWhitening.name).initialize(3, 0, [0])
    assert compiled_support(circuit) is None
    form = LEAKY.brian2({"y": "rate{side}"})
    assert "decay" in form.statement and "rate_pre" in form.statement and "rate_post" in form.statement


def test_a_substrate_declared_in_one_file_runs_and_compares(extended):
    task = _task()
    exact = bpl.run(bpl.circuits.make_circuit("direct-whitening"), task, "rate", seed=3, progress=False)
    noiseless = bpl.run(bpl.circuits.make_circuit("direct-whitening"), task, NoisyRateSubstrate(noise=0.0), seed=3,
                        progress=False)
    np.testing.assert_allclose(noiseless.final_state()["state"]["recurrent"], exact.final_state()["state"]["recurrent"],
                               rtol=1e-10, atol=1e-12)  # noise 0: the rate substrate exactly
    table = compare([LeakyWhitening.name, "direct-whitening"], task, seeds=(0,),
                    substrates=("rate", NoisyRateSubstrate.name))
    ran = table[(table["substrate"] == NoisyRateSubstrate.name) & (table["metric"] != NOT_RUN)]
    assert set(ran["circuit"]) == {LeakyWhitening.name, "direct-whitening"} and not len(not_run(table))
    refused = not_run(compare(["seqnet"], "sequence", seeds=(0,), substrates=(NoisyRateSubstrate.name,)))
    assert list(refused["circuit"]) == ["seqnet"]
    assert "this substrate runs fixed points" in refused["reason"].iloc[0]
