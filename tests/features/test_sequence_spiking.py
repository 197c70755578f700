"""Rate vs spiking (Brian2, numpy target): the windowed replay recalls like the rate network at low load."""

from __future__ import annotations

import numpy as np
import pytest

from bioplausible.circuits import DenseNet, MixedNet, SeqNet, TwoLayerSequence
from bioplausible.substrates.spiking import SpikingSubstrate, spiking_options, spiking_replay
from bioplausible.tasks import SequenceRecall

OPTIONS = {"rate_unit": 200.0, "window": 0.1, "dt": 5e-4}


def _Spiking() -> SpikingSubstrate:  # noqa: N802  (an unprepared substrate: seed 0)
    return SpikingSubstrate(rate_unit=200.0, presentation=0.05, dt=5e-4)


@pytest.mark.parametrize("circuit", [SeqNet(), DenseNet(separation="exp"), TwoLayerSequence(separation="poly")],
                         ids=lambda c: c.name)
def test_spiking_replay_matches_rate_transition_success_at_low_load(circuit):
    task = SequenceRecall(n_neurons=100, sequence_length=8, cue_noise=0.1).reset(0)
    circuit.store(task.sequence)
    rate = task.score(circuit)
    spiking = task.score(circuit, substrate=_Spiking())
    assert rate["transition_success"] == 1.0
    assert spiking["transition_success"] == rate["transition_success"]
    assert spiking["sequence_success"] == rate["sequence_success"]
    assert spiking["recall_overlap"] == pytest.approx(rate["recall_overlap"], abs=0.02)


def test_spike_counts_encode_the_replayed_states():
    rng = np.random.default_rng(1)
    patterns = np.where(rng.random((5, 40)) < 0.5, 1.0, -1.0)
    circuit = DenseNet(separation="exp").store(patterns)
    trajectory, spikes = spiking_replay(circuit, patterns[0], 5, return_spikes=True, **OPTIONS)
    np.testing.assert_array_equal(trajectory[0, :, 0], patterns[np.arange(6) % 5])
    counts = spikes["visible_counts"][::2, 0]  # visible windows
    assert set(np.unique(counts)) == {0, 20}  # active units fire r0 T spikes, silent ones none
    assert spikes["windows_per_step"] == 2 and spikes["memory_times"].size > 0


def test_options_are_checked():
    with pytest.raises(ValueError, match="rate_unit \\* dt"):
        spiking_options(rate_unit=5000.0, dt=1e-3)
    with pytest.raises(ValueError, match="window"):
        spiking_options(rate_unit=10.0, window=0.1)


def test_mixednet_spiking_replay_keeps_order_and_dwell_times():
    task = SequenceRecall(n_neurons=60, sequence_length=5, cue_noise=0.05).reset(3)
    circuit = MixedNet(delays=(1, 2)).store(task.sequence)
    rate = task.score(circuit)
    spiking = task.score(circuit, substrate=_Spiking())
    assert rate["recall_success"] == 1.0
    assert spiking == rate


def test_run_on_the_spiking_substrate_writes_the_same_weights_and_replays():
    from bioplausible.experiments.run import run

    task = SequenceRecall(n_neurons=50, sequence_length=6)
    options = {"rate_unit": 200.0, "presentation": 0.05, "dt": 5e-4}
    rate_circuit, spiking_circuit = TwoLayerSequence(separation="exp"), TwoLayerSequence(separation="exp")
    rate = run(rate_circuit, task, "rate", seed=5, progress=False).final()
    spiking = run(spiking_circuit, task, "spiking", seed=5, progress=False, substrate_options=options).final()
    for key in ("visible_to_hidden", "hidden_to_visible"):
        np.testing.assert_array_equal(spiking_circuit.state[key], rate_circuit.state[key])
    assert spiking["transition_success"] == rate["transition_success"] == 1.0
    assert spiking["recall_overlap"] == rate["recall_overlap"]


def test_sequence_spiking_runs_take_the_seed_of_the_run():
    """The replay's dithering seed comes from the run seed (it used to be 0 for every run:
    the options read a ``seed`` attribute the substrate did not have)."""
    circuit = SeqNet().store(np.where(np.random.default_rng(0).random((3, 20)) < 0.5, 1.0, -1.0))
    seeds = set()
    for seed in (3, 4):
        substrate = SpikingSubstrate(rate_unit=200.0, presentation=0.05, dt=5e-4)
        substrate.prepare(circuit, seed)
        seeds.add(spiking_options(substrate)["seed"])
    assert len(seeds) == 2
