"""How a circuit uses declared rules: a :class:`RuleBinding` puts a rule on one plastic state
array, a :class:`StateStep` is a declared, named step on a state array (a normalisation, a
projection), and :func:`apply_rules` runs one update phase by phase from the bindings' batched
changes (:func:`rule_changes`); :func:`trial_change` runs an eligibility-trace rule along the
time axis of each trial."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .rule import Rule

__all__ = ["RuleBinding", "StateStep", "RECRUIT", "rule_changes", "apply_rules", "phases", "apply_step",
           "trial_change", "recruited", "idle_steps", "inactive_steps",
           "samples_until_idle"]

#: The activity a :class:`RuleBinding` with ``recruit`` maps the recruited side's names to: the
#: one-hot recruitment signal ``r(t) = e_μ`` of the unit each presentation adds (made by
#: :func:`recruited`, not read from the activities).
RECRUIT = "recruit"
#: Presentations per one-hot block of :func:`recruited` (the (K, b, b) recruitment signal stays small).
_RECRUIT_CHUNK = 32


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
                               self.rule.names_read):
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
        if (rule.kind != "synaptic" or not rule.increment or rule.target in rule.names_read or self.trace is not None
                or rule.states or rule.synaptic or rule.summed or self.gate is not None or self.batch_sum):
            raise ValueError(f"binding of {self.state!r}: recruit takes a synaptic increment rule ('+=') of "
                             f"activities only that does not read its target {rule.target!r} (no trace, states, "
                             "gate or batch_sum: a recruited unit's weights start at zero)")
        side = "_" + self.recruit
        if all(self.activities.get(name) == RECRUIT for name in rule.activities):
            raise ValueError(f"binding of {self.state!r}: the recruited side ({self.recruit}) reads the one-hot "
                             f"signal {RECRUIT!r}, and the other side an activity; every activity maps to it")
        for name in rule.activities:
            on_side = rule.uses(name + side)
            if on_side != (self.activities.get(name) == RECRUIT) or (on_side and rule.uses(name + _other(side))):
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
    and before those of later phases (a running mean the rules read sits in a phase before theirs).

    Two declarations tell a whole learning run in generated code (issue 17) which steps it may
    leave out: ``active = (counter, low, high)``: the step changes the state only while the
    state array ``counter`` (a count that never decreases, read at ``[..., 0]``) is in
    ``[low, high)`` at the start of the update, and is the identity outside (a warm-up phase, a
    heuristic's window); ``samplewise``: applying the step once to a block of samples equals
    applying it to each sample in turn, and it reads no simulated activity (a sample counter, a
    sum of inputs), so it can be applied after the block. :func:`idle_steps`,
    :func:`inactive_steps` and :func:`samples_until_idle` read the first off a state."""

    name: str
    state: str
    function: Callable[..., np.ndarray]
    description: str = ""
    reads: tuple[str, ...] = ()
    activities: tuple[str, ...] = ()
    phase: int = 0
    active: tuple[str, float, float] | None = None
    samplewise: bool = False

    def __post_init__(self) -> None:
        if self.active is not None and not (
                isinstance(self.active, tuple) and len(self.active) == 3 and isinstance(self.active[0], str)
                and all(isinstance(v, (int, float)) for v in self.active[1:]) and self.active[1] <= self.active[2]):
            raise ValueError(f"StateStep {self.name!r}: active must be (counter name, low, high) with low <= high, "
                             f"got {self.active!r}")
        if not isinstance(self.samplewise, bool):
            raise TypeError(f"StateStep {self.name!r}: samplewise must be a bool, got {self.samplewise!r}")


def _counter(state: Mapping[str, np.ndarray], step: StateStep) -> np.ndarray:
    assert step.active is not None
    return np.asarray(state[step.active[0]])[..., 0]


def idle_steps(state: Mapping[str, np.ndarray], steps: Sequence[StateStep]) -> list[StateStep]:
    """The steps of ``steps`` that ``state`` makes idle from now on (their ``active`` window
    over for every member): from there they leave the state unchanged."""
    return [s for s in steps if s.active is not None and bool(np.all(_counter(state, s) >= s.active[2]))]


def inactive_steps(state: Mapping[str, np.ndarray], steps: Sequence[StateStep]) -> list[StateStep]:
    """The steps of ``steps`` that are the identity in the next update of ``state`` (every
    member's counter outside their ``active`` window)."""
    return [s for s in steps if s.active is not None and bool(np.all(
        (_counter(state, s) < s.active[1]) | (_counter(state, s) >= s.active[2])))]


def samples_until_idle(state: Mapping[str, np.ndarray], steps: Sequence[StateStep]) -> int | None:
    """How many more samples (each adding 1 to the counters) until every step of ``steps``
    that is not ``samplewise`` is idle: 0 when they are now, None when one never is."""
    needed = 0
    for s in steps:
        if s.samplewise:
            continue
        if s.active is None:
            return None
        needed = max(needed, int(np.ceil(s.active[2] - float(np.min(_counter(state, s))))))
    return needed


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
    n_pre = next(inputs[n].shape[-1] for n in names if trace.uses(f"{n}_pre") or update.uses(f"{n}_pre"))
    n_post = next(inputs[n].shape[-1] for n in names if trace.uses(f"{n}_post") or update.uses(f"{n}_post"))
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
    return "pre" if rule.uses(f"{name}_pre") else "post"

