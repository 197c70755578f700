"""Conventions a user expects: ``--version``, ``-q/--quiet``, plain-text help, ``py.typed``,
CF-style attributes on results, and gymnasium's seeding conventions on tasks."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import bioplausible as bpl
from bioplausible.cli import _parser, main
from bioplausible.experiments.probes import Probe
from bioplausible.experiments.results import load_result

TASK = bpl.tasks.StatisticalAdaptation(n_inputs=3, n_contexts=2, samples_per_context=30)


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"bioplausible {bpl.__version__}"


def test_help_is_plain_text(capsys):
    parser = _parser()
    texts = [parser.format_help()]
    for action in parser._subparsers._group_actions:  # every subcommand's help
        texts += [sub.format_help() for sub in action.choices.values()]
    for text in texts:
        assert "`" not in text, text
        assert not re.search(r":(class|func|mod|meth):", text)


def test_quiet_leaves_only_results(tmp_path, capsys):
    out = tmp_path / "run.nc"
    arguments = ["run", "direct-whitening", "--steps", "20", "--task-option", "n_inputs=2",
                 "--task-option", "samples_per_context=10", "--out", str(out)]
    assert main(arguments) == 0
    loud = capsys.readouterr().out
    assert "saved" in loud and "Result(" in loud
    assert main(["-q", *arguments]) == 0
    assert main([*arguments[:1], "-q", *arguments[1:]]) == 0  # also after the command
    quiet = capsys.readouterr().out
    assert "saved" not in quiet and quiet.count("Result(") == 2


def test_package_is_typed():
    assert (Path(bpl.__file__).parent / "py.typed").is_file()


def test_results_carry_cf_attributes_and_named_dims(tmp_path):
    result = bpl.run(bpl.circuits.InterneuronWhitening(learning_rate=0.02), TASK, seeds=[0, 1], progress=False,
                     probes=[Probe(samples=None, units=2), "synapses", "principal"])
    dataset = result.dataset
    for name, variable in dataset.variables.items():
        assert variable.attrs.get("units"), name
        assert variable.attrs.get("long_name"), name
    assert dataset["metric_whitening_error"].attrs["units"] == "1"
    assert dataset["step"].attrs["units"] == "updates"
    # the interneuron synapses realise principal -> interneuron (stored presynaptic first)
    assert dataset["final_state_synapses"].dims == ("seed", "synapses_pre", "synapses_post")
    assert "population principal" in dataset["synapses_pre"].attrs["long_name"]
    assert dataset["activity_principal"].dims == ("seed", "step", "principal_unit_all")
    assert dataset["trace_principal"].dims == ("seed", "trace_time", "principal_unit")
    assert not [d for d in dataset.dims if re.search(r"_(axis|dim)\d", str(d))]
    assert dataset.attrs["circuit.learning_rate"] == 0.02 and dataset.attrs["task.n_contexts"] == 2
    back = load_result(result.save(tmp_path / "run.nc")).dataset
    xr.testing.assert_identical(back, dataset)


def test_metric_units():
    from bioplausible.experiments.metadata import metric_info

    assert metric_info("sinr_db")[1] == "dB" and metric_info("final_sinr_db")[1] == "dB"
    assert metric_info("steps_to_final_sinr")[1] == "updates"
    assert metric_info("feedback_angle_2") == ("angle between feedback and forward weights of layer 2", "degree")
    assert metric_info("final_test_accuracy")[1] == "1"


def test_reset_without_seed_keeps_the_generator():
    task = bpl.tasks.StatisticalAdaptation(n_inputs=2, n_contexts=2, samples_per_context=5)
    task.reset(seed=7)
    generator = task.np_random
    first = task.next_batch(5).inputs
    task.reset()
    assert task.np_random is generator  # kept, not reseeded from entropy
    twin = bpl.tasks.StatisticalAdaptation(n_inputs=2, n_contexts=2, samples_per_context=5).reset(seed=7)
    twin.next_batch(5)
    twin.reset()
    np.testing.assert_array_equal(task.next_batch(5).inputs, twin.next_batch(5).inputs)  # one stream
    task.reset(seed=7)
    np.testing.assert_array_equal(task.next_batch(5).inputs, first)


def test_spaces_are_gymnasium_boxes():
    spaces = pytest.importorskip("gymnasium.spaces")
    task = bpl.tasks.StatisticalAdaptation(n_inputs=4).reset(seed=0)
    assert isinstance(task.observation_space, spaces.Box) and task.observation_space.shape == (4,)
    assert task.observation_space.contains(task.next_batch(1).inputs[0])
    assert task.target_space is None  # unsupervised
