"""Spike-train statistics of a model's predicted spikes, with Elephant.

A whitening circuit (anti-Hebbian recurrent synapses, ``ΔM = η(yyᵀ − I)``) adapts to a stimulus
whose covariance switches between two contexts; it runs as offset-coded integrate-and-fire
units on the spiking substrate with its spikes recorded. The run is exported as a
``neo.Block`` (the same objects ``NixIO`` and ``NeoMatlabIO`` write), and Elephant computes
what one would compute on a recording: each unit's mean firing rate, the coefficient of
variation of its inter-spike intervals, the Fano factor of the spike counts across units,
and the population rate over time. The figure shows the raster and the population rate,
with the context switch marked.

    python examples/elephant_spike_statistics.py
    BIOPLAUSIBLE_EXAMPLE_QUICK=1 python examples/elephant_spike_statistics.py   # small (the tests)

Needs the ``nwb`` extra (``pip install bioplausible[nwb]``: neo and elephant).
"""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import quantities as pq
from elephant import statistics

import bioplausible as bpl

QUICK = os.environ.get("BIOPLAUSIBLE_EXAMPLE_QUICK") == "1"

samples = 60 if QUICK else 600
task = bpl.tasks.StatisticalAdaptation(n_inputs=3, n_contexts=2, samples_per_context=samples)
substrate = {"rate_unit": 50.0, "presentation": 0.05, "dt": 5e-4, "record_spikes": True}
result = bpl.run(bpl.circuits.DirectWhitening(learning_rate=0.03), task, "spiking", seed=0,
                 progress=False, substrate_options=substrate)

block = result.to_neo()
trains = block.segments[0].spiketrains
for train in trains:
    rate = statistics.mean_firing_rate(train).rescale(pq.Hz)
    intervals = np.diff(train.magnitude)
    cv = statistics.cv(intervals) if intervals.size > 1 else float("nan")
    print(f"{train.name}: {len(train)} spikes, mean rate {float(rate):.1f} Hz, ISI CV {cv:.2f}")
print(f"Fano factor of the spike counts across units: {statistics.fanofactor(trains):.3f}")

bin_size = 10 * substrate["presentation"] * pq.s
population = statistics.time_histogram(trains, bin_size=bin_size, output="rate")
switch = samples * substrate["presentation"]

window = (switch - 0.25, switch + 0.25)  # the raster shows half a second around the switch
figure, (raster, rate_axis) = plt.subplots(2, 1, figsize=(7, 4.5), layout="constrained")
for index, train in enumerate(trains):
    shown = train.magnitude[(train.magnitude >= window[0]) & (train.magnitude < window[1])]
    raster.plot(shown, np.full(shown.size, index), "|", color="k", markersize=10)
raster.set_yticks(range(len(trains)), [t.name for t in trains])
raster.set_xlim(*window)
raster.set_xlabel("time (s)")
raster.set_ylabel("unit")
raster.set_title("Predicted spikes around the context switch")
times = population.times.rescale(pq.s).magnitude + bin_size.magnitude / 2
rate_axis.plot(times, population.rescale(pq.Hz).magnitude.ravel(), color="C0", label="population rate")
rate_axis.set_xlabel("time (s)")
rate_axis.set_ylabel("mean rate per unit (Hz)")
for axis in (raster, rate_axis):
    axis.axvline(switch, color="C3", linestyle="--", label="context switch")
rate_axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
figure.savefig("elephant_spike_statistics.png", dpi=120)
assert all(len(t) > 0 for t in trains)
