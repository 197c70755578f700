"""Predict the responses of an adapting circuit in a context-switch experiment, as NWB data.

The experiment: a stimulus ensemble whose covariance switches between contexts (blocks of
samples), as in adaptation experiments in early sensory cortex. The model: whitening by
anti-Hebbian recurrent synapses, ``ΔM = η(yyᵀ − I)`` (Lipshutz, Pehlevan & Chklovskii, ICLR
2023), run as a spiking network (Brian2, offset-coded integrate-and-fire units) so that the
prediction includes spike times. The script records every presentation, shows how the response covariance
whitens after each switch (``‖C_yy − I‖₂`` in windows of presentations, the quantity to hold
against a recording), and writes the predicted spikes, rates, stimuli and weights to
``predicted_adaptation.nwb``.

    python examples/predict_adaptation_nwb.py
    BIOPLAUSIBLE_EXAMPLE_QUICK=1 python examples/predict_adaptation_nwb.py   # small (the tests)
"""

from __future__ import annotations

import os

import numpy as np

import bioplausible as bpl
from bioplausible import analysis
from bioplausible.experiments.export import read_nwb
from bioplausible.experiments.probes import Probe

QUICK = os.environ.get("BIOPLAUSIBLE_EXAMPLE_QUICK") == "1"


def main() -> None:
    samples = 100 if QUICK else 1500
    task = bpl.tasks.StatisticalAdaptation(n_inputs=2, n_contexts=2, samples_per_context=samples,
                                           spectrum_scale=2.0)
    circuit = bpl.circuits.DirectWhitening(learning_rate=0.02)
    substrate = {"rate_unit": 50.0, "presentation": 0.05 if QUICK else 0.1, "dt": 5e-4, "record_spikes": True}
    result = bpl.run(circuit, task, "spiking", seed=0, progress=not QUICK, substrate_options=substrate,
                     probes=[Probe(samples=None)])
    print(result)

    window = samples // 5
    deviation = analysis.whitening_over_time(result, "principal", window=window).isel(seed=0)
    print(f"whiteness of the predicted responses, ‖C_yy − I‖₂ per {window} presentations:")
    print("  " + " ".join(f"{v:.2f}" for v in deviation.values))

    path = result.to_nwb("predicted_adaptation.nwb")
    data = read_nwb(path)
    n_spikes = sum(len(t) for t in data["units"]["spike_times"])
    print(f"wrote {path}: {len(data['units'])} units, {n_spikes} spikes, "
          f"rates {data['predicted_rates']['principal'].shape}, stimulus {data['stimulus']['stimulus'].shape}")
    assert np.isfinite(deviation.values).all()


if __name__ == "__main__":
    main()
