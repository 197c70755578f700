"""Sphinx configuration of the bioplausible documentation.

Build (offline, warnings are errors)::

    pip install -e ".[docs]"
    sphinx-build -W -b html docs docs/_build/html

``BIOPLAUSIBLE_DOCS_EXECUTE=0`` renders the gallery without running the examples; by default
the examples run at their quick sizes (``BIOPLAUSIBLE_EXAMPLE_QUICK=1``) and their figures
appear in the gallery.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("BIOPLAUSIBLE_EXAMPLE_QUICK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import bioplausible  # noqa: E402

project = "bioplausible"
author = "the bioplausible authors"
copyright = "the bioplausible authors, MIT licence"
release = version = bioplausible.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "_gallery_src", "auto_examples/*.ipynb", "**.ipynb", "gallery_header.rst"]
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "show-inheritance": True, "ignore-module-all": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_inherit_docstrings = True
autoclass_content = "class"
default_role = "code"  # `x` in a docstring is inline code, as in the README
nitpicky = False
suppress_warnings = ["config.cache"]

html_theme = "pydata_sphinx_theme"
html_title = f"bioplausible {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
}
html_show_sourcelink = False


# ------------------------------------------------------------------ the gallery
# The examples are copied into a build folder first: sphinx-gallery runs each one in its
# source folder, and the scripts write their outputs (figures, NWB files) to the working
# directory, which must not be the repository's examples/ folder. The copy also turns each
# script's first docstring line into the reST title sphinx-gallery needs.
GALLERY_SOURCE = DOCS / "_gallery_src"


def _stage_examples() -> None:
    shutil.rmtree(GALLERY_SOURCE, ignore_errors=True)
    GALLERY_SOURCE.mkdir()
    shutil.copy(DOCS / "gallery_header.rst", GALLERY_SOURCE / "GALLERY_HEADER.rst")
    for script in sorted((ROOT / "examples").glob("*.py")):
        text = script.read_text()
        docstring = ast.get_docstring(ast.parse(text), clean=False) or script.stem
        title, _, rest = docstring.strip().partition("\n")
        title = title.strip().rstrip(".")
        titled = f"{title}\n{'=' * len(title)}\n\n{_literal_blocks(rest.strip())}\n"
        start = text.index(docstring)
        opening = text.rfind('"""', 0, start)
        text = text[:opening] + '"""' + titled + text[start + len(docstring):]
        (GALLERY_SOURCE / script.name).write_text(text)


def _literal_blocks(text: str) -> str:
    """Indented blocks of a docstring (command lines) as code blocks, not block quotes."""
    out: list[str] = []
    lines = text.split("\n")
    for index, line in enumerate(lines):
        previous = lines[index - 1] if index else ""
        if line.startswith("    ") and not previous.strip():
            out += [".. code-block:: bash", ""]
        out.append(line)
    return "\n".join(out)


def _png_scraper(block, block_vars, gallery_conf):
    """Figures the example saved as PNG files in its working directory (the scripts save and
    close their figures, so matplotlib's own scraper would find none)."""
    from sphinx_gallery.scrapers import figure_rst

    folder = Path(block_vars["src_file"]).parent
    stem = Path(block_vars["src_file"]).stem
    seen = _png_scraper.seen.setdefault(stem, set())
    images = []
    for png in sorted(folder.glob("*.png")):
        if png.name in seen or png.stat().st_mtime < _png_scraper.started:
            continue
        seen.add(png.name)
        target = Path(next(block_vars["image_path_iterator"]))
        shutil.move(str(png), target)
        images.append(str(target))
    return figure_rst(images, gallery_conf["src_dir"])


_png_scraper.seen = {}
_png_scraper.started = 0.0


def _reset(gallery_conf, fname, when=None):
    import time

    import matplotlib.pyplot as plt

    plt.close("all")
    _png_scraper.started = time.time() - 1.0


_stage_examples()
EXECUTE = os.environ.get("BIOPLAUSIBLE_DOCS_EXECUTE", "1") != "0"
sphinx_gallery_conf = {
    "examples_dirs": str(GALLERY_SOURCE),
    "gallery_dirs": "auto_examples",
    "filename_pattern": re.escape(os.sep) + r"\w+\.py$" if EXECUTE else r"^$",
    "image_scrapers": (_png_scraper,),
    "reset_modules": (_reset,),
    "reset_modules_order": "before",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "plot_gallery": "True",
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    "line_numbers": False,
    "min_reported_time": 3600,
}
