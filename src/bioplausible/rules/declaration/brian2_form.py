"""Realisation (c) of a rule: the Brian2 form, run at presentation boundaries.

:func:`brian2_form` gives the model lines of the target (and of the summed variables) and
the statement for ``run_regularly``; :func:`run_regularly` installs it on a Brian2 object;
:class:`Brian2Plasticity` builds the ``Synapses`` of a circuit's bound rule across ensemble
members (:class:`Brian2NeuronPlasticity` the ``NeuronGroup`` of a neuron rule) and runs it
gated, so a whole learning run can live inside generated code.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping, Sequence
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


def order_summed(synapses: Any, form: Brian2Form, when: str | None = None, order: int | None = None) -> None:
    """Schedule the summed variables of ``form`` on ``synapses`` (a Brian2 ``Synapses`` whose
    model includes ``form.model``) in ``form.summed`` order, each one before the next in the
    same slot: Brian2 would otherwise order them by name, and a total must read the summed
    variables of the same time step. By default the last keeps Brian2's own place (just before
    its group); with ``when`` and ``order`` they run in that slot at ``order``, ``order + 1``, …"""
    count = len(form.summed)
    for index, name in enumerate(form.summed):
        updater = synapses.summed_updaters[name]
        if when is not None:
            updater.when = when
        updater.order = (updater.target.order - 1 - (count - 1 - index)) if order is None else order + index


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
    if rule.synaptic:
        return (f"rule {rule.name!r} reads other synaptic matrices ({', '.join(rule.synaptic)}): the Brian2 "
                "plasticity runner holds one matrix per rule")
    if (rule.summed or rule.totals) and not rule.recurrent:
        return (f"rule {rule.name!r}: the Brian2 plasticity runner takes summed variables of recurrent rules only "
                "(on a group of its own)")
    if binding.trace is not None:
        return (f"binding of {binding.state!r}: its eligibility trace runs along each trial, which a runner at "
                "presentation boundaries does not")
    return None


class _Runner:
    """What both runners share. The rule's parameters and constant neuron states are shared
    variables (written per update, :meth:`set_parameters`); the quantities named in
    ``inputs`` (activities or neuron states the circuit computes, not read from Brian2 groups)
    are variables of the runner written before it runs (:meth:`write`); a binding's ``gate``
    is a per-member variable ``member_gate`` written the same way; ``gate`` (shared) is 0 until
    a presentation has been counted."""

    owner: Any
    runner: Any
    rule: Rule
    shape: tuple[int, ...]
    inputs: dict[str, str]
    #: A (K, n) value of input ``name`` laid out on the runner's owner (each runner's own).
    _spread: Callable[[np.ndarray, str], np.ndarray]

    def _form(self, binding: RuleBinding, names: Mapping[str, str], inputs: Sequence[str],
              side_names: bool) -> tuple[Brian2Form, str]:
        """The rule's Brian2 form on this runner and the model lines it adds: shared variables,
        the inputs (per synapse and side when ``side_names``, else per neuron) and the gate."""
        reason = brian2_plasticity_refusal(binding)
        if reason is not None:
            raise ValueError(reason)
        rule = binding.rule
        constants = [n for n, v in binding.states.items() if not isinstance(v, str)]
        inputs = [*inputs, *(n for n, v in binding.states.items() if isinstance(v, str))]
        mapping = {**names, **{n: f"state_{n}" for n in constants}}
        lines = [f"{n} : 1 (shared)" for n in ("gate", *rule.parameters, *(f"state_{c}" for c in constants))]
        self.inputs = {}
        for name in inputs:
            mapping[name] = f"input_{name}{{side}}_value" if side_names else f"input_{name}"
            sides = [s for s in ("_pre", "_post") if rule.uses(name + s)] if side_names else [""]
            for side in sides:
                self.inputs[f"input_{name}{side}" + ("_value" if side_names else "")] = name + side
        lines += [f"{variable} : 1" for variable in self.inputs]
        gate = "gate"
        if binding.gate is not None:
            lines.append("member_gate : 1")
            gate = "(gate * member_gate)"
        return rule.brian2(mapping, gate=gate), "".join("\n" + line for line in lines)

    @property
    def objects(self) -> list[Any]:
        return [self.owner]

    def set_parameters(self, binding: RuleBinding) -> None:
        """Write the rule's parameters and constant states (their values in ``binding``, the
        binding of this update: a schedule may change them)."""
        for name in self.rule.parameters:
            setattr(self.owner, name, float(binding.parameters[name]))
        for name, value in binding.states.items():
            if not isinstance(value, str):
                setattr(self.owner, f"state_{name}", float(value))

    def write(self, values: Mapping[str, np.ndarray], gate: np.ndarray | None = None) -> None:
        """Write the inputs (each (K, n) on its side's population, or broadcastable to it) and
        the per-member gate (K,) for the rule's next run."""
        for variable, name in self.inputs.items():
            getattr(self.owner, variable)[:] = self._spread(values[name], name)
        if gate is not None:
            self.owner.member_gate[:] = self._spread(np.asarray(gate, dtype=float)[:, None], "")

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
    expressions (e.g. a rate decoded from the spike count); ``inputs`` names those written
    from Python instead (:meth:`write`, per synapse from each side's (K, n) values). The
    rule's parameters and constant neuron states are shared variables of the synapses, so a
    schedule (a rate that decays with the update count) is written between presentations
    (:meth:`set_parameters`) without a new ``run``. :meth:`apply` runs the same code once more
    by hand (the last presentation of a run has no boundary after it). With a batch of one,
    ``batch_sum`` is the per-sample change, as here.
    """

    def __init__(self, b2: Any, pre: Any, post: Any, binding: RuleBinding, ensemble: int, n_pre: int, n_post: int,
                 names: Mapping[str, str], dt: Any, when: str = "start", order: int = -1,
                 inputs: Sequence[str] = (), linked: Mapping[str, tuple[Any, str]] | None = None) -> None:
        rule = binding.rule
        if rule.kind != "synaptic":
            raise ValueError(f"rule {rule.name!r} is a neuron rule: use Brian2NeuronPlasticity")
        self.rule, self.shape = rule, (ensemble, n_post, n_pre)
        form, lines = self._form(binding, names, inputs, side_names=True)
        self.group = None
        if form.summed:
            # the summed variables (and totals) need targets on the neurons: a group of the
            # recurrent rule's own, reading the population through ``linked`` variables
            if linked is None:
                raise ValueError(f"rule {rule.name!r} has summed variables: give the linked variables of its group")
            model = [f"{name} : 1 (linked)" for name in linked] + [f"{name[:-5]} : 1" for name in form.summed]
            self.group = pre = post = b2.NeuronGroup(ensemble * n_post, "\n".join(model), dt=dt,
                                                     name=f"plastic_group_{function_name(rule.name)}*")
            for name, (source, variable) in linked.items():
                setattr(self.group, name, b2.linked_var(source, variable))
        self.synapses = self.owner = b2.Synapses(pre, post, form.model + lines, dt=dt,
                                                 name=f"plastic_{function_name(rule.name)}*")
        member, post_index, pre_index = np.meshgrid(np.arange(ensemble), np.arange(n_post), np.arange(n_pre),
                                                    indexing="ij")
        self._index = {"_pre": (member.ravel(), pre_index.ravel()), "_post": (member.ravel(), post_index.ravel()),
                       "": (member.ravel(), np.zeros(member.size, dtype=int))}
        self.synapses.connect(i=(member * n_pre + pre_index).ravel(), j=(member * n_post + post_index).ravel())
        #: The summed variables' code runners, in the order they are computed.
        self.summed = [self.synapses.summed_updaters[name] for name in form.summed]
        if form.summed:  # just before the statement, in its slot: the same boundary's counts
            order_summed(self.synapses, form, when=when, order=order - len(form.summed))
        self.runner = self.synapses.run_regularly(form.statement, dt=dt, when=when, order=order)
        self.synapses.gate = 0.0
        self.set_parameters(binding)

    @property
    def objects(self) -> list[Any]:
        return [self.synapses] if self.group is None else [self.group, self.synapses]

    def apply(self) -> None:
        """Run the summed variables' and then the rule's generated code once now."""
        for updater in self.summed:
            for code_object in updater.code_objects:
                code_object()
        super().apply()

    def _spread(self, value: np.ndarray, name: str) -> np.ndarray:
        side = "_pre" if name.endswith("_pre") else "_post" if name.endswith("_post") else ""
        members, units = self._index[side]
        size = self.shape[2] if side == "_pre" else self.shape[1] if side == "_post" else 1
        return np.broadcast_to(np.asarray(value, dtype=float), (self.shape[0], size))[members, units]


class Brian2NeuronPlasticity(_Runner):
    """A neuron rule's Brian2 form, run at presentation boundaries like :class:`Brian2Plasticity`.

    A ``NeuronGroup`` of its own (``ensemble`` × ``n`` units, in (member, neuron) order) holds
    the rule's target; ``linked`` maps the names of its linked variables to the
    ``(group, variable)`` they read (e.g. the spike count of the population whose neurons hold
    the target), ``names`` maps the rule's activities to Brian2 expressions of those, and
    ``inputs`` names the quantities written from Python instead (:meth:`write`).
    """

    def __init__(self, b2: Any, binding: RuleBinding, ensemble: int, n: int, names: Mapping[str, str],
                 linked: Mapping[str, tuple[Any, str]], dt: Any, when: str = "start", order: int = -1,
                 inputs: Sequence[str] = ()) -> None:
        rule = binding.rule
        if rule.kind != "neuron":
            raise ValueError(f"rule {rule.name!r} is a synaptic rule: use Brian2Plasticity")
        self.rule, self.shape = rule, (ensemble, n)
        form, lines = self._form(binding, names, inputs, side_names=False)
        model = form.model + "".join(f"\n{name} : 1 (linked)" for name in linked) + lines
        self.group = self.owner = b2.NeuronGroup(ensemble * n, model, dt=dt,
                                                 name=f"plastic_{function_name(rule.name)}*")
        for name, (source, variable) in linked.items():
            setattr(self.group, name, b2.linked_var(source, variable))
        self.runner = self.group.run_regularly(form.statement, dt=dt, when=when, order=order)
        self.group.gate = 0.0
        self.set_parameters(binding)

    def _spread(self, value: np.ndarray, name: str) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=float), self.shape).reshape(-1)
