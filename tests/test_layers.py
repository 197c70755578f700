"""The import graph runs one way (DESIGN.md): ``cli/experiments → substrates → circuits →
rules/models → core``; tasks import only ``core`` (and the validation helpers). Checked on
the source with ``ast``, lazy (function-level) imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "bioplausible"
#: Helpers every layer may use.
UTILITIES = {"validation", "errors", "core"}
#: What each layer may import of the package besides itself (None: anything but ``cli``).
ALLOWED: dict[str, set[str] | None] = {
    "core": set(),
    "validation": {"errors"},
    "errors": set(),
    "models": UTILITIES,
    "rules": UTILITIES | {"models"},
    "circuits": UTILITIES | {"rules", "models"},
    "tasks": UTILITIES,
    "substrates": UTILITIES | {"rules", "models", "circuits"},
}


def _layer(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def _module_name(path: Path) -> str:
    parts = ["bioplausible", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the package modules ``path`` imports."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("bioplausible")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("bioplausible"):
                continue
            if node.module is None or target.count(".") == 0:  # ``from . import x``: x may be a module
                folder = PACKAGE.joinpath(*target.split(".")[1:])
                found |= {f"{target}.{alias.name}" if (folder / alias.name).is_dir()
                          or (folder / f"{alias.name}.py").is_file() else target for alias in node.names}
            else:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    """Layer → the layers it imports (a table for the closing note as well as the test)."""
    edges: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        layer = _layer(_module_name(path))
        edges.setdefault(layer, set()).update(_layer(m) for m in _imports(path))
    return {layer: targets - {layer, ""} for layer, targets in edges.items()}


def _violations(layer: str) -> list[str]:
    allowed = ALLOWED[layer]
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if _layer(_module_name(path)) != layer:
            continue
        for target in sorted(_imports(path)):
            other = _layer(target)
            if other in ("", layer) or other in allowed:
                continue
            bad.append(f"{path.relative_to(PACKAGE)} imports {target}")
    return bad


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_the_layers_below_it(layer):
    assert _violations(layer) == []


def test_nothing_but_the_cli_entry_points_import_the_cli():
    importers = [layer for layer, targets in graph().items() if "cli" in targets and layer not in ("__main__", "cli")]
    assert importers == []


def test_the_walker_sees_relative_and_lazy_imports():
    imports = _imports(PACKAGE / "tasks" / "base.py")
    assert "bioplausible.core" in imports


def test_circuit_constructors_show_their_keyword_parameters():
    """``inspect.signature`` of every circuit lists its Parameters fields (keyword-only, with
    their defaults), not ``**parameters``; a wrong keyword is refused naming it."""
    import dataclasses
    import inspect

    import bioplausible  # noqa: F401 - registers every circuit
    from bioplausible.circuits import CIRCUITS

    for name, circuit in CIRCUITS.items():
        signature = inspect.signature(circuit)
        fields = {f.name: f for f in dataclasses.fields(circuit.Parameters)}
        assert list(signature.parameters) == list(fields), name
        for parameter in signature.parameters.values():
            assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, (name, parameter)
            field = fields[parameter.name]
            if field.default is not dataclasses.MISSING:
                assert parameter.default == field.default, (name, parameter)
        with pytest.raises(TypeError, match="no_such_parameter"):
            circuit(no_such_parameter=1)


#: The most lines a module of the package may have (issue 10: "no module over ~500 lines").
MODULE_LINES = 500


def test_no_module_is_longer_than_the_layout_allows():
    long = {str(path.relative_to(PACKAGE)): n for path in sorted(PACKAGE.rglob("*.py"))
            if (n := len(path.read_text().splitlines())) > MODULE_LINES}
    assert not long, f"modules over {MODULE_LINES} lines (split them by role): {long}"
