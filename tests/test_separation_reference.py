"""Learning on the reference (numpy) path of the separation circuits: the path every
installation has, numba or not. The fused-kernel learning tests in
``test_separation_circuits.py`` need numba; these do not, so a broken reference path cannot
hide behind a working kernel (the kernel-vs-reference equality tests also need numba)."""

from __future__ import annotations

import numpy as np
import pytest

from bioplausible.circuits import CorInfoMax, DetMaxWSM, NonnegativeICA
from bioplausible.experiments.run import run
from bioplausible.tasks import SourceSeparation


def _sinr(circuit, task, steps: int, seeds: list[int]) -> np.ndarray:
    result = run(circuit, task, seeds=seeds, steps=steps, eval_every=steps, progress=False)
    return result.dataset["metric_sinr_db"].values


def test_corinfomax_reference_path_learns_nonnegative_antisparse_sources():
    """Default CorInfoMax (n = 5, m = 10, ρ = 0) on the reference path, 4,000 samples, one
    8-seed ensemble. Measured start → end (seeds 0-7): 9.5→11.9, 9.3→12.9, 4.0→12.0,
    10.0→14.7, 7.2→12.0, 11.9→13.8, 10.7→12.0, 6.9→12.3 dB (gains 1.3-7.9 dB, median 4.1).
    Asserted: median gain ≥ 2.5 dB, ≥ 6 of 8 seeds gain ≥ 1.5 dB, median end ≥ 11.5 dB."""
    sinr = _sinr(CorInfoMax(fast_path="reference"), SourceSeparation(evaluation_samples=1000), 4000,
                 list(range(8)))
    gain = sinr[:, -1] - sinr[:, 0]
    assert np.median(gain) >= 2.5, sinr
    assert np.sum(gain >= 1.5) >= 6, sinr
    assert np.median(sinr[:, -1]) >= 11.5, sinr


def _detmax_headline(steps: int, seeds: list[int]) -> np.ndarray:
    task = SourceSeparation(domain="antisparse", n_sources=4, n_mixtures=8, correlation_structure="toeplitz",
                            mixture_scaling="row-std", evaluation_samples=1000)
    return _sinr(DetMaxWSM(n_sources=4, domain="antisparse", fast_path="reference"), task, steps, seeds)


def test_detmax_reference_path_learns_its_headline_setup_quick():
    """Det-Max on its own setup (antisparse, Toeplitz t-copula, n = 4, m = 8, row-std mixing,
    30 dB) on the reference path, 600 samples (the reference settle loop costs ~3 ms a sample
    per member). Measured start → end over seeds 0-7: 0.7→7.7, 1.0→5.7, 3.1→5.4, 4.1→12.1,
    0.4→4.9, 2.8→6.6, 1.2→9.3, 1.4→6.5 dB (gains 2.4-8.1 dB). Asserted on seeds 0-3: every
    seed gains ≥ 2 dB, median end ≥ 5.5 dB."""
    sinr = _detmax_headline(600, [0, 1, 2, 3])
    assert np.all(sinr[:, -1] - sinr[:, 0] >= 2.0), sinr
    assert np.median(sinr[:, -1]) >= 5.5, sinr


@pytest.mark.slow
def test_detmax_reference_path_learns_its_headline_setup():
    """The same at 1,500 samples on 8 seeds. Measured start → end (seeds 4-7): 0.4→7.4,
    2.8→6.8, 1.2→9.4, 1.4→7.5 dB; at 4,000 samples seeds 0-7 gained 4.1-9.3 dB.
    Asserted: every seed gains ≥ 3 dB, median end ≥ 7 dB."""
    sinr = _detmax_headline(1500, list(range(8)))
    assert np.all(sinr[:, -1] - sinr[:, 0] >= 3.0), sinr
    assert np.median(sinr[:, -1]) >= 7.0, sinr


def test_bio_nica_interneuron_variant_raises_the_sinr_on_some_starts():
    """Bio-NICA with interneurons (M = PPᵀ, the demo η = 1e-3, decay 0) on 3 nonnegative Bernoulli
    sources, 20k samples, one 8-seed ensemble. It does not separate from most starts, as in
    the authors' own demo (final permutation error 1.39 from ≈ 1.4, spec §6E), so the
    permutation error is not asserted; what it does is raise the SINR on some starts.
    Measured start → end (seeds 0-7): 5.9→8.2, 3.8→2.5, 4.0→7.8, 5.2→25.1, 6.8→19.7,
    7.8→13.2, 5.7→11.1, 10.0→6.2 dB (gains −3.8…19.9, median 4.6; the authors' indirect
    preset η = 1e-2, decay 1e-3 gives 8.3 / 3.8 / 7.8 / 25.4 / 20.7 / 18.9 / 10.8 / 5.9).
    Asserted: median gain ≥ 2.5 dB, ≥ 3 of 8 seeds gain ≥ 5 dB, the best ends ≥ 18 dB."""
    task = SourceSeparation(domain="nonnegative-bernoulli", n_sources=3, n_mixtures=3, evaluation_samples=1000)
    sinr = _sinr(NonnegativeICA(n_sources=3, variant="interneuron", learning_rate=1e-3, learning_rate_decay=0.0),
                 task, 20_000, list(range(8)))
    gain = sinr[:, -1] - sinr[:, 0]
    assert np.median(gain) >= 2.5, sinr
    assert np.sum(gain >= 5.0) >= 3, sinr
    assert sinr[:, -1].max() >= 18.0, sinr
