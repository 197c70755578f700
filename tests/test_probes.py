"""Activity probes: the same quantity on both substrates, subsampling, a memory bound, spilling."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.experiments.probes import Probe

TASK = bpl.tasks.StatisticalAdaptation(n_inputs=3, n_contexts=2, samples_per_context=200)


def test_probe_records_the_activity_the_rules_receive():
    circuit = bpl.circuits.DirectWhitening(learning_rate=0.02)
    result = bpl.run(circuit, TASK, seeds=[0, 1], steps=50, progress=False,
                     probes=[Probe(samples=None), "recurrent"])
    traces = result.traces
    assert traces["principal"].shape == (2, 50, 3) and traces["stimulus"].shape == (2, 50, 3)
    np.testing.assert_array_equal(traces["trace_time"], np.arange(50))
    # at step 0 the circuit is M = I, so the response equals the stimulus
    np.testing.assert_allclose(traces["principal"].isel(trace_time=0), traces["stimulus"].isel(trace_time=0))
    # at evaluation step 10 (after 10 updates), y = M⁻¹ x with the probed M of that step
    recurrent = result.dataset["state_recurrent"].sel(step=10).values
    x = traces["stimulus"].sel(trace_time=10).values
    expected = np.linalg.solve(recurrent, x[..., None])[..., 0]
    np.testing.assert_allclose(traces["principal"].sel(trace_time=10).values, expected, rtol=1e-10)
    assert set(np.unique(traces["info_context"])) <= {0.0, 1.0}
    assert "learn" not in vars(circuit)  # the hook is removed after the run


def test_subsampling_updates_samples_and_units():
    task = bpl.tasks.StatisticalAdaptation(n_inputs=4, n_contexts=2, samples_per_context=400, mode="expected")
    circuit = bpl.circuits.InterneuronWhitening(n_interneurons=8)
    probe = Probe(populations=("interneuron",), every=3, samples=2, units=3, info=False)
    result = bpl.run(circuit, task, seeds=[0], steps=30, progress=False, probes=[probe])
    trace = result.traces["interneuron"]
    assert trace.shape == (1, 10 * 2, 3)
    np.testing.assert_array_equal(trace["interneuron_unit"], [0, 4, 7])
    np.testing.assert_array_equal(result.dataset["trace_update"][::2], np.arange(0, 30, 3))
    np.testing.assert_array_equal(trace["trace_time"][:2], [0, 3])  # samples 0 and 3 of the 4-sample update
    assert not any(name.startswith("trace_info") for name in result.dataset)


def test_spilled_recording_equals_in_memory_and_stays_within_the_bound(tmp_path):
    kwargs = dict(seeds=[0, 1], steps=300, eval_every=100, progress=False)
    memory = bpl.run(bpl.circuits.DirectWhitening(), TASK, probes=[Probe(samples=None, chunk=64)], **kwargs)
    spill = tmp_path / "trace.nc"
    spilled = bpl.run(bpl.circuits.DirectWhitening(), TASK,
                      probes=[Probe(samples=None, chunk=64, spill=spill)], **kwargs)
    assert spill.exists()
    for name in ("trace_principal", "trace_stimulus", "trace_info_context"):
        np.testing.assert_array_equal(spilled.dataset[name].values, memory.dataset[name].values)
    bound = Probe(samples=None, chunk=64).memory_bound(bpl.circuits.DirectWhitening().initialize(3, 0, [0, 1]), 2)
    assert spilled.dataset.attrs["trace_peak_buffer_bytes"] <= bound
    saved = spilled.save(tmp_path / "result.nc")
    np.testing.assert_array_equal(bpl.load_result(saved).traces["principal"], memory.traces["principal"])


def test_long_run_memory_does_not_grow_with_the_recording_when_spilling(tmp_path):
    def peak(steps: int, spill) -> int:
        tracemalloc.start()
        bpl.run(bpl.circuits.DirectWhitening(), TASK, seeds=[0, 1], steps=steps, eval_every=100,
                progress=False, probes=[Probe(samples=None, chunk=100, spill=spill)])
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    peak(100, tmp_path / "warm.nc")  # imports
    recording = 1600 * 176  # records × bytes per record (2 members, 3+3 units + context, indices)
    spilled, kept = peak(1600, tmp_path / "a.nc"), peak(1600, None)
    assert kept - spilled > 0.5 * recording
    assert spilled - peak(400, tmp_path / "b.nc") < 0.25 * recording  # 4× the steps, ~flat memory


@pytest.mark.parametrize("kwargs, message", [
    ({"every": 0}, "every"), ({"samples": 0}, "samples"), ({"units": -1}, "units"), ({"chunk": 1.5}, "chunk"),
    ({"populations": "principal"}, "populations"), ({"spill": 3}, "spill"), ({"info": "yes"}, "info"),
])
def test_probe_arguments_are_checked(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        Probe(**kwargs)


def test_unknown_population_and_several_probes_are_refused():
    with pytest.raises(ValueError, match="unknown populations"):
        bpl.run(bpl.circuits.DirectWhitening(), TASK, steps=5, progress=False,
                probes=[Probe(populations=("cortex",))])
    with pytest.raises(ValueError, match="at most one Probe"):
        bpl.run(bpl.circuits.DirectWhitening(), TASK, steps=5, progress=False, probes=[Probe(), Probe()])
    with pytest.raises(TypeError, match="probes"):
        bpl.run(bpl.circuits.DirectWhitening(), TASK, steps=5, progress=False, probes=Probe())


def test_spiking_probe_records_decoded_counts_and_spikes():
    options = dict(TASK.quick_spiking_options, record_spikes=True)
    result = bpl.run(bpl.circuits.DirectWhitening(learning_rate=0.03), TASK, "spiking", seeds=[0, 1], steps=40,
                     progress=False, probes=[Probe(samples=None)], substrate_options=options)
    data = result.dataset
    period, rate_unit, offset = options["presentation"], options["rate_unit"], 4.0
    counts = np.zeros((2, 40, 3))
    presentation = np.floor(data["spikes_principal"].values / period + 1e-6).astype(int)
    np.add.at(counts, (data["spikes_principal_member"].values, presentation, data["spikes_principal_unit"].values), 1)
    np.testing.assert_allclose(counts / (rate_unit * period) - offset, data["trace_principal"].values, atol=1e-12)
