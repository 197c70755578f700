"""NWB and Neo export: write, read back, compare; nwbinspector finds no critical issue or
best-practice violation; Elephant statistics on the exported spikes; the CLI command."""

from __future__ import annotations

import collections
import importlib.util
from datetime import datetime, timezone

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.cli import main
from bioplausible.experiments.export import read_nwb
from bioplausible.experiments.probes import Probe

TASK = bpl.tasks.StatisticalAdaptation(n_inputs=3, n_contexts=2, samples_per_context=40)


@pytest.fixture(scope="module")
def rate_result():
    return bpl.run(bpl.circuits.InterneuronWhitening(learning_rate=0.02), TASK, seeds=[0, 1], progress=False,
                   probes=[Probe(samples=None), "synapses"])


def test_nwb_round_trip(rate_result, tmp_path):
    path = rate_result.to_nwb(tmp_path / "run.nwb", seed_index=1)
    assert path.exists() and [p.name for p in tmp_path.iterdir()] == ["run.nwb"]  # no temporary left
    data = read_nwb(path)
    traces = rate_result.dataset
    np.testing.assert_array_equal(data["stimulus"]["stimulus"], traces["trace_stimulus"].isel(seed=1))
    np.testing.assert_array_equal(data["stimulus"]["context"], traces["trace_info_context"].isel(seed=1))
    np.testing.assert_array_equal(data["times"]["stimulus"], np.arange(80) * 1.0)
    for population in ("principal", "interneuron"):
        activity = traces[f"trace_{population}"].isel(seed=1).values
        np.testing.assert_array_equal(data["activity"][population], activity)
        # Hz under the offset code r0 (offset + a), nominal r0 = 100 Hz, rectified
        np.testing.assert_allclose(data["predicted_rates"][population], np.maximum(100.0 * (4.0 + activity), 0.0))
    np.testing.assert_array_equal(data["weights"]["synapses"], traces["state_synapses"].isel(seed=1))
    final = traces["final_state_synapses"].isel(seed=1).values
    np.testing.assert_allclose(data["weights"]["weight_interneuron_to_principal"][0], -final)
    np.testing.assert_array_equal(data["metrics"]["whitening_error"], traces["metric_whitening_error"].isel(seed=1))
    assert "units" not in data  # a rate run has no spikes
    assert "seed 1" in data["description"]
    assert data["subject"]["subject_id"] == "interneuron-whitening-seed-1"
    assert "learning_rate=0.02" in data["subject"]["description"]
    assert "nominal" in data["notes"]  # the rate substrate's time base is stated
    started = datetime.fromisoformat(rate_result.dataset.attrs["started_at"])
    assert data["session_start_time"] == started  # default: when the run started
    chosen = datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc)
    assert read_nwb(rate_result.to_nwb(tmp_path / "b.nwb", session_start_time=chosen))["session_start_time"] == chosen
    with pytest.raises(ValueError, match="session_start_time must be timezone-aware"):
        rate_result.to_nwb(tmp_path / "c.nwb", session_start_time=datetime(2024, 5, 1))


def test_neo_round_trip(rate_result, tmp_path):
    neo = pytest.importorskip("neo")
    block = rate_result.to_neo()
    signals = {s.name: s for s in block.segments[0].analogsignals}
    assert set(signals) == {"stimulus", "principal", "interneuron"}
    neo.io.NeoMatlabIO(str(tmp_path / "run.mat")).write_block(block)
    back = neo.io.NeoMatlabIO(str(tmp_path / "run.mat")).read_block()
    read = {s.name: s for s in back.segments[0].analogsignals}
    np.testing.assert_allclose(np.asarray(read["principal"]), rate_result.dataset["trace_principal"].isel(seed=0))
    assert float(read["principal"].sampling_period.rescale("s")) == 1.0


def test_spiking_export_has_units_with_population(tmp_path):
    options = dict(TASK.quick_spiking_options, record_spikes=True)
    result = bpl.run(bpl.circuits.DirectWhitening(learning_rate=0.03), TASK, "spiking", seeds=[0], steps=30,
                     progress=False, probes=[Probe(samples=None)], substrate_options=options)
    data = read_nwb(result.to_nwb(tmp_path / "spikes.nwb"))
    assert data["units_resolution"] == options["dt"]
    decoded = result.dataset["trace_principal"].isel(seed=0).values
    rates = data["predicted_rates"]["principal"]
    np.testing.assert_allclose(rates, options["rate_unit"] * (4.0 + decoded))  # counted rate, Hz
    counts = rates * options["presentation"]
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-6)  # whole spike counts (not % 1: 0.9999… → 1)
    units = data["units"]
    assert list(units["population"]) == ["principal"] * 3
    total = sum(len(times) for times in units["spike_times"])
    assert total == result.dataset["spikes_principal"].size > 0
    np.testing.assert_allclose(data["times"]["stimulus"], np.arange(30) * options["presentation"])
    block = result.to_neo()
    assert sum(len(train) for train in block.segments[0].spiketrains) == total


def test_export_cli(rate_result, tmp_path, capsys):
    saved = rate_result.save(tmp_path / "run.nc")
    assert main(["export", str(saved), "--nwb", str(tmp_path / "run.nwb"), "--neo", str(tmp_path / "run.mat")]) == 0
    assert "run.nwb" in capsys.readouterr().out
    np.testing.assert_array_equal(read_nwb(tmp_path / "run.nwb")["activity"]["principal"],
                                  rate_result.dataset["trace_principal"].isel(seed=0))
    with pytest.raises(SystemExit):
        main(["export", str(saved)])
    with pytest.raises(ValueError, match="seed_index"):
        rate_result.to_nwb(tmp_path / "x.nwb", seed_index=5)


def _inspector_counts(path) -> dict[str, int]:
    from nwbinspector import inspect_nwbfile

    return dict(collections.Counter(m.importance.name for m in inspect_nwbfile(nwbfile_path=str(path))))


def test_nwb_passes_the_inspector(rate_result, tmp_path):
    pytest.importorskip("nwbinspector")
    rate = _inspector_counts(rate_result.to_nwb(tmp_path / "rate.nwb"))
    options = dict(TASK.quick_spiking_options, record_spikes=True)
    spiking = bpl.run(bpl.circuits.DirectWhitening(learning_rate=0.03), TASK, "spiking", seeds=[0], steps=30,
                      progress=False, probes=[Probe(samples=None)], substrate_options=options)
    spikes = _inspector_counts(spiking.to_nwb(tmp_path / "spikes.nwb"))
    for counts in (rate, spikes):
        assert counts.get("CRITICAL", 0) == 0 and counts.get("BEST_PRACTICE_VIOLATION", 0) == 0, counts
        assert counts.get("PYNWB_VALIDATION", 0) == 0, counts


def test_elephant_statistics_on_exported_spikes():
    elephant = pytest.importorskip("elephant")
    import quantities as pq
    from elephant import statistics

    options = dict(TASK.quick_spiking_options, record_spikes=True)
    result = bpl.run(bpl.circuits.DirectWhitening(learning_rate=0.03), TASK, "spiking", seeds=[0], steps=30,
                     progress=False, substrate_options=options)
    trains = result.to_neo().segments[0].spiketrains
    counts = np.array([len(t) for t in trains])
    rates = np.array([float(statistics.mean_firing_rate(t).rescale(pq.Hz)) for t in trains])
    np.testing.assert_allclose(rates, counts / float(trains[0].t_stop - trains[0].t_start))
    assert np.all(rates > 0)
    assert np.isfinite(statistics.fanofactor(trains))
    assert all(np.isfinite(statistics.cv(np.diff(t.magnitude))) for t in trains if len(t) > 2)
    assert elephant.__version__


def test_neo_nix_round_trip_keeps_spikes(tmp_path):
    neo = pytest.importorskip("neo")
    pytest.importorskip("nixio")
    options = dict(TASK.quick_spiking_options, record_spikes=True)
    result = bpl.run(bpl.circuits.DirectWhitening(learning_rate=0.03), TASK, "spiking", seeds=[0], steps=20,
                     progress=False, probes=[Probe(samples=None)], substrate_options=options)
    block = result.to_neo()
    with neo.io.NixIO(str(tmp_path / "run.nix"), mode="ow") as io:
        io.write_block(block)
    with neo.io.NixIO(str(tmp_path / "run.nix"), mode="ro") as io:
        back = io.read_block()
    trains = back.segments[0].spiketrains
    assert [t.name for t in trains] == [t.name for t in block.segments[0].spiketrains]
    for read, written in zip(trains, block.segments[0].spiketrains):
        np.testing.assert_allclose(read.rescale("s").magnitude, written.rescale("s").magnitude)
    signal = {s.name: s for s in back.segments[0].analogsignals}["principal"]
    np.testing.assert_allclose(np.asarray(signal), result.dataset["trace_principal"].isel(seed=0))


def test_summary_statistics_are_exported_beside_the_activity(tmp_path):
    """summaries=[summary_statistics(...)] writes processing/summary_statistics/<population>, one
    row per window, on a supervised and a separation run; the file stays inspector-clean."""
    from bioplausible.analysis.summary import summary_statistics

    supervised = bpl.run(bpl.circuits.Backprop(hidden_sizes=(16,)),
                         bpl.tasks.Classification(dataset="digits", n_train=200, n_test=50, predictions=False),
                         steps=60, eval_every=20, seeds=[0, 1], progress=False,
                         probes=[Probe(populations=("hidden_1",), samples=4)])
    separation = bpl.run(bpl.circuits.NonnegativeSimilarityMatching(), bpl.tasks.SourceSeparation(), steps=200,
                         seeds=[0], progress=False, probes=[Probe()])
    for result, stats in ((supervised, summary_statistics(supervised, "hidden_1", label="label", windows=3)),
                          (separation, summary_statistics(separation, "output", target="mixtures", windows=3))):
        path = result.to_nwb(tmp_path / "run.nwb", seed_index=len(result.seeds) - 1, summaries=[stats])
        table = read_nwb(path)["summary_statistics"][stats.attrs["population"]]
        member = stats.isel(seed=-1)
        for name in member.data_vars:
            np.testing.assert_array_equal(table[name], member[name].values)
        np.testing.assert_array_equal(table["start_time"], member["window_start"].values * 1.0)
        assert "CKA" in stats["cka_to_first"].attrs["long_name"]
        if result is supervised and importlib.util.find_spec("nwbinspector"):  # the same tables on both: once
            counts = _inspector_counts(path)
            assert counts.get("CRITICAL", 0) == 0 and counts.get("BEST_PRACTICE_VIOLATION", 0) == 0, counts
        path.unlink()
    with pytest.raises(TypeError, match="summaries\\[0\\]"):
        supervised.to_nwb(tmp_path / "bad.nwb", summaries=[supervised.dataset])
