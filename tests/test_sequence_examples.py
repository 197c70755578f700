"""The sequence examples run in their small mode."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

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


def _load_benchmark(name: str):
    path = EXAMPLES.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_capacity_benchmark_pieces_on_a_tiny_grid():
    bench = _load_benchmark("sequence_capacity")
    rows = bench.capacity_table({"SeqNet": [25, 50, 100]}, draws=10, verbose=False)
    assert [r["N"] for r in rows] == [25, 50, 100]
    slope_t, slope_s, theory = bench.slopes(rows)["SeqNet"]
    assert 0.3 < slope_t < 1.0 and 0.3 < slope_s < 1.0 and theory == pytest.approx(0.76, abs=0.05)


def test_speed_benchmark_batched_equals_loop():
    bench = _load_benchmark("sequence_speed")
    from bioplausible.circuits import DenseNet

    batched, looped = bench.measure(lambda: DenseNet(separation="exp"), 20, 5, 30, 4, 5)
    assert batched > 0 and looped > 0
