"""SINR edge case: silent outputs must not read as a perfect separation."""

import numpy as np

from bioplausible.tasks.separation import sinr_db


def test_silent_outputs_are_not_a_perfect_separator():
    sources = np.random.default_rng(0).uniform(0, 1, (200, 3))
    assert np.isnan(sinr_db(sources, np.zeros((200, 3))))
    assert sinr_db(sources, sources[:, ::-1] * 2.0) > 250  # perfect up to rounding
