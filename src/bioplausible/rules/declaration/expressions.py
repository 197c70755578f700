"""The expression machinery every realisation of a rule shares: the names an expression
reads, rewriting its names and functions (indexing for loops, Brian2 expressions), compiled
evaluation on numpy arrays, and the separation of an expression into ``constant · post · pre``
terms (sympy) that the batched form evaluates as matrix products."""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["FUNCTIONS", "SIDES", "GLOBALS", "names", "subscript", "rewrite", "code", "terms", "factors",
           "function_name"]

#: The functions a rule's expression may call.
FUNCTIONS = {"abs", "min", "max", "sqrt", "exp", "log"}
#: The suffixes of a presynaptic and a postsynaptic neuron-level name.
SIDES = ("_pre", "_post")

_NUMPY_FUNCTIONS = {"abs": np.abs, "min": np.minimum, "max": np.maximum, "sqrt": np.sqrt, "exp": np.exp,
                    "log": np.log}
#: The globals of a compiled expression evaluated on numpy arrays: the functions only.
GLOBALS: dict[str, Any] = {"__builtins__": {}, **_NUMPY_FUNCTIONS}


def names(text: str) -> set[str]:
    """The names ``text`` (an expression) reads, functions included."""
    return {node.id for node in ast.walk(ast.parse(text, mode="eval")) if isinstance(node, ast.Name)}


def subscript(name: str, index: str) -> ast.expr:
    """``name[index]`` as an expression node."""
    return ast.Subscript(ast.Name(name, ast.Load()), ast.Name(index, ast.Load()), ast.Load())


def rewrite(text: str, replace: Callable[[str], ast.expr], functions: Mapping[str, str]) -> str:
    """``text`` with every name replaced by ``replace(name)`` and every function renamed by
    ``functions`` (a two-argument ``min``/``max`` mapped to ``"clip"`` becomes Brian2's ``clip``)."""
    class Transformer(ast.NodeTransformer):
        def visit_Call(self, node: ast.Call) -> ast.AST:
            node.args = [self.visit(a) for a in node.args]
            name = node.func.id if isinstance(node.func, ast.Name) else ""
            if functions.get(name) == "clip" and len(node.args) == 2:  # Brian2 has clip, not min/max
                first, second = node.args
                infinity = ast.Name("inf", ast.Load())
                bounds = [ast.UnaryOp(ast.USub(), infinity), second] if name == "min" else [second, infinity]
                return ast.Call(ast.Name("clip", ast.Load()), [first, *bounds], [])
            if isinstance(node.func, ast.Name) and node.func.id in functions:
                node.func = ast.parse(functions[node.func.id], mode="eval").body
            return node

        def visit_Name(self, node: ast.Name) -> ast.AST:
            return replace(node.id)

    return ast.unparse(Transformer().visit(ast.parse(text, mode="eval")))


@functools.cache
def code(text: str) -> Any:
    """``text`` compiled for ``eval`` with :data:`GLOBALS` (cached)."""
    return compile(text, "<rule>", "eval")


@functools.cache
def _terms_cached(text: str, classes: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str, str], ...]:
    """Expand ``text`` into terms ``constant · post · pre`` and group them, as source strings.

    Terms sharing their presynaptic factor and constant are summed over their postsynaptic
    parts (so ``(y_post - ŷ_post) x_pre`` stays one product). A factor mixing the two sides
    in a non-product way (``exp(x_pre y_post)``) is refused.
    """
    import sympy

    classify = dict(classes)
    symbols = {name: sympy.Symbol(name) for name in classify}
    functions = {"abs": sympy.Abs, "min": sympy.Min, "max": sympy.Max, "sqrt": sympy.sqrt, "exp": sympy.exp,
                 "log": sympy.log}
    expression = sympy.expand(eval(text, {"__builtins__": {}, **functions}, symbols))  # noqa: S307
    groups: dict[tuple[Any, Any], Any] = {}
    for term in sympy.Add.make_args(expression):
        parts: dict[str, Any] = {"constant": sympy.Integer(1), "post": sympy.Integer(1), "pre": sympy.Integer(1)}
        for factor in sympy.Mul.make_args(term):
            sides = {classify[str(s)] for s in factor.free_symbols} - {"constant"}
            if len(sides) > 1:
                raise ValueError(f"cannot separate {factor} into pre and post factors")
            parts[sides.pop() if sides else "constant"] *= factor
        key = (parts["constant"], parts["pre"])
        groups[key] = groups.get(key, 0) + parts["post"]
    # regroup the other way: terms with the same post part and pre part add their constants
    merged: dict[tuple[Any, Any], Any] = {}
    for (constant, pre), post in groups.items():
        merged[(post, pre)] = merged.get((post, pre), 0) + constant
    printer = _printer()
    return tuple((printer(c), printer(p), printer(q)) for (p, q), c in merged.items())


@functools.lru_cache(maxsize=256)
def _factors_cached(text: str, parameters: tuple[str, ...]) -> tuple[str, ...]:
    import sympy

    symbols = {name: sympy.Symbol(name) for name in names(text) - FUNCTIONS}
    functions = {"abs": sympy.Abs, "min": sympy.Min, "max": sympy.Max, "sqrt": sympy.sqrt, "exp": sympy.exp,
                 "log": sympy.log}
    product = eval(text, {"__builtins__": {}, **functions}, symbols)  # noqa: S307
    return tuple(sorted(str(f) for f in sympy.Mul.make_args(product) if f.is_Symbol and str(f) in parameters))


def factors(text: str, parameters: Sequence[str]) -> tuple[str, ...]:
    """The parameters among the factors of the product ``text`` (a term's constant, as
    :func:`terms` prints it): the term is 0 when one of them is."""
    return _factors_cached(text, tuple(sorted(parameters)))


def terms(text: str, classify: Callable[[str], str]) -> tuple[tuple[str, str, str], ...]:
    """``text`` as separated terms ``(constant, post, pre)`` (source strings, ``"1"`` for an
    absent factor); ``classify`` names each variable's class: ``"post"``, ``"pre"`` or ``"constant"``."""
    return _terms_cached(text, tuple(sorted((n, classify(n)) for n in names(text) - FUNCTIONS)))


@functools.lru_cache(maxsize=1)
def _printer() -> Callable[[Any], str]:
    from sympy.printing.pycode import PythonCodePrinter

    class Printer(PythonCodePrinter):
        def _print_Min(self, expr: Any) -> str:
            return "min(" + ", ".join(self._print(a) for a in expr.args) + ")"

        def _print_Max(self, expr: Any) -> str:
            return "max(" + ", ".join(self._print(a) for a in expr.args) + ")"

        def _print_Abs(self, expr: Any) -> str:
            return f"abs({self._print(expr.args[0])})"

        def _print_Pow(self, expr: Any, rational: bool = False) -> str:
            base, exponent = expr.args
            if exponent == sympy_half():
                return f"sqrt({self._print(base)})"
            return f"({self._print(base)})**({self._print(exponent)})"

        def _print_Function(self, expr: Any) -> str:
            return f"{type(expr).__name__}(" + ", ".join(self._print(a) for a in expr.args) + ")"

        _print_exp = _print_Function
        _print_log = _print_Function

    printer = Printer({"fully_qualified_modules": False})
    return printer.doprint


def sympy_half() -> Any:
    import sympy

    return sympy.Rational(1, 2)


def function_name(name: str) -> str:
    """``name`` as a Python identifier (a rule's name in generated code and Brian2 object names)."""
    return re.sub(r"\W", "_", name)
