"""Plot helpers take an ax and return it; the figures' structure: points, labels, legends
outside the data, panels per row, context switches, geometric bands, every edge drawn."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import bioplausible as bpl  # noqa: E402
from bioplausible.plotting import (  # noqa: E402
    PANELS_PER_ROW,
    circuit_colours,
    context_switches,
    panel_title,
    plot_circuit,
    plot_final_metric,
    plot_learning_curves,
    plot_raster,
    save_comparison_figures,
)

TASK = bpl.tasks.StatisticalAdaptation(n_inputs=3, n_contexts=2, samples_per_context=60)


@pytest.fixture(scope="module")
def frame():
    circuits = [bpl.circuits.InterneuronWhitening(learning_rate=0.03), bpl.circuits.GainWhitening()]
    return bpl.compare(circuits, TASK, seeds=[0, 1], eval_every=5)


def _outside(ax, legend):
    """The legend's box lies outside the axes' box (no overlap with the data area)."""
    ax.figure.canvas.draw()
    box, axes_box = legend.get_window_extent(), ax.get_window_extent()
    return box.x0 >= axes_box.x1 or box.y1 <= axes_box.y0 or box.x1 <= axes_box.x0 or box.y0 >= axes_box.y1


def test_learning_curves_points_labels_switches_and_legend_outside(frame):
    figure, ax = plt.subplots()
    assert plot_learning_curves(frame, "whitening_error", ax) is ax
    curves = [line for line in ax.lines if line.get_label().endswith("(rate)")]
    assert len(curves) == 2 and all(len(line.get_xdata()) >= 20 for line in curves)
    assert ax.get_yscale() == "log"  # whitening error spans decades
    assert "whitening error" in ax.get_ylabel() and "[dimensionless]" in ax.get_ylabel()
    assert "steps" in ax.get_xlabel()
    switches = [line for line in ax.lines if line.get_label() == "context switch"]
    assert len(switches) == 1 and 55 <= switches[0].get_xdata()[0] <= 65
    assert _outside(ax, ax.get_legend())
    plt.close(figure)


def test_log_band_is_geometric_and_stays_positive():
    rows = [{"circuit": "c", "substrate": "rate", "seed": k, "step": float(step), "metric": "whitening_error",
             "value": value} for k, values in enumerate([[1.0, 0.01], [1.0, 1.0]]) for step, value in enumerate(values)]
    figure, ax = plt.subplots()
    plot_learning_curves(pd.DataFrame(rows), "whitening_error", ax)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [1.0, 0.1])  # geometric mean of 0.01 and 1
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() > 0  # an arithmetic band (0.505 ± 0.70) would cross zero
    plt.close(figure)


def test_final_metric_says_undefined_values(frame):
    figure, ax = plt.subplots()
    data = frame.copy()
    data.loc[data["metric"] == "recovery_time", "value"] = np.nan
    assert plot_final_metric(data, "recovery_time", ax) is ax
    assert len(ax.get_xticklabels()) == 2 and "updates" in ax.get_ylabel()
    assert sum("undefined" in text.get_text() for text in ax.texts) == 2
    plt.close(figure)


def test_comparison_figures_grid_has_few_panels_per_row_and_a_legend_outside(frame, tmp_path):
    many = pd.concat([frame.assign(metric=frame["metric"].replace("whitening_error", f"m{i}")) for i in range(5)]
                     + [frame])
    many["family"] = "adaptation"
    many["task"] = "adaptation"
    from bioplausible.tasks.adaptation import StatisticalAdaptation

    original = StatisticalAdaptation.headline_metrics
    StatisticalAdaptation.headline_metrics = tuple(f"m{i}" for i in range(5)) + original
    try:
        (written,) = save_comparison_figures(many, tmp_path)
    finally:
        StatisticalAdaptation.headline_metrics = original
    image = plt.imread(written)
    height, width = image.shape[:2]
    assert width <= 1.1 * PANELS_PER_ROW * 4.6 * 110 and height > 2 * 3.6 * 110  # 7 panels: 3 rows of ≤ 3
    assert context_switches(frame) and len(context_switches(frame)) == 1
    assert panel_title("sinr_db") == "SINR (dB)" and panel_title("whitening_error") == "Whitening error"
    twelve = pd.DataFrame({"circuit": [f"c{i}" for i in range(12)]})
    assert len(set(circuit_colours(twelve).values())) == 12  # no colour repeats past ten circuits


def test_plot_circuit_draws_every_connection_with_its_rule_and_a_legend():
    circuit = bpl.circuits.InterneuronWhitening().initialize(3, 0, [0])
    figure, ax = plt.subplots(figsize=(8, 4))
    assert plot_circuit(circuit, ax) is ax
    assert ax.get_title() == "interneuron-whitening"
    connections = circuit.connections()
    assert len(ax.patches) == len(connections)  # both principal <-> interneuron directions drawn
    labels = [t.get_text() for t in ax.texts if "\n" not in t.get_text()]
    assert labels.count("interneuron whitening") == 2 and "fixed" in labels
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    signs = {f"{c.sign} connection" for c in connections}
    assert "fixed" in legend and signs <= set(legend)
    # only what is drawn: no role or sign the circuit lacks
    assert "readout population" not in legend
    assert not ({"excitatory connection", "inhibitory connection", "signed connection"} - signs) & set(legend)
    assert "principal (n=3)" in labels  # each node named with its size, on one line below it
    assert _outside(ax, ax.get_legend())
    plt.close(figure)


def test_plot_raster_stacks_populations_in_seconds():
    result = bpl.run(bpl.circuits.DirectWhitening(learning_rate=0.02), TASK, "spiking", seed=0, steps=8,
                     progress=False, substrate_options={"record_spikes": True, "rate_unit": 50.0,
                                                        "presentation": 0.05, "dt": 5e-4})
    figure, ax = plt.subplots()
    assert plot_raster(result, ax) is ax
    assert ax.get_xlabel() == "simulated time [s]"
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks == [p for p in ("stimulus", "principal") if p in ticks] and "principal" in ticks
    times = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections])
    assert times.size > 0 and 0 <= times.min() and times.max() <= 8 * 0.05 + 1e-9
    with pytest.raises(ValueError, match="no spikes"):
        plot_raster(bpl.run(bpl.circuits.DirectWhitening(), TASK, seed=0, steps=4, progress=False), ax)
    plt.close(figure)
