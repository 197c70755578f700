"""One declaration per local rule; every realisation derived from it.

A rule is written once, as a Brian2-style statement over the quantities a synapse (or a
neuron) can see::

    lateral = Rule(
        "corinfomax-lateral", "B = (B - gamma_y * z_post * z_pre) / forgetting_y",
        summed={"z": "B * y_pre"}, activities=("y",), parameters=("gamma_y", "forgetting_y"),
        recurrent=True, paper="Bozkurt, Erdogan & Pehlevan (2023), ICLR",
    )

Names follow Brian2: ``name_pre`` is the quantity of the presynaptic neuron j, ``name_post``
that of the postsynaptic neuron i, a bare name is synaptic (the target, e.g. ``B`` for
``B_ij``, or another synaptic matrix listed in ``synaptic``), ``identity`` is δ_ij, and a
*summed* variable is a neuron-level reduction over the presynaptic side
(``z_post = Σ_j B_ij y_j``, a Brian2 ``(summed)`` variable). ``activities`` change with
every sample (rates of the populations); ``states`` are neuron-level arrays that do not
(a per-neuron learning rate, a gain); ``parameters`` are scalars. ``=`` gives the new value
of the target after one sample, ``+=`` its per-sample increment. A *neuron* rule
(``kind="neuron"``) updates a per-neuron variable from bare neuron-level names.

Three realisations are derived, never typed again:

* :meth:`Rule.numpy` — the batched form of the rate substrate: activities (K, B, n)
  (ensemble, samples, units), the change of the target as the **batch mean** of the
  per-sample change (a batch of one is the online rule). The expression is expanded into
  terms ``c(i, j) · P_b(i) · Q_b(j)`` and each sample-varying product is one einsum.
* :meth:`Rule.compiled` — the per-sample form that fused loops call: generated Python
  source (loops over i, j), compiled with numba from a cached file, updating the target in
  place for one ensemble member and one sample.
* :meth:`Rule.brian2` — the Brian2 form: the synaptic model (target and summed variables)
  and the statement to pass to ``run_regularly`` at presentation boundaries
  (:func:`run_regularly`).

``tests/test_rules_registry.py`` checks every realisation of every registered rule against
the numpy form, so a rule is covered by being registered.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Rule", "RuleBinding", "StateStep", "Brian2Form", "Brian2Plasticity", "RULES", "RECRUIT", "register_rule",
           "run_regularly", "apply_rules", "apply_step", "phases", "rule_changes", "trial_change", "recruited"]

_FUNCTIONS = {"abs", "min", "max", "sqrt", "exp", "log"}
#: The activity a :class:`RuleBinding` with ``recruit`` maps the recruited side's names to: the
#: one-hot recruitment signal ``r(t) = e_μ`` of the unit each presentation adds (made by
#: :func:`recruited`, not read from the activities).
RECRUIT = "recruit"
#: Presentations per one-hot block of :func:`recruited` (the (K, b, b) recruitment signal stays small).
_RECRUIT_CHUNK = 32
_SIDES = ("_pre", "_post")


@dataclass(frozen=True)
class Brian2Form:
    """What a Brian2 object needs to run a rule: the model lines of the target (and of the
    summed variables), and the statement for ``run_regularly``. ``owner`` is ``"synapses"``
    (a synaptic rule) or ``"neurons"`` (a neuron rule)."""

    owner: str
    model: str
    statement: str


@dataclass(frozen=True)
class Rule:
    """A local learning rule, declared once (see the module docstring for the names).

    ``equation`` is ``"target = expression"`` or ``"target += expression"``; ``summed`` maps a
    neuron-level reduction's name to its per-synapse expression (summed over j); ``totals``
    maps a per-sample scalar's name to a neuron-level expression of bare names (activities
    and summed variables) summed over the neurons, e.g. ``{"q": "y * z"}`` for ``q = yᵀz``
    (recurrent rules only; no Brian2 form yet); ``recurrent`` says pre and post are one
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
            unknown = _names(text) - bare - _FUNCTIONS
            if unknown:
                raise ValueError(f"rule {self.name!r}: unknown names {sorted(unknown)} in total {text!r}; "
                                 f"totals read bare activities and summed variables: {sorted(bare)}")
        known = known | set(self.totals)
        for text in (self.expression, *self.summed.values()):
            unknown = _names(text) - known - _FUNCTIONS
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

    def _known_names(self) -> set[str]:
        neuron_level = (*self.activities, *self.states, *self.summed)
        if self.kind == "neuron":
            return {self.target, *neuron_level, *self.parameters}
        sided = {name + side for name in neuron_level for side in _SIDES}
        return {self.target, *self.synaptic, "identity", *sided, *self.parameters}

    def signature(self) -> tuple[str, ...]:
        """Argument order of :meth:`compiled`: target, synaptic matrices, the per-sample
        quantities (one array per name and side; one per name for a recurrent or neuron
        rule), neuron states, the summed variables' output buffers, parameters."""
        return (self.target, *self.synaptic, *self._vector_arguments(self.activities),
                *self._vector_arguments(self.states), *self.summed, *self.parameters)

    def _vector_arguments(self, names: Sequence[str]) -> list[str]:
        if self.kind == "neuron" or self.recurrent:
            return [n for n in names if self._used(n)]
        return [n + side for n in names for side in _SIDES if self._uses(n + side)]

    @functools.cached_property
    def _all_names(self) -> frozenset[str]:
        return frozenset().union(*(_names(t) for t in (self.expression, *self.summed.values(),
                                                       *self.totals.values())))

    def _uses(self, name: str) -> bool:
        return name in self._all_names

    def _used(self, name: str) -> bool:
        return self._uses(name) or self._uses(name + "_pre") or self._uses(name + "_post")

    @functools.cached_property
    def _plan(self) -> dict[str, Any]:
        """What :meth:`numpy` evaluates, worked out once: the names it reads and the
        expression's separated terms as compiled code."""
        def compiled(terms: tuple[tuple[str, str, str], ...]) -> list[tuple[Any, Any, Any]]:
            return [(_code(c), None if p == "1" else _code(p), None if q == "1" else _code(q)) for c, p, q in terms]

        if self.kind == "neuron":
            return {
                "activities": [n for n in self.activities if self._used(n)],
                "states": [n for n in self.states if self._used(n)],
                "code": _code(self.expression),
            }
        return {
            "activities": [(n, side) for n in self.activities for side in _SIDES if self._uses(n + side)],
            "states": [(n, side) for n in self.states for side in _SIDES if self._uses(n + side)],
            "summed": [(name, compiled(_terms(text, self._classify))) for name, text in self.summed.items()],
            "totals": [(name, _code(text)) for name, text in self.totals.items()],
            "terms": compiled(_terms(self.expression, self._classify)),
        }

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
            return self._numpy_neuron(values)
        return self._numpy_synaptic(values)

    def _numpy_neuron(self, values: Mapping[str, Any]) -> np.ndarray:
        plan = self._plan
        target = np.asarray(values[self.target], dtype=float)
        scope: dict[str, Any] = {p: values[p] for p in self.parameters}
        scope[self.target] = target[..., None, :]
        for name in plan["activities"]:
            scope[name] = np.asarray(values[name], dtype=float)
        for name in plan["states"]:
            scope[name] = _neuron_state(values[name])
        per_sample = eval(plan["code"], _GLOBALS, scope)  # noqa: S307 - declared rules only
        shape = np.broadcast_shapes(*[np.shape(scope[n]) for n in plan["activities"]], np.shape(per_sample))
        if np.shape(per_sample) != shape:
            per_sample = np.broadcast_to(per_sample, shape)
        mean = np.add.reduce(per_sample, axis=-2) / shape[-2]
        return mean if self.increment else mean - target

    def _numpy_synaptic(self, values: Mapping[str, Any]) -> np.ndarray:
        plan = self._plan
        target = np.asarray(values[self.target], dtype=float)
        n_post, n_pre = target.shape[-2:]
        constant: dict[str, Any] = {p: values[p] for p in self.parameters}
        constant[self.target] = target
        for name in self.synaptic:
            constant[name] = np.asarray(values[name], dtype=float)
        constant["identity"] = _eye(n_post, n_pre)
        varying: dict[str, Any] = {}
        for name, side in plan["activities"]:
            varying[name + side] = np.asarray(values.get(name + side, values.get(name)), dtype=float)
        for name, side in plan["states"]:
            state = np.asarray(values.get(name + side, values.get(name)), dtype=float)
            if state.ndim:
                state = state[..., :, None] if side == "_post" else state[..., None, :]
            constant[name + side] = state
        for name, terms in plan["summed"]:
            reduced = _reduce(terms, varying, constant)
            varying[name + "_post"] = reduced
            if self.recurrent:
                varying[name + "_pre"] = reduced
        if plan["totals"]:
            # per-sample scalars (K, B, 1); a factor holding one is grouped with the post side,
            # which may also read the parameters
            bare = {n: varying[n + "_post"] for n in (*self.activities, *self.summed) if n + "_post" in varying}
            bare.update({n: np.asarray(values[n], dtype=float) for n in self.activities if n in values})
            for name, code in plan["totals"]:
                varying[name] = np.sum(eval(code, _GLOBALS, bare), axis=-1, keepdims=True)  # noqa: S307
            varying.update({p: values[p] for p in self.parameters})
        mean = _batch_mean(plan["terms"], varying, constant)
        if np.shape(mean) != target.shape:
            mean = np.broadcast_to(mean, np.broadcast_shapes(np.shape(mean), target.shape))
        return mean if self.increment else mean - target

    def _classify(self, name: str) -> str:
        """'post' or 'pre' for sample-varying names, 'constant' for the rest."""
        base, _, side = name.rpartition("_")
        if side in ("pre", "post") and (base in self.activities or base in self.summed):
            return side
        if name in self.totals:
            return "post"
        return "constant"

    # ------------------------------------------------------------------ (b) compiled per-sample
    def source(self) -> str:
        """Python source of the per-sample step (loops over i, j), compiled by :meth:`compiled`."""
        args = ", ".join(self.signature())
        function = _function_name(self.name)
        lines = [f"def {function}({args}):  # pragma: no cover - compiled",
                 f'    """Per-sample {self.name}: {self.equation} (generated from its declaration)."""']
        if self.kind == "neuron":
            lines.append(f"    for i in range({self.target}.shape[0]):")
            op = "+=" if self.increment else "="
            lines.append(f"        {self.target}[i] {op} {self._indexed(self.expression)}")
            return "\n".join(lines) + "\n"
        lines.append(f"    rows_, columns_ = {self.target}.shape")
        for name, text in self.summed.items():
            lines += ["    for i in range(rows_):", "        total_ = 0.0", "        for j in range(columns_):",
                      f"            total_ += {self._indexed(text)}", f"        {name}[i] = total_"]
        for name, text in self.totals.items():
            lines += [f"    {name} = 0.0", "    for i in range(rows_):",
                      f"        {name} += {self._indexed_bare(text)}"]
        op = "+=" if self.increment else "="
        lines += ["    for i in range(rows_):", "        for j in range(columns_):",
                  f"            {self.target}[i, j] {op} {self._indexed(self.expression)}"]
        return "\n".join(lines) + "\n"

    def _indexed(self, text: str) -> str:
        neuron_level = {*self.activities, *self.states, *self.summed}

        def replace(name: str) -> ast.expr:
            if self.kind == "neuron":
                if name in neuron_level or name == self.target:
                    return _subscript(name, "i")
                return ast.Name(name, ast.Load())
            if name == "identity":
                return ast.parse("(1.0 if i == j else 0.0)", mode="eval").body
            if name == self.target or name in self.synaptic:
                return ast.Subscript(ast.Name(name, ast.Load()), ast.Tuple([ast.Name("i", ast.Load()),
                                                                            ast.Name("j", ast.Load())], ast.Load()),
                                     ast.Load())
            base, _, side = name.rpartition("_")
            if side in ("pre", "post") and base in neuron_level:
                array = base if (self.recurrent or base in self.summed) else name
                return _subscript(array, "j" if side == "pre" else "i")
            return ast.Name(name, ast.Load())

        return _rewrite(text, replace, {"sqrt": "math.sqrt", "exp": "math.exp", "log": "math.log"})

    def _indexed_bare(self, text: str) -> str:
        """A total's expression with its bare neuron-level names indexed by i."""
        bare = {*self.activities, *self.summed}
        return _rewrite(text, lambda n: _subscript(n, "i") if n in bare else ast.Name(n, ast.Load()),
                        {"sqrt": "math.sqrt", "exp": "math.exp", "log": "math.log"})

    def compiled(self) -> Callable[..., None]:
        """The numba-compiled per-sample step (arguments: :meth:`signature`), from a cached file."""
        return _compile(self.name, self.source())

    # ------------------------------------------------------------------ (c) Brian2
    def brian2(self, names: Mapping[str, str] | None = None, gate: str | None = None) -> Brian2Form:
        """The Brian2 form. ``names`` maps a declared quantity to the Brian2 expression that
        provides it, with ``{side}`` standing for ``_pre``/``_post`` (e.g.
        ``{"y": "(count{side} * scale - offset)"}`` decodes a rate from a spike count).
        ``gate`` names a shared 0/1 variable that switches the update off (exactly: the
        statement becomes ``M = M + gate * (…)`` or ``M = gate * (…) + (1 - gate) * M``)."""
        if self.totals:
            raise NotImplementedError(f"rule {self.name!r}: a per-sample total ({', '.join(self.totals)}) "
                                      "has no Brian2 form yet")
        names = dict(names or {})

        def replace(name: str) -> ast.expr:
            if name == "identity":
                return ast.parse("int(i == j)", mode="eval").body
            base, _, side = name.rpartition("_")
            if self.kind == "synaptic" and side in ("pre", "post") and base in names:
                return ast.parse(names[base].format(side="_" + side), mode="eval").body
            if self.kind == "neuron" and name in names:
                return ast.parse(names[name].format(side=""), mode="eval").body
            return ast.Name(name, ast.Load())

        brian2_functions = {"min": "clip", "max": "clip"}
        expression = _rewrite(self.expression, replace, brian2_functions)
        statement = f"{self.target} = {self.target} + ({expression})" if self.increment else \
            f"{self.target} = {expression}"
        if gate is not None:
            statement = f"{self.target} = {self.target} + {gate} * ({expression})" if self.increment else \
                f"{self.target} = {gate} * ({expression}) + (1 - {gate}) * {self.target}"
        if self.kind == "neuron":
            return Brian2Form("neurons", f"{self.target} : 1", statement)
        model = [f"{self.target} : 1", *[f"{s} : 1" for s in self.synaptic]]
        model += [f"{n}_post = {_rewrite(t, replace, brian2_functions)} : 1 (summed)" for n, t in self.summed.items()]
        return Brian2Form("synapses", "\n".join(model), statement)


# ---------------------------------------------------------------------------- registry
RULES: dict[str, Rule] = {}


def register_rule(rule: Rule) -> Rule:
    """Add ``rule`` to :data:`RULES`; a second rule of the same name is refused."""
    if rule.name in RULES and RULES[rule.name] is not rule:
        raise ValueError(f"a rule named {rule.name!r} is already registered")
    RULES[rule.name] = rule
    return rule


def run_regularly(owner: Any, rule: Rule, dt: Any, names: Mapping[str, str] | None = None,
                  when: str = "start", order: int = -1) -> Any:
    """Run ``rule``'s Brian2 statement on ``owner`` (a Brian2 ``Synapses`` or ``NeuronGroup``
    whose model includes ``rule.brian2().model``) every ``dt``; returns the code runner.
    Parameters resolve from the owner's namespace or the ``run`` call's."""
    form = rule.brian2(names)
    return owner.run_regularly(form.statement, dt=dt, when=when, order=order,
                               name=f"{owner.name}_{_function_name(rule.name)}*")


@dataclass(frozen=True)
class RuleBinding:
    """A declared rule on one plastic state array of a circuit.

    ``state`` names the circuit's array: (K, n_post, n_pre) for a synaptic rule (stored
    transposed when ``transposed``), (K, n) for a neuron rule (then ``pre`` and ``post`` both
    name the population whose neurons hold it); ``pre``/``post`` the populations;
    ``activities`` maps each of the rule's activity names to the population that provides it;
    ``parameters`` the rule's values; ``states`` maps each of the rule's neuron states to a
    neuron-level quantity of the circuit by name (a state array such as the gains ``g``, or a
    quantity the circuit derives from its state, ``RuleCircuit.rule_states``) or to a constant.
    ``phase`` orders the update (:func:`apply_rules`): the bindings of one phase all read the
    state as the earlier phases left it (e.g. per-neuron rates updated in phase 0 and read by
    the synaptic rules of phase 1). ``gate`` names a per-member 0/1 quantity (K,) of the
    circuit that switches the rule off (a learning phase, as the Brian2 form's gate).

    ``trace`` (optional) is a synaptic *eligibility-trace* rule run along the time axis of each
    trial (activities (K, B, T, n)): the trace starts at zero in every trial, is stepped by its
    rule at each step, and ``rule`` reads it as its one synaptic matrix; the change is the mean
    of ``rule``'s per-step change over trials and steps (:func:`trial_change`). ``parameters``
    then holds both rules' values.

    ``batch_sum``: the change is the *sum* of the per-sample changes over the batch (B × the
    batch mean) rather than their mean: B presentations of a write that does not read the
    target each add their increment (the one-pass sequence write, ``J = (1/N) Σ_μ ξ^{μ+1} ξ^{μᵀ}``).

    ``recruit`` (``"pre"`` or ``"post"``): that side is a population that grows by one unit
    per presentation (a memory unit recruited for each stored transition, Krotov & Hopfield
    2021). Its activity is the one-hot recruitment signal ``r(t) = e_μ`` (map the rule's names
    on that side to :data:`RECRUIT`); the new unit's weights start at zero and the rule's
    increment of that presentation is their value, so the change is B new rows (``"post"``)
    or columns (``"pre"``) of the rule's matrix, appended to the state array
    (:func:`recruited`, :meth:`updated`). The rule must be an increment that does not read
    its target, with no trace, states or gate.
    """

    state: str
    rule: Rule
    pre: str
    post: str
    activities: Mapping[str, str]
    parameters: Mapping[str, float]
    transposed: bool = False
    states: Mapping[str, str | float] = field(default_factory=dict)
    phase: int = 0
    gate: str | None = None
    trace: Rule | None = None
    batch_sum: bool = False
    recruit: str | None = None

    def __post_init__(self) -> None:
        if self.recruit is not None:
            self._check_recruit()
        if self.batch_sum and (self.trace is not None or not self.rule.increment or self.rule.target in
                               self.rule._all_names):
            raise ValueError(f"binding of {self.state!r}: batch_sum takes an increment rule ('+=') that does not "
                             f"read its target {self.rule.target!r} (and no trace)")
        if self.trace is not None and (self.rule.synaptic != (self.trace.target,) or self.trace.states
                                       or self.rule.states):
            raise ValueError(f"binding of {self.state!r}: rule {self.rule.name!r} must read the trace "
                             f"{self.trace.target!r} as its one synaptic matrix (and neither rule neuron states)")
        needed = set(self.rule.activities) | set(self.trace.activities if self.trace is not None else ())
        missing = sorted(needed - set(self.activities)
                         | set(self.rule.states) - set(self.states))
        if missing:
            raise ValueError(f"binding of {self.state!r} by rule {self.rule.name!r} does not say where "
                             f"{missing} come from")

    def _check_recruit(self) -> None:
        if self.recruit not in ("pre", "post"):
            raise ValueError(f"binding of {self.state!r}: recruit must be 'pre', 'post' or None, got {self.recruit!r}")
        rule = self.rule
        if (rule.kind != "synaptic" or not rule.increment or rule.target in rule._all_names or self.trace is not None
                or rule.states or rule.synaptic or rule.summed or self.gate is not None or self.batch_sum):
            raise ValueError(f"binding of {self.state!r}: recruit takes a synaptic increment rule ('+=') of "
                             f"activities only that does not read its target {rule.target!r} (no trace, states, "
                             "gate or batch_sum: a recruited unit's weights start at zero)")
        side = "_" + self.recruit
        if all(self.activities.get(name) == RECRUIT for name in rule.activities):
            raise ValueError(f"binding of {self.state!r}: the recruited side ({self.recruit}) reads the one-hot "
                             f"signal {RECRUIT!r}, and the other side an activity; every activity maps to it")
        for name in rule.activities:
            on_side = rule._uses(name + side)
            if on_side != (self.activities.get(name) == RECRUIT) or (on_side and rule._uses(name + _other(side))):
                raise ValueError(f"binding of {self.state!r}: the recruited side ({self.recruit}) reads the one-hot "
                                 f"signal {RECRUIT!r}, and only it; activity {name!r} maps to "
                                 f"{self.activities.get(name)!r}")

    @property
    def growth_axis(self) -> int:
        """The axis of the state array that a ``recruit`` binding appends the new units along."""
        rows = (self.recruit == "post") != self.transposed
        return -2 if rows else -1

    def updated(self, current: np.ndarray, change: np.ndarray) -> np.ndarray:
        """The state array after ``change`` (:func:`rule_changes`): ``current + change``, or with
        ``recruit`` the new units' weights appended along :attr:`growth_axis`."""
        if self.recruit is None:
            return current + change
        if current.shape[self.growth_axis] == 0:
            return change
        return np.concatenate([current, change], axis=self.growth_axis)


@dataclass(frozen=True)
class StateStep:
    """A declared, named step a circuit applies to one state array in every update (a
    normalisation, a projection onto a constraint set, a running mean, a counter):
    ``function`` maps the array (K, ...) to its new value. ``reads`` names further state
    arrays the step reads, passed after the array in that order, as they are when the step
    runs (e.g. a gain step reading the synapses the rules have just updated); ``activities``
    names per-sample quantities of the update (keys of the activities the rules read), passed
    after those (e.g. TD's eligibility traces, whose last value the circuit carries into the
    next batch). ``phase`` places the step (:func:`apply_rules`): after the rules of its phase
    and before those of later phases (a running mean the rules read sits in a phase before theirs)."""

    name: str
    state: str
    function: Callable[..., np.ndarray]
    description: str = ""
    reads: tuple[str, ...] = ()
    activities: tuple[str, ...] = ()
    phase: int = 0


class Brian2Plasticity:
    """A synaptic rule's Brian2 form on Brian2 groups, run at presentation boundaries.

    One ``Synapses`` object holds the rule's target for every (post, pre) pair inside each of
    ``ensemble`` member blocks (self-pairs included: a diagonal such as a leak is part of the
    matrix); its ``run_regularly`` statement is the rule's, gated by a shared ``gate`` (0
    until a presentation has been counted). ``names`` maps the rule's activities to Brian2
    expressions (e.g. a rate decoded from the spike count). :meth:`apply` runs the same code
    once more by hand (the last presentation of a run has no boundary after it).
    """

    def __init__(self, b2: Any, pre: Any, post: Any, binding: RuleBinding, ensemble: int, n_pre: int, n_post: int,
                 names: Mapping[str, str], dt: Any, when: str = "start", order: int = -1) -> None:
        rule = binding.rule
        if binding.recruit is not None:
            raise ValueError(f"binding of {binding.state!r}: rule {rule.name!r} recruits one unit per presentation "
                             f"(recruit={binding.recruit!r}, a growing array); the Brian2 plasticity runner takes "
                             "fixed synapse sets")
        if rule.kind != "synaptic" or rule.summed or rule.synaptic or rule.states:
            raise ValueError(f"rule {rule.name!r}: the Brian2 plasticity runner takes synaptic rules of "
                             "activities only (no summed variables, states or other matrices yet)")
        self.rule, self.shape = rule, (ensemble, n_post, n_pre)
        form = rule.brian2(names, gate="gate")
        self.synapses = b2.Synapses(pre, post, form.model + "\ngate : 1 (shared)", dt=dt,
                                    namespace=dict(binding.parameters), name=f"plastic_{_function_name(rule.name)}*")
        member, post_index, pre_index = np.meshgrid(np.arange(ensemble), np.arange(n_post), np.arange(n_pre),
                                                    indexing="ij")
        self.synapses.connect(i=(member * n_pre + pre_index).ravel(), j=(member * n_post + post_index).ravel())
        self.runner = self.synapses.run_regularly(form.statement, dt=dt, when=when, order=order)
        self.synapses.gate = 0.0

    @property
    def objects(self) -> list[Any]:
        return [self.synapses]

    def set(self, matrix: np.ndarray) -> None:
        """Write the target (K, n_post, n_pre) into Brian2 (synapses are in (member, post, pre) order)."""
        getattr(self.synapses, self.rule.target)[:] = np.asarray(matrix, dtype=float).reshape(-1)

    def get(self) -> np.ndarray:
        return np.asarray(getattr(self.synapses, self.rule.target)[:]).reshape(self.shape)

    def open(self, value: bool = True) -> None:
        self.synapses.gate = 1.0 if value else 0.0

    def apply(self) -> None:
        """Run the rule's generated code once now (after a ``run`` has built it)."""
        for code_object in self.runner.code_objects:
            code_object()


def rule_changes(state: Mapping[str, np.ndarray], bindings: Sequence[RuleBinding],
                 activities: Mapping[str, np.ndarray],
                 quantities: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Each binding's change of its state array (batched numpy form), all read from ``state``
    as it is (one phase of an update changes its plastic arrays at once). ``quantities`` are
    the neuron-level arrays the bindings' ``states`` and ``gate`` name (default: ``state``);
    a binding whose gate is 0 for every member has no change."""
    quantities = state if quantities is None else quantities
    changes: dict[str, np.ndarray] = {}
    for binding in bindings:
        if binding.state in changes:
            raise ValueError(f"two bindings change {binding.state!r}")
        current = state[binding.state]
        target = np.swapaxes(current, -1, -2) if binding.transposed else current
        states = {name: quantities[value] if isinstance(value, str) else value
                  for name, value in binding.states.items()}
        gate = None
        if binding.gate is not None:
            gate = np.asarray(quantities[binding.gate], dtype=float)
            if not gate.any():
                continue
        if binding.recruit is not None:
            changes[binding.state] = recruited(binding, activities)
            continue
        if binding.trace is not None:
            change = trial_change(binding.trace, binding.rule,
                                  {name: activities[pop] for name, pop in binding.activities.items()},
                                  binding.parameters)
        else:
            change = binding.rule.numpy(**{binding.rule.target: target},
                                        **{name: activities[pop] for name, pop in binding.activities.items()},
                                        **states, **binding.parameters)
            if binding.batch_sum:
                change = np.shape(activities[next(iter(binding.activities.values()))])[-2] * change
        change = np.swapaxes(change, -1, -2) if binding.transposed else change
        if gate is not None and not gate.all():
            change = change * gate.reshape(gate.shape + (1,) * (np.ndim(change) - gate.ndim))
        changes[binding.state] = change
    return changes


def apply_rules(state: dict[str, np.ndarray], bindings: Sequence[RuleBinding],
                activities: Mapping[str, np.ndarray],
                quantities: Mapping[str, np.ndarray] | Callable[[], Mapping[str, np.ndarray]] | None = None,
                steps: Sequence[StateStep] = ()) -> None:
    """One update of ``state`` in place, phase by phase in ascending order (:func:`phases`):
    the phase's bindings' changes (:func:`rule_changes`, read from the state as the earlier
    phases left it), then the phase's ``steps`` in their declared order. With every binding
    and step in phase 0 this is: all rules at once, then the steps. ``quantities`` may be a
    callable, evaluated afresh for each phase (quantities derived from the state)."""
    for bound, stepped in phases(bindings, steps):
        current = quantities() if callable(quantities) else quantities
        by_state = {binding.state: binding for binding in bound}
        for key, change in rule_changes(state, bound, activities, current).items():
            state[key] = by_state[key].updated(state[key], change)
        for step in stepped:
            apply_step(state, step, activities)


def phases(bindings: Sequence[RuleBinding], steps: Sequence[StateStep] = ()
           ) -> list[tuple[list[RuleBinding], list[StateStep]]]:
    """The update's phases in ascending order: each phase's bindings and steps (declared order)."""
    order = sorted({b.phase for b in bindings} | {s.phase for s in steps})
    return [([b for b in bindings if b.phase == p], [s for s in steps if s.phase == p]) for p in order]


def apply_step(state: dict[str, np.ndarray], step: StateStep, activities: Mapping[str, np.ndarray]) -> None:
    """One declared step on ``state`` in place: its array, then its ``reads``, then its ``activities``."""
    state[step.state] = step.function(state[step.state], *(state[name] for name in step.reads),
                                      *(activities[name] for name in step.activities))


def recruited(binding: RuleBinding, activities: Mapping[str, np.ndarray]) -> np.ndarray:
    """The weights of the units a ``recruit`` binding adds, one per presentation (stored as its
    state array: (K, B, n) rows or (K, n, B) columns along :attr:`RuleBinding.growth_axis`).

    Unit b's weights start at zero; presentation b's recruitment signal is one-hot on it
    (``r = e_b``), so its weights are presentation b's increment of the rule. All B are the
    rule's batched numpy form on blocks of presentations with one-hot signals, times the
    block's size (each unit's own increment: the rule is a batch mean)."""
    rule, side = binding.rule, binding.recruit
    read = {name: np.asarray(activities[population], dtype=float)
            for name, population in binding.activities.items() if population != RECRUIT}
    members, samples, other = next(iter(read.values())).shape
    blocks = []
    for start in range(0, samples, _RECRUIT_CHUNK):
        part = slice(start, start + _RECRUIT_CHUNK)
        size = min(samples, start + _RECRUIT_CHUNK) - start
        one_hot = np.ascontiguousarray(np.broadcast_to(np.eye(size), (members, size, size)))
        values = {name: read[name][:, part] if name in read else one_hot for name in binding.activities}
        zero = np.zeros((members, size, other) if side == "post" else (members, other, size))
        blocks.append(size * rule.numpy(**{rule.target: zero}, **values, **binding.parameters))
    new = np.concatenate(blocks, axis=-2 if side == "post" else -1) if len(blocks) > 1 else blocks[0]
    return np.ascontiguousarray(np.swapaxes(new, -1, -2)) if binding.transposed else new


def _other(side: str) -> str:
    return "_pre" if side == "_post" else "_post"


def trial_change(trace: Rule, update: Rule, inputs: Mapping[str, np.ndarray],
                 parameters: Mapping[str, float]) -> np.ndarray:
    """The change (K, n_post, n_pre) of ``update``'s target over a batch of trials, with the
    synaptic eligibility trace of ``trace`` (``X = … X …``) that ``update`` (``W += … X``)
    reads as its one synaptic matrix.

    ``inputs`` are the rules' activities by name, (K, B, T, n) (trials in time). Each trial
    keeps its own trace (members and trials flattened onto the rules' ensemble axis), zero
    at its start; at each step t the trace takes its rule's step and the update's per-step
    change is added; the change is the mean over trials and steps (the target stays fixed
    within the batch: changes summed over a trial and applied at its end)."""
    first = next(iter(inputs.values()))
    n_members, n_trials, n_steps = first.shape[:3]
    names = (*trace.activities, *update.activities)
    n_pre = next(inputs[n].shape[-1] for n in names if trace._uses(f"{n}_pre") or update._uses(f"{n}_pre"))
    n_post = next(inputs[n].shape[-1] for n in names if trace._uses(f"{n}_post") or update._uses(f"{n}_post"))
    flat = n_members * n_trials
    state = np.zeros((flat, n_post, n_pre))
    zero = np.broadcast_to(np.zeros(()), (flat, n_post, n_pre))
    total = np.zeros((flat, n_post, n_pre))
    steps = {n: np.asarray(a, dtype=float).reshape(flat, n_steps, 1, a.shape[-1]) for n, a in inputs.items()}
    trace_values = {p: parameters[p] for p in trace.parameters}
    update_values = {p: parameters[p] for p in update.parameters}
    for t in range(n_steps):
        state = state + trace.numpy(**{trace.target: state}, **trace_values,
                                    **{f"{n}_{_side(trace, n)}": steps[n][:, t] for n in trace.activities})
        total += update.numpy(**{update.target: zero, trace.target: state}, **update_values,
                              **{f"{n}_{_side(update, n)}": steps[n][:, t] for n in update.activities})
    return total.reshape(n_members, n_trials, n_post, n_pre).sum(axis=1) / (n_steps * n_trials)


def _side(rule: Rule, name: str) -> str:
    """Which side (``pre``/``post``) of ``rule`` reads activity ``name``."""
    return "pre" if rule._uses(f"{name}_pre") else "post"


# ---------------------------------------------------------------------------- helpers
def _neuron_state(value: Any) -> np.ndarray:
    """A neuron state (K, n) or scalar as (K, 1, n) (or a broadcastable scalar)."""
    array = np.asarray(value, dtype=float)
    return array[..., None, :] if array.ndim >= 1 else array.reshape(1, 1, 1)


_GLOBALS: dict[str, Any] = {"__builtins__": {}}


@functools.lru_cache(maxsize=64)
def _eye(n_post: int, n_pre: int) -> np.ndarray:
    eye = np.eye(n_post, n_pre)
    eye.setflags(write=False)
    return eye


def _reduce(terms: list[tuple[Any, Any, Any]], varying: Mapping[str, Any], constant: Mapping[str, Any]) -> Any:
    """Per-sample Σ_j of separated terms ``c(i, j) P_b(i) Q_b(j)``: (K, B, n_post)."""
    total: Any = 0.0
    for c_code, p_code, q_code in terms:
        if q_code is None:
            raise ValueError("a summed variable must read a presynaptic activity in every term")
        c = np.asarray(eval(c_code, _GLOBALS, constant), dtype=float)  # noqa: S307
        q = eval(q_code, _GLOBALS, varying)  # noqa: S307
        if c.ndim < 2:
            reduced = c * np.sum(q, axis=-1, keepdims=True)
        else:
            reduced = np.matmul(q, np.swapaxes(c, -1, -2))
        total = total + (reduced if p_code is None else eval(p_code, _GLOBALS, varying) * reduced)  # noqa: S307
    return total


def _outer_sum(post: np.ndarray, pre: np.ndarray) -> np.ndarray:
    """``Σ_b post_b pre_bᵀ``: (K, B, n), (K, B, m) -> (K, n, m). Large batches take one 2-D
    BLAS call per member (numpy's stacked matmul is slower on the transposed view). When both
    are ±1 (binary units) every sum is an integer of magnitude ≤ B, exact in single precision
    (B < 2²⁴): the products are taken in float32, twice as fast, with the same float64 values."""
    if post.ndim != 3 or pre.ndim != 3 or post.shape[-2] < 64:
        return np.matmul(np.swapaxes(post, -1, -2), pre)
    single = post.shape[-2] < 2**24 and _all_signs(post) and _all_signs(pre)
    if single:
        post, pre = post.astype(np.float32), pre.astype(np.float32)
    members = max(post.shape[0], pre.shape[0])
    out = np.empty((members, post.shape[-1], pre.shape[-1]), dtype=post.dtype)
    for k in range(members):
        np.matmul(post[min(k, post.shape[0] - 1)].T, pre[min(k, pre.shape[0] - 1)], out=out[k])
    return out.astype(float) if single else out


def _all_signs(array: np.ndarray) -> bool:
    """Whether every entry is exactly −1 or +1 (the first entry decides at once for graded data)."""
    if array.size == 0 or abs(float(array.flat[0])) != 1.0:
        return False
    return int(np.count_nonzero(array == 1.0) + np.count_nonzero(array == -1.0)) == array.size


def _batch_mean(terms: list[tuple[Any, Any, Any]], varying: Mapping[str, Any], constant: Mapping[str, Any]) -> Any:
    """Batch mean of Σ terms ``c(i, j) P_b(i) Q_b(j)``: each sample-varying product one matmul."""
    total: Any = 0.0
    for c_code, p_code, q_code in terms:
        c = eval(c_code, _GLOBALS, constant)  # noqa: S307
        if p_code is not None and q_code is not None:
            p, q = eval(p_code, _GLOBALS, varying), eval(q_code, _GLOBALS, varying)  # noqa: S307
            m = _outer_sum(p, q) / p.shape[-2]
        elif p_code is not None:
            p = eval(p_code, _GLOBALS, varying)  # noqa: S307
            m = (np.add.reduce(p, axis=-2) / p.shape[-2])[..., :, None]
        elif q_code is not None:
            q = eval(q_code, _GLOBALS, varying)  # noqa: S307
            m = (np.add.reduce(q, axis=-2) / q.shape[-2])[..., None, :]
        else:
            m = 1.0
        total = total + c * m
    return total


def _names(text: str) -> set[str]:
    return {node.id for node in ast.walk(ast.parse(text, mode="eval")) if isinstance(node, ast.Name)}


def _subscript(name: str, index: str) -> ast.expr:
    return ast.Subscript(ast.Name(name, ast.Load()), ast.Name(index, ast.Load()), ast.Load())


def _rewrite(text: str, replace: Callable[[str], ast.expr], functions: Mapping[str, str]) -> str:
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


_NUMPY_FUNCTIONS = {"abs": np.abs, "min": np.minimum, "max": np.maximum, "sqrt": np.sqrt, "exp": np.exp,
                    "log": np.log}


_GLOBALS.update(_NUMPY_FUNCTIONS)


@functools.cache
def _code(text: str) -> Any:
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


def _terms(text: str, classify: Callable[[str], str]) -> tuple[tuple[str, str, str], ...]:
    return _terms_cached(text, tuple(sorted((n, classify(n)) for n in _names(text) - _FUNCTIONS)))


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


def _function_name(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _cache_directory() -> Path:
    root = os.environ.get("BIOPLAUSIBLE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "bioplausible")
    path = Path(root) / "rules"
    path.mkdir(parents=True, exist_ok=True)
    return path


@functools.cache
def _compile(name: str, source: str) -> Callable[..., None]:
    """Write ``source`` to a file named by its hash and compile it with numba (``cache=True``,
    so a later process loads the machine code); returns the dispatcher."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    module_name = f"bioplausible_rule_{_function_name(name)}_{digest}"
    path = _cache_directory() / f"{module_name}.py"
    text = "import math\nfrom numba import njit\n\n\n@njit(cache=True, fastmath=False)\n" + source
    if not path.exists() or path.read_text() != text:
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
            handle.write(text)
        os.replace(handle.name, path)
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return getattr(module, _function_name(name))
