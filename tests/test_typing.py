"""The package type-checks: ``mypy`` over ``src/bioplausible`` reports no error (the
``py.typed`` marker promises users' type checkers that the hints are real)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_mypy_reports_no_error(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "mypy", "--ignore-missing-imports", "--cache-dir", str(tmp_path / "cache"),
         str(ROOT / "src" / "bioplausible")], capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-4000:]
    assert "Success: no issues found" in completed.stdout
