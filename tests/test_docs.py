"""The documentation builds offline with warnings as errors (``sphinx-build -W``).

The default test renders every page, the API reference from the docstrings and the gallery
pages without running the examples (test_examples.py runs them); the slow test also runs
the gallery's examples at their quick sizes and checks their figures are in the pages.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _build(out: Path, execute: bool) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("sphinx")
    pytest.importorskip("sphinx_gallery")
    pytest.importorskip("pydata_sphinx_theme")
    environment = {**os.environ, "BIOPLAUSIBLE_DOCS_EXECUTE": "1" if execute else "0", "MPLBACKEND": "Agg",
                   "BIOPLAUSIBLE_EXAMPLE_QUICK": "1",
                   "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           "-d", str(out / "doctrees"), str(ROOT / "docs"), str(out / "html")],
                          env=environment, capture_output=True, text=True, timeout=600)


def test_docs_build_without_warnings(tmp_path):
    built = _build(tmp_path, execute=False)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-6000:]
    html = tmp_path / "html"
    for page in ("index", "user_guide/concepts", "user_guide/rate_to_spikes", "user_guide/adding_a_circuit",
                 "theory/adaptation", "theory/separation", "theory/sequence", "theory/supervised",
                 "auto_examples/index", "generated/bioplausible.experiments.export"):
        assert (html / f"{page}.html").is_file(), page
    api = (html / "generated/bioplausible.experiments.export.html").read_text()
    assert "nwbinspector" in api  # the API pages carry the docstrings
    sources = list((ROOT / "src/bioplausible").rglob("*.py"))
    assert not [p for p in sources if "spec §" in p.read_text() or "spiking.md" in p.read_text()]


@pytest.mark.slow
def test_docs_gallery_runs_the_examples(tmp_path):
    built = _build(tmp_path, execute=True)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-6000:]
    images = {p.name for p in (tmp_path / "html/_images").glob("sphx_glr_*.png")}
    for script in (ROOT / "examples").glob("*.py"):
        if "savefig" in script.read_text():
            assert any(name.startswith(f"sphx_glr_{script.stem}_0") for name in images), script.name
