"""The natural-image example runs in its small mode and writes its figure."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np


def test_natural_image_example_small_mode(tmp_path):
    path = Path(__file__).resolve().parents[1] / "examples" / "separate_natural_images.py"
    spec = importlib.util.spec_from_file_location("separate_natural_images", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figure = tmp_path / "images.png"
    summary = module.main(["--small", "--out", str(figure)])
    assert figure.exists() and figure.stat().st_size > 10_000
    assert np.isfinite(summary["sinr_db"]) and summary["sinr_db"] > 5
