"""Rate vs spiking agreement for the separation family (spiking.md §3.2, §6.9).

NSM runs on the generic integrate-and-fire route (threshold 1 = (I + W₂)_ii, lateral jumps
−W₂,ij, drive W₁W_pre x, offset 0) with presentation-level learning on decoded counts; the
task metric (SINR of the learned separator on held-out samples) must agree with the rate run
on the same data, initial weights and seed. CorInfoMax and Det-Max have no spiking
realisation (see their docstrings) and must say so.
"""

from __future__ import annotations

import numpy as np
import pytest

from bioplausible.circuits import CorInfoMax, DetMaxWSM, NonnegativeICA, NonnegativeSimilarityMatching
from bioplausible.experiments.run import run
from bioplausible.tasks import SourceSeparation

SPIKING = {"rate_unit": 100.0, "presentation": 0.1, "dt": 1e-3}


def _task() -> SourceSeparation:
    return SourceSeparation(domain="nonnegative-bernoulli", n_sources=3, n_mixtures=3, evaluation_samples=1000)


def _final_sinr(circuit, substrate: str, seeds: list[int], steps: int) -> np.ndarray:
    result = run(circuit, _task(), substrate, seeds=seeds, steps=steps, eval_every=steps, progress=False,
                 substrate_options=SPIKING if substrate == "spiking" else None)
    return result.dataset["metric_sinr_db"].values


def test_nsm_spiking_matches_rate_sinr():
    """IF, T = 100 ms, r0 = 100 Hz, 300 presentations (100 prewhitening + 200 learning):
    final SINR within 5 % of the rate run (measured 20.03 vs 19.99 dB), and it learns
    (≥ 8 dB above the initial separator, 5.45 dB)."""
    make = lambda: NonnegativeSimilarityMatching(n_sources=3, prewhitening_samples=100)  # noqa: E731
    rate = _final_sinr(make(), "rate", [0], 300)
    spiking = _final_sinr(make(), "spiking", [0], 300)
    assert rate[0, -1] - rate[0, 0] > 8
    assert abs(spiking[0, -1] - rate[0, -1]) <= 0.05 * rate[0, -1], (rate, spiking)


@pytest.mark.slow
def test_nsm_spiking_matches_rate_sinr_over_two_seeds():
    """1200 presentations (200 prewhitening): measured 19.33 vs 19.23 dB and 21.43 vs 21.53 dB."""
    make = lambda: NonnegativeSimilarityMatching(n_sources=3, prewhitening_samples=200)  # noqa: E731
    rate = _final_sinr(make(), "rate", [0, 2], 1200)
    spiking = _final_sinr(make(), "spiking", [0, 2], 1200)
    assert np.all(np.abs(spiking[:, -1] - rate[:, -1]) <= 0.05 * rate[:, -1]), (rate, spiking)


@pytest.mark.slow
def test_bio_nica_direct_runs_on_spikes_and_tracks_rate():
    """600 presentations, seed 2: measured 4.58 (spiking) vs 4.70 dB (rate); permutation error
    0.719 vs 0.696 (from 1.41): it agrees, but 600 samples are early in Bio-NICA's learning."""
    make = lambda: NonnegativeICA(n_sources=3)  # noqa: E731
    rate = _final_sinr(make(), "rate", [2], 600)
    spiking = _final_sinr(make(), "spiking", [2], 600)
    assert abs(spiking[0, -1] - rate[0, -1]) <= 0.15 * abs(rate[0, -1]) + 1.0, (rate, spiking)


@pytest.mark.parametrize("circuit", [CorInfoMax(n_sources=3), DetMaxWSM(n_sources=3, domain="nonnegative-antisparse")])
def test_projected_circuits_refuse_the_spiking_substrate_with_a_reason(circuit):
    with pytest.raises(ValueError, match=f"spiking model '{circuit.name}'"):
        run(circuit, SourceSeparation(n_sources=3, n_mixtures=3, evaluation_samples=100), "spiking", steps=2,
            eval_every=2, progress=False, substrate_options=SPIKING)
