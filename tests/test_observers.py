"""Probes observe the substrate, so the fused per-sample loop (CorInfoMax's default at batch
size 1) records the same traces as the reference loop."""

from __future__ import annotations

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.circuits.separation import numba_available
from bioplausible.experiments.probes import Probe


@pytest.mark.skipif(not numba_available(), reason="the fused path needs numba")
@pytest.mark.parametrize("make", [
    lambda fast: bpl.circuits.CorInfoMax(n_sources=3, fast_path=fast),
    lambda fast: bpl.circuits.DetMaxWSM(n_sources=3, domain="nonnegative-antisparse", fast_path=fast),
], ids=["corinfomax", "detmax"])
def test_fused_path_records_the_traces_of_the_reference_loop(make):
    task = bpl.tasks.SourceSeparation(domain="nonnegative-antisparse", n_sources=3, n_mixtures=4,
                                      evaluation_samples=50)
    traces = {}
    for fast in ("auto", "reference"):
        result = bpl.run(make(fast), task, seeds=[0, 1], steps=30, eval_every=15, progress=False,
                         probes=[Probe(every=2)])
        traces[fast] = result.traces
    fused, reference = traces["auto"], traces["reference"]
    assert fused["output"].shape == reference["output"].shape == (2, 15, 3)
    np.testing.assert_array_equal(fused["trace_time"], np.arange(0, 30, 2))
    np.testing.assert_array_equal(fused["mixtures"], reference["mixtures"])
    np.testing.assert_allclose(fused["output"], reference["output"], atol=1e-5)
