"""Feature tests: every whitening circuit on both substrates, same task, data, initial weights
and seed; the final whitening error must agree within a stated tolerance.

Setting: n = 3 inputs, one rotated context (eigenvalues 0.25–4), 300 online updates,
r0 = 50 Hz, T = 100 ms, dt = 0.5 ms, offset y0 = 4. The whitening error of a batch-1 online
run fluctuates around its noise floor, so we compare the mean over the last 100 updates.
Measured (seed 0): see the closing note of the foundation issue; the tolerance is 25 %.
"""

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.circuits import DirectWhitening, GainWhitening, InterneuronWhitening, MultiTimescaleWhitening
from bioplausible.tasks import StatisticalAdaptation

SPIKING = {"rate_unit": 50.0, "presentation": 0.1, "dt": 5e-4}
CASES = [
    (DirectWhitening, {"learning_rate": 0.02}),
    # the paper's primary neurons are perfect integrators; IF units need a leak (see the class docstring)
    (InterneuronWhitening, {"learning_rate": 0.02, "leak": 0.25}),
    (GainWhitening, {"learning_rate": 0.02}),
    (MultiTimescaleWhitening, {"gain_rate": 0.02, "synapse_rate": 5e-3}),
]


@pytest.mark.parametrize("cls,params", CASES, ids=[c.name for c, _ in CASES])
def test_rate_and_spiking_whitening_agree(cls, params):
    task = StatisticalAdaptation(n_inputs=3, n_contexts=1, samples_per_context=300)
    errors = {}
    for substrate in ("rate", "spiking"):
        result = bpl.run(cls(**params), task, substrate=substrate, seed=0, eval_every=25, progress=False,
                         substrate_options=SPIKING if substrate == "spiking" else None)
        errors[substrate] = result.metrics["whitening_error"].values[0]
    start = errors["rate"][0]
    assert errors["spiking"][0] == pytest.approx(start)  # same initial weights and data
    rate, spiking = errors["rate"][-4:].mean(), errors["spiking"][-4:].mean()
    assert spiking < 0.5 * start  # the spiking network learns
    assert abs(spiking - rate) <= 0.25 * rate, (rate, spiking)


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
