"""The supervised example script runs in its small mode."""

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "compare_rules_error_correlation.py"


def test_compare_rules_error_correlation_small(tmp_path):
    spec = importlib.util.spec_from_file_location("example_error_correlation", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.main(["--small", "--output", str(tmp_path / "figure.png")])
    assert (tmp_path / "figure.png").exists()
    assert set(results) == set(module.RULES)
    for trace in results.values():
        assert np.all(np.isfinite(trace["error_correlation_hidden_1"]))
    # backprop reduces its hidden layers' correlation with the error over training
    bp = results["backprop"]["error_correlation_hidden_2"][0]
    assert bp[-1] < bp[0]
