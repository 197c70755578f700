"""Realisation (b) of a rule: the compiled per-sample form that fused loops call.

The rule's statement becomes Python source with loops over i (post) and j (pre)
(:func:`source`), written to a file named by its hash in the cache directory and compiled
with numba (``cache=True``, so a later process loads the machine code): one call updates the
target in place for one ensemble member and one sample (arguments: ``Rule.signature()``).
"""

from __future__ import annotations

import ast
import functools
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...core.generated import cache_directory, load_module
from .expressions import function_name, rewrite, subscript

if TYPE_CHECKING:
    from .rule import Rule

__all__ = ["source", "compile_source"]

_MATH = {"sqrt": "math.sqrt", "exp": "math.exp", "log": "math.log"}


def source(rule: Rule) -> str:
    """Python source of ``rule``'s per-sample step (loops over i, j)."""
    args = ", ".join(rule.signature())
    function = function_name(rule.name)
    lines = [f"def {function}({args}):  # pragma: no cover - compiled",
             f'    """Per-sample {rule.name}: {rule.equation} (generated from its declaration)."""']
    if rule.kind == "neuron":
        lines.append(f"    for i in range({rule.target}.shape[0]):")
        op = "+=" if rule.increment else "="
        lines.append(f"        {rule.target}[i] {op} {_indexed(rule, rule.expression)}")
        return "\n".join(lines) + "\n"
    lines.append(f"    rows_, columns_ = {rule.target}.shape")
    for name, text in rule.summed.items():
        lines += ["    for i in range(rows_):", "        total_ = 0.0", "        for j in range(columns_):",
                  f"            total_ += {_indexed(rule, text)}", f"        {name}[i] = total_"]
    for name, text in rule.totals.items():
        lines += [f"    {name} = 0.0", "    for i in range(rows_):",
                  f"        {name} += {_indexed_bare(rule, text)}"]
    op = "+=" if rule.increment else "="
    lines += ["    for i in range(rows_):", "        for j in range(columns_):",
              f"            {rule.target}[i, j] {op} {_indexed(rule, rule.expression)}"]
    return "\n".join(lines) + "\n"


def _indexed(rule: Rule, text: str) -> str:
    """``text`` with its names indexed for the loops: synaptic names by (i, j), ``_post``
    names by i, ``_pre`` names by j (a neuron rule: its neuron-level names by i)."""
    neuron_level = {*rule.activities, *rule.states, *rule.summed}

    def replace(name: str) -> ast.expr:
        if rule.kind == "neuron":
            if name in neuron_level or name == rule.target:
                return subscript(name, "i")
            return ast.Name(name, ast.Load())
        if name == "identity":
            return ast.parse("(1.0 if i == j else 0.0)", mode="eval").body
        if name == rule.target or name in rule.synaptic:
            return ast.Subscript(ast.Name(name, ast.Load()), ast.Tuple([ast.Name("i", ast.Load()),
                                                                        ast.Name("j", ast.Load())], ast.Load()),
                                 ast.Load())
        base, _, side = name.rpartition("_")
        if side in ("pre", "post") and base in neuron_level:
            array = base if (rule.recurrent or base in rule.summed) else name
            return subscript(array, "j" if side == "pre" else "i")
        return ast.Name(name, ast.Load())

    return rewrite(text, replace, _MATH)


def _indexed_bare(rule: Rule, text: str) -> str:
    """A total's expression with its bare neuron-level names indexed by i."""
    bare = {*rule.activities, *rule.summed}
    return rewrite(text, lambda n: subscript(n, "i") if n in bare else ast.Name(n, ast.Load()), _MATH)


@functools.cache
def compile_source(name: str, text: str) -> Callable[..., None]:
    """Write ``text`` (the source of rule ``name``) to a file named by its hash in the cache
    folder ``rules`` and compile it with numba (``cache=True``, so a later process loads the
    machine code); returns the dispatcher."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    module_name = f"bioplausible_rule_{function_name(name)}_{digest}"
    module_text = "import math\nfrom numba import njit\n\n\n@njit(cache=True, fastmath=False)\n" + text
    module = load_module(module_name, module_text, cache_directory("rules"))
    return getattr(module, function_name(name))
