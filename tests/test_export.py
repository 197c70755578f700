"""NWB and Neo export: write, read back, compare; the CLI command."""

from __future__ import annotations

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
        np.testing.assert_array_equal(data["predicted_rates"][population],
                                      traces[f"trace_{population}"].isel(seed=1))
    np.testing.assert_array_equal(data["weights"]["synapses"], traces["state_synapses"].isel(seed=1))
    final = traces["final_state_synapses"].isel(seed=1).values
    np.testing.assert_allclose(data["weights"]["weight_interneuron_to_principal"][0], -final)
    np.testing.assert_array_equal(data["metrics"]["whitening_error"], traces["metric_whitening_error"].isel(seed=1))
    assert "units" not in data  # a rate run has no spikes
    assert "seed 1" in data["description"]


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
    np.testing.assert_array_equal(read_nwb(tmp_path / "run.nwb")["predicted_rates"]["principal"],
                                  rate_result.dataset["trace_principal"].isel(seed=0))
    with pytest.raises(SystemExit):
        main(["export", str(saved)])
    with pytest.raises(ValueError, match="seed_index"):
        rate_result.to_nwb(tmp_path / "x.nwb", seed_index=5)
