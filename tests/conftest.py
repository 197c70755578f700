import os

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("BIOPLAUSIBLE_EXAMPLE_QUICK", "1")


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(1234)
