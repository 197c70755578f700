"""Plot helpers take an ax and return it."""

import matplotlib.pyplot as plt

import bioplausible as bpl
from bioplausible.plotting import plot_circuit, plot_final_metric, plot_learning_curves


def test_plot_helpers_draw_on_the_given_axes():
    task = bpl.tasks.StatisticalAdaptation(n_inputs=3, n_contexts=1, samples_per_context=60)
    circuit = bpl.circuits.InterneuronWhitening()
    frame = bpl.compare([circuit, bpl.circuits.GainWhitening()], task, seeds=[0, 1], steps=60)
    figure, axes = plt.subplots(1, 3)
    assert plot_learning_curves(frame, "whitening_error", axes[0]) is axes[0]
    assert len(axes[0].lines) == 2 and axes[0].get_ylabel() == "whitening_error"
    assert plot_final_metric(frame, "whitening_error", axes[1]) is axes[1]
    assert len(axes[1].get_xticklabels()) == 2
    circuit.initialize(3, 0, [0])
    assert plot_circuit(circuit, axes[2]) is axes[2]
    assert axes[2].get_title() == "interneuron-whitening"
    plt.close(figure)
