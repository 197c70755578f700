"""Layered circuits on spikes with each mini-batch presented at once (``parallel_batch``), and
the quick comparison's supervised runs on spikes learning well above chance."""

from __future__ import annotations

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.experiments import compare as compare_module
from bioplausible.tasks import Classification

SMALL = {"n_train": 200, "n_test": 100, "epochs": 1}
SPIKING = {"rate_unit": 100.0, "presentation": 0.02, "dt": 1e-3}


def _final_weights(parallel: bool, dither: bool) -> dict[str, np.ndarray]:
    circuit = bpl.circuits.EBD(hidden_sizes=(12, 8))
    result = bpl.run(circuit, Classification(**SMALL), "spiking", seeds=[0, 1], steps=3, eval_every=3,
                     progress=False, substrate_options={**SPIKING, "dither": dither, "parallel_batch": parallel})
    assert result.dataset.attrs["steps"] == 3
    return {key: value.copy() for key, value in circuit.state.items()}


def test_a_mini_batch_presented_at_once_learns_what_it_learns_presented_one_after_another():
    """Without dithering every presentation is a deterministic function of its input and the
    weights, so the B copies of one window count what B windows one after another count: the
    same learned state; with dithering only the random start voltages differ."""
    serial, parallel = _final_weights(False, False), _final_weights(True, False)
    assert serial.keys() == parallel.keys()
    for key in serial:
        np.testing.assert_allclose(parallel[key], serial[key], rtol=1e-10, atol=1e-12, err_msg=key)
    dithered = _final_weights(True, True)
    assert any(not np.allclose(dithered[k], serial[k]) for k in serial)  # the dither is drawn, not skipped


def test_parallel_batch_is_a_bool_and_is_recorded():
    with pytest.raises(TypeError, match="parallel_batch"):
        bpl.substrates.make_substrate("spiking", parallel_batch=1)
    assert bpl.substrates.make_substrate("spiking", parallel_batch=True).config()["parallel_batch"] is True


def test_the_cost_estimate_counts_one_window_per_update_with_parallel_batch():
    task = Classification(epochs=1)
    options = Classification.quick_spiking_options
    serial = bpl.substrates.make_substrate("spiking", **{**options, "parallel_batch": False})
    parallel = bpl.substrates.make_substrate("spiking", **options)
    assert options["parallel_batch"] is True
    one, many = (s.estimate_cost(bpl.circuits.EBD(), task, 70, 3, 70) for s in (parallel, serial))
    assert "70 windows" in one.detail and f"{70 * task.batch_size:,} windows" in many.detail
    assert one.seconds < many.seconds


def test_backprop_beats_chance_on_spikes_at_the_quick_settings_quick():
    """Quick twin of the comparison test below: backprop, one seed, 40 updates at the quick
    spiking settings. Measured: test accuracy 0.66 (chance 0.1)."""
    result = bpl.run(bpl.circuits.Backprop(), Classification(**Classification.quick_options), "spiking", seeds=[0],
                     steps=40, eval_every=40, progress=False, substrate_options=Classification.quick_spiking_options)
    assert float(result.dataset["metric_test_accuracy"].values[0, -1]) > 0.4


@pytest.mark.slow
def test_the_quick_comparison_trains_every_layered_circuit_well_above_chance_on_spikes():
    """``bioplausible compare``'s supervised family on spikes (its quick settings, seeds 0–2):
    140 updates with each mini-batch presented at once. Measured test accuracy (mean of 3
    seeds; chance 0.1): ebd 0.735, direct-feedback-alignment 0.73, backprop 0.819,
    feedback-alignment 0.689, hebbian 0.546 (at the former 36 serial updates: 0.22, 0.23,
    0.59, 0.18, 0.19); the patch networks ebd-cnn 0.704, dfa-cnn 0.574, backprop-cnn 0.856.
    The CorInfoMax circuits stay refused, with reasons."""
    frame = compare_module.default_comparison(["supervised"], seeds=[0, 1, 2], substrates=("spiking",), workers=1)
    final = compare_module.summary_table(frame, ["test_accuracy"]).set_index("circuit")["mean"]
    floors = {"ebd": 0.6, "direct-feedback-alignment": 0.6, "backprop": 0.65, "feedback-alignment": 0.5,
              "hebbian": 0.4, "ebd-cnn": 0.55, "dfa-cnn": 0.45, "backprop-cnn": 0.7}
    for name, floor in floors.items():
        assert final[name] > floor, (name, final[name])
    steps = frame.loc[frame["metric"] == "test_accuracy"].groupby("circuit")["step"].max()
    assert set(steps[list(floors)]) == {Classification.quick_spiking_steps}
    missing = compare_module.not_run(frame)
    assert set(missing["circuit"]) == {"corinfomax-ebd", "corinfomax-ep"}
    assert missing["reason"].str.len().min() > 20
