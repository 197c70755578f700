"""Realisation (c) of a rule: the Brian2 form, run at presentation boundaries.

:func:`brian2_form` gives the model lines of the target (and of the summed variables) and
the statement for ``run_regularly``; :func:`run_regularly` installs it on a Brian2 object;
:class:`Brian2Plasticity` builds the ``Synapses`` of a circuit's bound rule across ensemble
members (:class:`Brian2NeuronPlasticity` the ``NeuronGroup`` of a neuron rule) and runs it
gated, so a whole learning run can live inside generated code.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .expressions import function_name, rewrite

if TYPE_CHECKING:
    from .bindings import RuleBinding
    from .rule import Rule

__all__ = ["Brian2Form", "brian2_form", "run_regularly", "order_summed", "Brian2Plasticity",
           "Brian2NeuronPlasticity", "brian2_plasticity_refusal"]


@dataclass(frozen=True)
class Brian2Form:
    """What a Brian2 object needs to run a rule: the model lines of the target (and of the
    summed variables), and the statement for ``run_regularly``. ``owner`` is ``"synapses"``
    (a synaptic rule) or ``"neurons"`` (a neuron rule). ``summed`` names the summed
    variables of ``model`` (``z_post``, then the totals' ``q_post``) in the order they must be
    computed: a total reads the summed variables (:func:`order_summed` schedules them so)."""

    owner: str
    model: str
    statement: str
    summed: tuple[str, ...] = ()


def brian2_form(rule: Rule, names: Mapping[str, str] | None = None, gate: str | None = None) -> Brian2Form:
    """The Brian2 form of ``rule`` (``Rule.brian2`` documents ``names`` and ``gate``).

    A per-sample total (``rule.totals``, e.g. ``q = Σ_i y_i z_i``) is one more summed
    variable, ``q_post = y_pre * z_pre (summed)``, read by the statement as ``q_post``: on a
    recurrent ``Synapses`` that connects every pair of neurons of each block (self-pairs
    included, as :class:`Brian2Plasticity` and the registry test connect them) it holds the
    block's total on every neuron. It reads the summed variables, so they must be computed
    first (``Brian2Form.summed`` gives the order, :func:`order_summed` sets it;
    :func:`run_regularly` does both)."""
    names = dict(names or {})

    def replace(name: str) -> ast.expr:
        if name == "identity":
            return ast.parse("int(i == j)", mode="eval").body
        if name in rule.totals:
            return ast.Name(name + "_post", ast.Load())
        base, _, side = name.rpartition("_")
        if rule.kind == "synaptic" and side in ("pre", "post") and base in names:
            return ast.parse(names[base].format(side="_" + side), mode="eval").body
        if rule.kind == "neuron" and name in names:
            return ast.parse(names[name].format(side=""), mode="eval").body
        return ast.Name(name, ast.Load())

    brian2_functions = {"min": "clip", "max": "clip"}
    expression = rewrite(rule.expression, replace, brian2_functions)
    target = rule.target
    statement = f"{target} = {target} + ({expression})" if rule.increment else f"{target} = {expression}"
    if gate is not None:
        statement = f"{target} = {target} + {gate} * ({expression})" if rule.increment else \
            f"{target} = {gate} * ({expression}) + (1 - {gate}) * {target}"
    if rule.kind == "neuron":
        return Brian2Form("neurons", f"{target} : 1", statement)
    model = [f"{target} : 1", *[f"{s} : 1" for s in rule.synaptic]]
    model += [f"{n}_post = {rewrite(t, replace, brian2_functions)} : 1 (summed)" for n, t in rule.summed.items()]

    def presynaptic(name: str) -> ast.expr:  # a total's bare names, read on the presynaptic side
        return replace(name + "_pre")

    model += [f"{n}_post = {rewrite(t, presynaptic, brian2_functions)} : 1 (summed)" for n, t in rule.totals.items()]
    summed = tuple(f"{n}_post" for n in (*rule.summed, *rule.totals))
    return Brian2Form("synapses", "\n".join(model), statement, summed)


def order_summed(synapses: Any, form: Brian2Form) -> None:
    """Schedule the summed variables of ``form`` on ``synapses`` (a Brian2 ``Synapses`` whose
    model includes ``form.model``) in ``form.summed`` order, each one before the next in the
    same slot: Brian2 would otherwise order them by name, and a total must read the summed
    variables of the same time step. The last keeps Brian2's own place (just before its group)."""
    count = len(form.summed)
    for index, name in enumerate(form.summed):
        updater = synapses.summed_updaters[name]
        updater.order = updater.target.order - 1 - (count - 1 - index)


def run_regularly(owner: Any, rule: Rule, dt: Any, names: Mapping[str, str] | None = None,
                  when: str = "start", order: int = -1) -> Any:
    """Run ``rule``'s Brian2 statement on ``owner`` (a Brian2 ``Synapses`` or ``NeuronGroup``
    whose model includes ``rule.brian2().model``) every ``dt``; returns the code runner.
    Parameters resolve from the owner's namespace or the ``run`` call's. The summed variables
    (and totals) are scheduled in their order (:func:`order_summed`)."""
    form = rule.brian2(names)
    if form.summed:
        order_summed(owner, form)
    return owner.run_regularly(form.statement, dt=dt, when=when, order=order,
                               name=f"{owner.name}_{function_name(rule.name)}*")


def brian2_plasticity_refusal(binding: RuleBinding) -> str | None:
    """None when :class:`Brian2Plasticity` (a synaptic rule) or :class:`Brian2NeuronPlasticity`
    (a neuron rule) runs ``binding``, else why not (one line)."""
    rule = binding.rule
    if binding.recruit is not None:
        return (f"binding of {binding.state!r}: rule {rule.name!r} recruits one unit per presentation "
                f"(recruit={binding.recruit!r}, a growing array); the Brian2 plasticity runner takes fixed "
                "synapse sets")
    if rule.summed or rule.synaptic or rule.totals:
        what = [w for w, present in (("summed variables", rule.summed), ("per-sample totals", rule.totals),
                                     ("other synaptic matrices", rule.synaptic)) if present]
        return (f"rule {rule.name!r} ({', '.join(what)}): the Brian2 plasticity runner takes rules of activities "
                "and constant neuron states only")
    named = sorted(name for name, value in binding.states.items() if isinstance(value, str))
    if named:
        return (f"binding of {binding.state!r}: rule {rule.name!r} reads neuron states {named} from the circuit's "
                f"quantities ({', '.join(str(binding.states[n]) for n in named)}); the Brian2 plasticity runner "
                "takes constant states only")
    if binding.trace is not None or binding.gate is not None:
        return (f"binding of {binding.state!r}: an eligibility trace or a gate of the circuit's own has no Brian2 "
                "runner here")
    return None


def _shared(binding: RuleBinding) -> tuple[dict[str, str], str]:
    """The names a runner maps the rule's constant states to (shared variables ``state_<name>``)
    and the model lines of every shared variable: the gate, the parameters, those states."""
    states = {name: f"state_{name}" for name in binding.rule.states}
    lines = "".join(f"\n{name} : 1 (shared)" for name in ("gate", *binding.rule.parameters, *states.values()))
    return states, lines


class _Runner:
    """What both runners share: the gate, the parameters and constant states of the binding
    (shared variables, written per update by :meth:`set_parameters`), the hand-run code."""

    owner: Any
    runner: Any
    rule: Rule
    shape: tuple[int, ...]

    def _check(self, binding: RuleBinding) -> None:
        reason = brian2_plasticity_refusal(binding)
        if reason is not None:
            raise ValueError(reason)

    @property
    def objects(self) -> list[Any]:
        return [self.owner]

    def set_parameters(self, binding: RuleBinding) -> None:
        """Write the rule's parameters and constant states (their values in ``binding``, the
        binding of this update: a schedule may change them)."""
        for name in self.rule.parameters:
            setattr(self.owner, name, float(binding.parameters[name]))
        for name in self.rule.states:
            setattr(self.owner, f"state_{name}", float(binding.states[name]))  # type: ignore[arg-type]

    def set(self, values: np.ndarray) -> None:
        """Write the target into Brian2 (in (member, post, pre) or (member, neuron) order)."""
        getattr(self.owner, self.rule.target)[:] = np.asarray(values, dtype=float).reshape(-1)

    def get(self) -> np.ndarray:
        return np.asarray(getattr(self.owner, self.rule.target)[:]).reshape(self.shape)

    def open(self, value: bool = True) -> None:
        self.owner.gate = 1.0 if value else 0.0

    def apply(self) -> None:
        """Run the rule's generated code once now (after a ``run`` has built it)."""
        for code_object in self.runner.code_objects:
            code_object()


class Brian2Plasticity(_Runner):
    """A synaptic rule's Brian2 form on Brian2 groups, run at presentation boundaries.

    One ``Synapses`` object holds the rule's target for every (post, pre) pair inside each of
    ``ensemble`` member blocks (self-pairs included: a diagonal such as a leak is part of the
    matrix); its ``run_regularly`` statement is the rule's, gated by a shared ``gate`` (0
    until a presentation has been counted). ``names`` maps the rule's activities to Brian2
    expressions (e.g. a rate decoded from the spike count). The rule's parameters and
    constant neuron states are shared variables of the synapses, so a schedule (a rate that
    decays with the update count) is written between presentations (:meth:`set_parameters`)
    without a new ``run``. :meth:`apply` runs the same code once more by hand (the last
    presentation of a run has no boundary after it). With a batch of one, ``batch_sum`` is
    the per-sample change, as here.
    """

    def __init__(self, b2: Any, pre: Any, post: Any, binding: RuleBinding, ensemble: int, n_pre: int, n_post: int,
                 names: Mapping[str, str], dt: Any, when: str = "start", order: int = -1) -> None:
        self._check(binding)
        rule = binding.rule
        if rule.kind != "synaptic":
            raise ValueError(f"rule {rule.name!r} is a neuron rule: use Brian2NeuronPlasticity")
        self.rule, self.shape = rule, (ensemble, n_post, n_pre)
        states, shared = _shared(binding)
        form = rule.brian2({**names, **states}, gate="gate")
        self.synapses = self.owner = b2.Synapses(pre, post, form.model + shared, dt=dt,
                                                 name=f"plastic_{function_name(rule.name)}*")
        member, post_index, pre_index = np.meshgrid(np.arange(ensemble), np.arange(n_post), np.arange(n_pre),
                                                    indexing="ij")
        self.synapses.connect(i=(member * n_pre + pre_index).ravel(), j=(member * n_post + post_index).ravel())
        self.runner = self.synapses.run_regularly(form.statement, dt=dt, when=when, order=order)
        self.synapses.gate = 0.0
        self.set_parameters(binding)


class Brian2NeuronPlasticity(_Runner):
    """A neuron rule's Brian2 form, run at presentation boundaries like :class:`Brian2Plasticity`.

    A ``NeuronGroup`` of its own (``ensemble`` × ``n`` units, in (member, neuron) order) holds
    the rule's target; ``linked`` maps the names of its linked variables to the
    ``(group, variable)`` they read (e.g. the spike count of the population whose neurons hold
    the target), and ``names`` maps the rule's activities to Brian2 expressions of those.
    """

    def __init__(self, b2: Any, binding: RuleBinding, ensemble: int, n: int, names: Mapping[str, str],
                 linked: Mapping[str, tuple[Any, str]], dt: Any, when: str = "start", order: int = -1) -> None:
        self._check(binding)
        rule = binding.rule
        if rule.kind != "neuron":
            raise ValueError(f"rule {rule.name!r} is a synaptic rule: use Brian2Plasticity")
        self.rule, self.shape = rule, (ensemble, n)
        states, shared = _shared(binding)
        form = rule.brian2({**names, **states}, gate="gate")
        model = form.model + "".join(f"\n{name} : 1 (linked)" for name in linked) + shared
        self.group = self.owner = b2.NeuronGroup(ensemble * n, model, dt=dt,
                                                 name=f"plastic_{function_name(rule.name)}*")
        for name, (source, variable) in linked.items():
            setattr(self.group, name, b2.linked_var(source, variable))
        self.runner = self.group.run_regularly(form.statement, dt=dt, when=when, order=order)
        self.group.gate = 0.0
        self.set_parameters(binding)
