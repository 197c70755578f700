"""The sequence examples run in their small mode."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_replay_raster_example(tmp_path):
    out = tmp_path / "raster.png"
    result = _load("replay_sequence_raster").main(["--small", "--out", str(out)])
    assert out.stat().st_size > 10_000
    assert result["agrees_with_rate"]
    np.testing.assert_array_equal(np.argmax(result["overlaps"][1:], axis=1), np.arange(1, 6) % 4)
