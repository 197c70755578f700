"""The declaration of a local rule (:class:`Rule`) and the registry of rules (:data:`RULES`).

A rule is written once, as a Brian2-style statement (the package docstring,
:mod:`bioplausible.rules.declaration`, describes the names); its three realisations are
derived from it by :mod:`~bioplausible.rules.declaration.batched` (numpy, K × B),
:mod:`~bioplausible.rules.declaration.compiled` (numba, per sample) and
:mod:`~bioplausible.rules.declaration.brian2_form` (``run_regularly`` code).
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import batched, expressions
from . import compiled as compiled_form
from .brian2_form import Brian2Form, brian2_form
from .expressions import FUNCTIONS, SIDES

__all__ = ["Rule", "RULES", "register_rule"]


@dataclass(frozen=True)
class Rule:
    """A local learning rule, declared once (:mod:`bioplausible.rules.declaration` describes the names).

    ``equation`` is ``"target = expression"`` or ``"target += expression"``; ``summed`` maps a
    neuron-level reduction's name to its per-synapse expression (summed over j); ``totals``
    maps a per-sample scalar's name to a neuron-level expression of bare names (activities
    and summed variables) summed over the neurons, e.g. ``{"q": "y * z"}`` for ``q = yᵀz``
    (recurrent rules only; in the Brian2 form a summed variable over the whole block,
    computed after the others); ``recurrent`` says pre and post are one
    population, so ``y_pre`` and ``y_post`` are one array.
    """

    name: str
    equation: str
    paper: str
    activities: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    synaptic: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    summed: Mapping[str, str] = field(default_factory=dict)
    totals: Mapping[str, str] = field(default_factory=dict)
    kind: str = "synaptic"
    recurrent: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("synaptic", "neuron"):
            raise ValueError(f"kind must be 'synaptic' or 'neuron', got {self.kind!r}")
        match = re.fullmatch(r"\s*([A-Za-z_]\w*)\s*(\+?=)\s*(.+)", self.equation, flags=re.S)
        if match is None:
            raise ValueError(
                f"equation must read 'target = expression' or 'target += expression', got {self.equation!r}")
        object.__setattr__(self, "_parts", (match.group(1), match.group(2), match.group(3).strip()))
        known = self._known_names()
        reserved = {"i", "j", "t", "dt", "N", "math", "rows_", "columns_", "total_"} & known
        if reserved or "identity" in (*self.activities, *self.states, *self.synaptic, *self.parameters):
            raise ValueError(f"rule {self.name!r}: {sorted(reserved) or ['identity']} are reserved names")
        if self.totals and not (self.recurrent and self.kind == "synaptic"):
            raise ValueError(f"rule {self.name!r}: totals are for recurrent synaptic rules")
        bare = {*self.activities, *self.summed}
        for name, text in self.totals.items():
            if name in known:
                raise ValueError(f"rule {self.name!r}: total {name!r} clashes with a declared name")
            unknown = expressions.names(text) - bare - FUNCTIONS
            if unknown:
                raise ValueError(f"rule {self.name!r}: unknown names {sorted(unknown)} in total {text!r}; "
                                 f"totals read bare activities and summed variables: {sorted(bare)}")
        known = known | set(self.totals)
        for text in (self.expression, *self.summed.values()):
            unknown = expressions.names(text) - known - FUNCTIONS
            if unknown:
                raise ValueError(f"rule {self.name!r}: unknown names {sorted(unknown)} in {text!r}; "
                                 f"declared: {sorted(known)}")

    # ------------------------------------------------------------------ declaration
    @property
    def target(self) -> str:
        """The variable the rule changes (synaptic matrix or per-neuron array)."""
        return self._parts[0]  # type: ignore[attr-defined]

    @property
    def increment(self) -> bool:
        """True for ``+=`` (per-sample increment), False for ``=`` (new value)."""
        return self._parts[1] == "+="  # type: ignore[attr-defined]

    @property
    def expression(self) -> str:
        return self._parts[2]  # type: ignore[attr-defined]

    def change(self, **names: str) -> str:
        """The per-sample change of the target as an expression (the expression of a ``+=``
        rule, ``(expression) - target`` of an ``=`` rule), with each name as written (``x_pre``,
        ``W``, ``learning_rate``) that ``names`` lists replaced by the expression it gives.

        A rule made of other rules' terms builds its equation from theirs with this, instead of
        typing them again: e.g. ``"W += " + FEEDFORWARD.change(decay="0") + " + " + …``; it
        declares the summed variables and totals of the rules it reads, which keep their names.
        A name the rule does not read is refused (a misspelt replacement would do nothing)."""
        unknown = sorted(set(names) - self.names_read - {self.target})
        if unknown:
            raise ValueError(f"rule {self.name!r} does not read {unknown}; it reads {sorted(self.names_read)}")
        reduced = sorted(n for n in names if n in self.totals or n.rpartition("_")[0] in self.summed)
        if reduced:
            raise ValueError(f"rule {self.name!r}: {reduced} are its summed variables or totals, which keep "
                             "their names (a rule built from its change declares the same summed and totals)")
        text = self.expression if self.increment else f"({self.expression}) - {self.target}"

        def replace(name: str) -> ast.expr:
            if name in names:
                return ast.parse(f"({names[name]})", mode="eval").body
            return ast.Name(name, ast.Load())

        return f"({expressions.rewrite(text, replace, {})})"

    def _known_names(self) -> set[str]:
        neuron_level = (*self.activities, *self.states, *self.summed)
        if self.kind == "neuron":
            return {self.target, *neuron_level, *self.parameters}
        sided = {name + side for name in neuron_level for side in SIDES}
        return {self.target, *self.synaptic, "identity", *sided, *self.parameters}

    def signature(self) -> tuple[str, ...]:
        """Argument order of :meth:`compiled`: target, synaptic matrices, the per-sample
        quantities (one array per name and side; one per name for a recurrent or neuron
        rule), neuron states, the summed variables' output buffers, parameters."""
        return (self.target, *self.synaptic, *self._vector_arguments(self.activities),
                *self._vector_arguments(self.states), *self.summed, *self.parameters)

    def _vector_arguments(self, names: Sequence[str]) -> list[str]:
        if self.kind == "neuron" or self.recurrent:
            return [n for n in names if self.used(n)]
        return [n + side for n in names for side in SIDES if self.uses(n + side)]

    @functools.cached_property
    def names_read(self) -> frozenset[str]:
        """Every name the rule's expression, summed variables and totals read."""
        return frozenset().union(*(expressions.names(t) for t in (self.expression, *self.summed.values(),
                                                      *self.totals.values())))

    def uses(self, name: str) -> bool:
        """Whether the rule reads ``name`` (as written: ``y_pre``, ``B``, ``gamma``)."""
        return name in self.names_read

    def used(self, name: str) -> bool:
        """Whether the rule reads the neuron-level quantity ``name`` on either side or bare."""
        return self.uses(name) or self.uses(name + "_pre") or self.uses(name + "_post")

    _uses = uses  # the former private names
    _used = used

    @functools.cached_property
    def _plan(self) -> dict[str, Any]:
        """What :meth:`numpy` evaluates, worked out once (:func:`~bioplausible.rules.declaration.batched.plan`)."""
        return batched.plan(self)

    # ------------------------------------------------------------------ (a) batched numpy
    def numpy(self, **values: Any) -> np.ndarray:
        """The change of the target as the batch mean of the per-sample change.

        Activities (K, B, n) by name (``y=...``; for a non-recurrent rule a name used on both
        sides may be given per side, ``y_pre=``/``y_post=``); the target and synaptic
        matrices (K, n_post, n_pre) (or (K, n) for a neuron rule); states (K, n) or scalars;
        parameters as scalars.
        """
        missing = [n for n in (self.target, *self.synaptic, *self.parameters) if n not in values]
        if missing:
            raise TypeError(f"rule {self.name!r} needs {missing}")
        if self.kind == "neuron":
            return batched.neuron_change(self, self._plan, values)
        return batched.synaptic_change(self, self._plan, values)

    def values(self, **values: Any) -> np.ndarray:
        """A neuron rule's target after one sample, elementwise on arrays of any broadcast
        shape (no batch mean): the rule as a per-sample signal, e.g. a reward-prediction error
        for every transition, or one step of a trace along a stream. The target is needed only
        if the rule reads it (``+=`` or named in the expression)."""
        if self.kind != "neuron":
            raise TypeError(f"rule {self.name!r}: values() evaluates neuron rules; {self.kind!r} rules change "
                            "matrices (use numpy())")
        needed = [*self.parameters, *(n for n in (*self.activities, *self.states) if self.used(n))]
        if self.increment or self.used(self.target):
            needed.insert(0, self.target)
        missing = [n for n in needed if n not in values]
        if missing:
            raise TypeError(f"rule {self.name!r} needs {missing}")
        return batched.neuron_values(self, self._plan, values)

    # ------------------------------------------------------------------ (b) compiled per-sample
    def source(self) -> str:
        """Python source of the per-sample step (loops over i, j), compiled by :meth:`compiled`."""
        return compiled_form.source(self)

    def compiled(self) -> Callable[..., None]:
        """The numba-compiled per-sample step (arguments: :meth:`signature`), from a cached file."""
        return compiled_form.compile_source(self.name, self.source())

    # ------------------------------------------------------------------ (c) Brian2
    def brian2(self, names: Mapping[str, str] | None = None, gate: str | None = None) -> Brian2Form:
        """The Brian2 form. ``names`` maps a declared quantity to the Brian2 expression that
        provides it, with ``{side}`` standing for ``_pre``/``_post`` (e.g.
        ``{"y": "(count{side} * scale - offset)"}`` decodes a rate from a spike count).
        ``gate`` names a shared 0/1 variable that switches the update off (exactly: the
        statement becomes ``M = M + gate * (…)`` or ``M = gate * (…) + (1 - gate) * M``)."""
        return brian2_form(self, names, gate)


RULES: dict[str, Rule] = {}


def register_rule(rule: Rule) -> Rule:
    """Add ``rule`` to :data:`RULES`; a second rule of the same name is refused."""
    if rule.name in RULES and RULES[rule.name] is not rule:
        raise ValueError(f"a rule named {rule.name!r} is already registered")
    RULES[rule.name] = rule
    return rule
