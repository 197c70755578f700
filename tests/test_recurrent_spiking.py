"""The recurrent rate networks on spikes: the two-compartment IF network's activities against
the rate network's (the learning comparison is the slow agreement case of the harness)."""

from __future__ import annotations

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.core import TrialBatch
from bioplausible.substrates.spiking.recurrent import RecurrentIFNetwork

OPTIONS = {"rate_unit": 500.0, "presentation": 0.01, "dt": 1e-4}


def test_spiking_activities_follow_the_rate_network():
    # measured: drive correlation 0.9997, decoded rates within 0.05 on average (1/(r0 T) = 0.2)
    circuit = bpl.circuits.RecurrentEprop(n_hidden=8, initial_scale=0.5, readout_scale=1.0).initialize(1, 1, [0, 1])
    trials = bpl.tasks.Integration(trial_steps=20).reset(seed=0).next_batch(3)
    batch = TrialBatch(np.stack([trials.inputs] * 2), np.stack([trials.targets] * 2), dt=trials.dt)
    substrate = bpl.substrates.make_substrate("spiking", **OPTIONS)
    substrate.prepare(circuit, 0)
    spikes = RecurrentIFNetwork(substrate, circuit, 3, 20).run(batch)
    rates = circuit.respond(batch.inputs)
    assert spikes["hidden"].shape == rates["hidden"].shape == (2, 3, 20, 8)
    assert np.corrcoef(spikes["drive"].ravel(), rates["drive"].ravel())[0, 1] > 0.99
    assert np.abs(spikes["hidden"] - rates["hidden"]).mean() < 0.1
    assert np.abs(spikes["hidden"] - rates["hidden"]).max() < 1.0


def test_bptt_is_refused_on_spikes_and_the_local_rules_are_not():
    spiking = bpl.substrates.make_substrate("spiking")
    assert "no spiking form" in spiking.supports(bpl.circuits.RecurrentBPTT())
    assert spiking.supports(bpl.circuits.RecurrentEprop()) is None
    assert spiking.supports(bpl.circuits.RecurrentRFLO()) is None


def test_spiking_runs_learn_from_trials_only():
    circuit = bpl.circuits.RecurrentEprop(n_hidden=4).initialize(1, 1, [0])
    with pytest.raises(TypeError, match="batch must be a TrialBatch"):
        bpl.substrates.make_substrate("spiking", **OPTIONS).learn(circuit, bpl.circuits.Batch(np.zeros((1, 3, 1))),
                                                                   1, 0)
