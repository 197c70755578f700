"""Generated source code: where it is cached and how it is loaded.

The rules' compiled per-sample forms and the separation kernels' per-unit forms are written
as Python files named by the hash of their source, so numba's ``cache=True`` finds its
machine code again in a later process; this module is the one place that knows the cache
folder and loads such a file as a module."""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

__all__ = ["cache_directory", "load_module"]


def cache_directory(kind: str) -> Path:
    """``$BIOPLAUSIBLE_CACHE/<kind>`` (default ``$XDG_CACHE_HOME/bioplausible/<kind>``,
    ``~/.cache`` without XDG), created if missing."""
    root = os.environ.get("BIOPLAUSIBLE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "bioplausible")
    path = Path(root) / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_module(module_name: str, text: str, folder: Path) -> ModuleType:
    """Write ``text`` to ``folder/<module_name>.py`` (atomically, only when it differs) and
    import it as the module ``module_name``."""
    path = folder / f"{module_name}.py"
    if not path.exists() or path.read_text() != text:
        with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp") as handle:
            handle.write(text)
        os.replace(handle.name, path)
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
