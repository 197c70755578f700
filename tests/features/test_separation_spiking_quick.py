"""Quick twins of slow separation-on-spikes claims (the full-size tests sit in
``test_separation_spiking.py`` under ``slow``)."""

from __future__ import annotations

import numpy as np

from bioplausible.circuits import NonnegativeICA
from bioplausible.experiments.run import run
from bioplausible.tasks import SourceSeparation

SPIKING = {"rate_unit": 100.0, "presentation": 0.1, "dt": 1e-3}


def test_bio_nica_direct_learns_on_spikes_and_tracks_rate_quick():
    """Quick twin of the 600-presentation Bio-NICA (direct) test: 300 presentations, one
    4-seed ensemble on each substrate, same data and initial weights. Measured SINR start →
    end, rate vs spiking (seeds 0-3): 5.87→8.57 vs 8.58, 3.82→6.14 vs 7.08, 3.96→6.80 vs 8.06,
    5.22→5.29 vs 5.28 dB. Asserted: ≥ 3 of 4 seeds gain ≥ 1.5 dB on spikes, and every seed's
    spiking end within 0.2·|rate| + 0.5 dB of the rate run's."""
    task = SourceSeparation(domain="nonnegative-bernoulli", n_sources=3, n_mixtures=3, evaluation_samples=1000)
    sinr = {}
    for substrate in ("rate", "spiking"):
        result = run(NonnegativeICA(n_sources=3, learning_rate=1e-3, learning_rate_decay=0.0, time_constant=0.5),
                     task, substrate, seeds=[0, 1, 2, 3], steps=300, eval_every=300,
                     progress=False, substrate_options=SPIKING if substrate == "spiking" else None)
        sinr[substrate] = result.dataset["metric_sinr_db"].values
    rate, spiking = sinr["rate"], sinr["spiking"]
    np.testing.assert_allclose(spiking[:, 0], rate[:, 0])  # the same untrained separator
    assert np.sum(spiking[:, -1] - spiking[:, 0] >= 1.5) >= 3, spiking
    assert np.all(np.abs(spiking[:, -1] - rate[:, -1]) <= 0.2 * np.abs(rate[:, -1]) + 0.5), (rate, spiking)
