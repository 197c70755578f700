"""The runner, results (netCDF round trip), resume, the CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.circuits import GainWhitening, InterneuronWhitening
from bioplausible.cli import main
from bioplausible.tasks import StatisticalAdaptation


@pytest.fixture
def task():
    return StatisticalAdaptation(n_inputs=3, n_contexts=2, samples_per_context=100)


def test_result_holds_metrics_probes_and_config(task):
    result = bpl.run(InterneuronWhitening(), task, seed=3, eval_every=20, probes=["principal", "synapses"],
                     progress=False)
    assert result.metrics["whitening_error"].dims == ("seed", "step")
    assert list(result.metrics["step"].values) == list(range(0, 201, 20))
    assert result.activity["principal"].shape == (1, 11, 3)
    assert result.dataset["state_synapses"].shape == (1, 11, 3, 3)
    assert result.config["circuit"]["circuit"] == "interneuron-whitening"
    assert result.seeds == [3] and result.dataset.attrs["bioplausible_version"] == bpl.__version__
    frame = result.to_dataframe()
    assert {"seed", "step", "metric", "value"} <= set(frame.columns)


def test_result_save_and_load_round_trip(task, tmp_path):
    result = bpl.run(GainWhitening(), task, seed=1, progress=False, probes=["gains"])
    path = result.save(tmp_path / "sub" / "run.nc")
    loaded = bpl.load_result(path)
    for name, variable in result.dataset.data_vars.items():
        np.testing.assert_array_equal(loaded.dataset[name].values, variable.values)
    assert loaded.dataset.attrs == result.dataset.attrs
    assert [p.name for p in tmp_path.joinpath("sub").iterdir()] == ["run.nc"]  # no temporary left behind


def test_save_failure_leaves_nothing_on_disk(task, tmp_path, monkeypatch):
    result = bpl.run(GainWhitening(), task, seed=1, steps=5, progress=False)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(type(result.dataset), "to_netcdf", broken)
    with pytest.raises(OSError):
        result.save(tmp_path / "run.nc")
    assert list(tmp_path.iterdir()) == []


def test_same_seed_same_numbers_and_split_run_equals_whole(task):
    whole = bpl.run(InterneuronWhitening(), task, seed=7, steps=200, eval_every=50, progress=False)
    again = bpl.run(InterneuronWhitening(), task, seed=7, steps=200, eval_every=50, progress=False)
    np.testing.assert_array_equal(whole.metrics["whitening_error"].values, again.metrics["whitening_error"].values)
    first = bpl.run(InterneuronWhitening(), task, seed=7, steps=100, eval_every=50, progress=False)
    resumed_circuit = InterneuronWhitening().load_state_dict(first.final_state())
    second = bpl.run(resumed_circuit, task, seed=7, steps=100, eval_every=50, progress=False)
    np.testing.assert_array_equal(second.metrics["whitening_error"].values[0, -1],
                                  whole.metrics["whitening_error"].values[0, -1])
    np.testing.assert_array_equal(resumed_circuit.state["synapses"], whole.dataset["final_state_synapses"].values)


def test_run_again_resumes_with_the_same_seeds_and_restarts_with_others(task):
    """run trains in place; the same seeds resume, other seeds re-initialise (README sequence)."""
    circuit = InterneuronWhitening()
    bpl.run(circuit, task, seed=7, steps=100, eval_every=50, progress=False)
    resumed = bpl.run(circuit, task, seed=7, steps=100, eval_every=50, progress=False)
    whole = bpl.run(InterneuronWhitening(), task, seed=7, steps=200, eval_every=50, progress=False)
    assert circuit.steps == 200 and list(resumed.metrics["step"].values) == [100, 150, 200]
    np.testing.assert_array_equal(resumed.metrics["whitening_error"].values[0, -1],
                                  whole.metrics["whitening_error"].values[0, -1])
    ensemble = bpl.run(circuit, task, seeds=range(3), steps=100, eval_every=50, progress=False)
    fresh = bpl.run(InterneuronWhitening(), task, seeds=range(3), steps=100, eval_every=50, progress=False)
    assert circuit.ensemble_size == 3 and circuit.steps == 100 and circuit.run_seeds == (0, 1, 2)
    np.testing.assert_array_equal(ensemble.metrics["whitening_error"].values, fresh.metrics["whitening_error"].values)
    loaded = InterneuronWhitening().load_state_dict(circuit.state_dict())  # 3 members, no run seeds
    with pytest.raises(ValueError, match="3 ensemble members"):
        bpl.run(loaded, task, seed=0, steps=10, progress=False)


def test_quick_environment_variable_caps_steps(task, monkeypatch):
    monkeypatch.setenv("BIOPLAUSIBLE_QUICK", "30")
    result = bpl.run(InterneuronWhitening(), task, seed=0, steps=200, eval_every=10, progress=False)
    assert int(result.metrics["step"].values[-1]) == 30 and result.dataset.attrs["quick_step_cap"] == 30
    monkeypatch.setenv("BIOPLAUSIBLE_QUICK", "many")
    with pytest.raises(ValueError, match="BIOPLAUSIBLE_QUICK"):
        bpl.run(InterneuronWhitening(), task, seed=0, steps=20, progress=False)


@pytest.mark.parametrize("kwargs,match", [
    ({"steps": 0}, "steps"),
    ({"seed": -1}, "seed"),
    ({"batch_size": 0}, "batch_size"),
    ({"eval_every": 1.5}, "eval_every"),
    ({"substrate": "quantum"}, "substrate"),
    ({"probes": ["nothing"]}, "probes"),
    ({"probes": "principal"}, "probes"),
    ({"seeds": []}, "seeds"),
])
def test_run_bad_arguments_name_the_argument(task, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        bpl.run(InterneuronWhitening(), task, progress=False, **kwargs)


def test_run_rejects_non_circuits_and_non_tasks(task):
    with pytest.raises(TypeError, match="circuit"):
        bpl.run("interneuron-whitening", task)
    with pytest.raises(TypeError, match="task"):
        bpl.run(InterneuronWhitening(), "adaptation")


def test_compare_uses_the_same_data_for_every_circuit(task):
    frame = bpl.compare([InterneuronWhitening(), GainWhitening()], task, seeds=[0, 1], steps=50)
    assert set(frame["circuit"]) == {"interneuron-whitening", "gain-whitening"}
    start = frame[(frame["step"] == 0) & (frame["metric"] == "context")]
    assert start.groupby("seed")["value"].nunique().max() == 1


def test_cli_list_and_run_json(capsys, tmp_path):
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "interneuron-whitening" in listing and "adaptation" in listing and "spiking" in listing
    out = tmp_path / "run.nc"
    assert main(["run", "gain-whitening", "--task", "adaptation", "--steps", "50", "--json", "--out", str(out),
                 "--task-option", "n_inputs=3", "--param", "learning_rate=0.01"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["circuit"] == "gain-whitening" and record["steps"] == 50
    assert set(record) == {"circuit", "task", "substrate", "seed", "steps", "metrics", "wall_time_s"}
    assert record["metrics"]["whitening_error"] > 0 and out.exists()


def test_cli_spiking_run_says_up_front_what_the_substrate_estimates(capsys):
    """Before any work, on stderr (``--json`` keeps stdout to itself), with how it was
    reckoned; ``--quiet`` leaves it out."""
    arguments = ["run", "direct-whitening", "--substrate", "spiking", "--steps", "20", "--eval-every", "20",
                 "--task-option", "n_inputs=3", "--json"]
    assert main(arguments) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["steps"] == 20
    assert "the spiking substrate estimates about" in captured.err and "time steps" in captured.err
    assert main([*arguments, "--quiet"]) == 0
    assert "estimates" not in capsys.readouterr().err


def test_cli_reports_bad_input_without_a_traceback():
    process = subprocess.run([sys.executable, "-m", "bioplausible", "run", "no-such-circuit"],
                             capture_output=True, text=True)
    assert process.returncode == 2
    assert "unknown circuit" in process.stderr and "Traceback" not in process.stderr
