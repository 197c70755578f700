"""Every script in examples/ runs at its small size.

Convention: an example honours ``BIOPLAUSIBLE_EXAMPLE_QUICK=1`` (small sizes, no display) and
writes its outputs to the working directory. Scripts are discovered, so examples that other
families add run here without changes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))
SOURCE = Path(__file__).resolve().parents[1] / "src"


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs_at_small_size(script, tmp_path):
    environment = {**os.environ, "BIOPLAUSIBLE_EXAMPLE_QUICK": "1", "MPLBACKEND": "Agg",
                   "PYTHONPATH": os.pathsep.join([str(SOURCE), os.environ.get("PYTHONPATH", "")])}
    completed = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=environment,
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
