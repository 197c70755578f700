"""Spiking whitening beyond rate agreement (which the circuits declare as their agreement
cases, run by ``test_agreement.py``: n = 3 inputs, one rotated context, 300 online updates,
r0 = 50 Hz, T = 100 ms, dt = 0.5 ms, mean of the last 100 updates within 25 %): refusal of
a circuit without leak, independence of ensemble members."""

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.circuits import DirectWhitening, InterneuronWhitening
from bioplausible.tasks import StatisticalAdaptation

SPIKING = {"rate_unit": 50.0, "presentation": 0.1, "dt": 5e-4}


def test_interneuron_circuit_without_leak_is_refused_by_spiking_substrate():
    task = StatisticalAdaptation(n_inputs=2, n_contexts=1, samples_per_context=10)
    with pytest.raises(ValueError, match="thresholds"):
        bpl.run(InterneuronWhitening(leak=0.0), task, substrate="spiking", steps=2, progress=False,
                substrate_options=SPIKING)


def test_spiking_ensemble_members_are_independent_blocks():
    task = StatisticalAdaptation(n_inputs=2, n_contexts=1, samples_per_context=40)
    together = bpl.run(DirectWhitening(learning_rate=0.02), task, substrate="spiking", seeds=[0, 1], eval_every=20,
                       progress=False, substrate_options=SPIKING)
    alone = bpl.run(DirectWhitening(learning_rate=0.02), task, substrate="spiking", seed=1, eval_every=20,
                    progress=False, substrate_options=SPIKING)
    # same data and initial weights; spike dithering draws differ, so agreement is statistical
    joint, single = together.metrics["whitening_error"].values[1], alone.metrics["whitening_error"].values[0]
    np.testing.assert_allclose(joint[0], single[0])
    assert abs(joint[-1] - single[-1]) < 0.3
