"""The shared ``Circuit`` class: parameters, learned state, the population graph.

A circuit *declares* what it is made of; substrates build it:

* :meth:`Circuit.populations` and :meth:`Circuit.connections` are the static declaration
  (which populations exist, which connection carries which local rule);
* :meth:`Circuit.weights` and :meth:`Circuit.thresholds` give the current effective values,
  read by the substrates and by :meth:`Circuit.graph`;
* :meth:`Circuit.respond` is the rate form (the fixed point of the dynamics, in closed form
  where it exists) and :meth:`Circuit.learn` applies the local rules in ``bioplausible.rules``
  to activities, whichever substrate produced them.

Every population ``p`` of role ``"neurons"`` obeys the fixed-point equation that both
substrates realise::

    threshold_p * a_p = phi_p( sum_{q -> p} weight_qp @ a_q )

with ``phi_p`` the identity for signed populations (``offset > 0``, offset-coded spikes),
rectification ``[.]_+`` for nonnegative ones (``offset == 0``), and for a box-constrained
population (``ceiling`` set) the clip ``threshold_p * a_p = clip(., −threshold_p offset,
threshold_p ceiling)``. Input populations carry the
task's inputs; readout populations are computed (not simulated) from their sources.

All learned arrays carry a leading *ensemble* axis ``K``: member ``k`` is the circuit
initialised from the ``k``-th seed, and K members learn as one batched computation.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import dataclasses
import functools
import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import networkx as nx
import numpy as np

from ..core.agreement import AgreementCase
from ..core.batch import Batch
from ..core.declaration import Connection, Population
from ..core.registry import Registry
from ..core.trials import TrialBatch
from ..errors import DivergenceError
from ..rules.declaration import RuleBinding, StateStep, apply_rules
from ..validation import check_finite_array, check_integer

#: Off inside :func:`trusted_activities`: a substrate hands ``learn`` activities it computed
#: itself and checks the state for divergence after each update (a ``DivergenceError`` with
#: the step), so the per-call argument check is for callers from outside.
_CHECK_ACTIVITIES: contextvars.ContextVar[bool] = contextvars.ContextVar("check_activities", default=True)


@contextlib.contextmanager
def trusted_activities() -> Iterator[None]:
    """Within this block ``Circuit.learn`` does not check its ``activities`` argument (the
    runner uses it: the substrate produced them and divergence is caught as such)."""
    token = _CHECK_ACTIVITIES.set(False)
    try:
        yield
    finally:
        _CHECK_ACTIVITIES.reset(token)

__all__ = ["Parameters", "Circuit", "RuleCircuit", "Population", "Connection", "Batch", "CIRCUITS", "register_circuit",
           "make_circuit", "ensemble_inputs"]


@dataclass(frozen=True)
class Parameters:
    """Base for a circuit's frozen parameter dataclass; subclasses check values in ``validate``."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError``/``TypeError`` naming a bad parameter; the default accepts all."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


class Circuit(ABC):
    """Base class of every circuit. Subclasses set the class variables and implement the
    abstract methods; everything else (state, ensembles, graph, checks) lives here."""

    name: ClassVar[str]
    family: ClassVar[str]
    description: ClassVar[str]
    default_task: ClassVar[str]
    Parameters: ClassVar[type[Parameters]]
    #: Parameters for the quick default comparison (``bioplausible compare``).
    quick_params: ClassVar[dict[str, Any]] = {}
    #: Steps of the quick comparison for this circuit when it must differ from the task's.
    quick_steps: ClassVar[int | None] = None
    #: The circuit's substrate-agreement checks (``tests/features/test_agreement.py``).
    agreement: ClassVar[tuple[AgreementCase, ...]] = ()
    #: Spiking substrate options a full run of this circuit needs over its task's
    #: (``Task.spiking_run_options`` merges them), e.g. a finer ``dt`` where its activities
    #: exceed the ``1 / (r0 dt)`` that one spike per time step codes.
    spiking_options: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "learn" in vars(cls):  # every implementation checks what a caller hands it
            cls.learn = _checked_learn(vars(cls)["learn"])  # type: ignore[method-assign]
        parameters = vars(cls).get("Parameters", getattr(cls, "Parameters", None))
        if "__signature__" not in vars(cls) and dataclasses.is_dataclass(parameters):
            # the constructor takes the Parameters fields by keyword: show them (inspect, IDEs)
            cls.__signature__ = _keyword_signature(parameters)  # type: ignore[attr-defined]

    def __init__(self, **parameters: Any) -> None:
        self.params = self.Parameters(**parameters)
        self.state: dict[str, np.ndarray] = {}
        self.steps = 0
        #: The seeds :func:`bioplausible.run` last trained this circuit with (None otherwise).
        self.run_seeds: tuple[int, ...] | None = None

    # ----------------------------------------------------------------- declaration
    @property
    def kind(self) -> str:
        """The kind of dynamics the circuit declares, which substrates build by kind:
        ``"fixed-point"`` (the default: the fixed-point equation of the module docstring over
        :meth:`populations` and :meth:`connections`). Others: ``"threshold-unit"`` (plus one
        graded threshold multiplier), ``"scaled-threshold-unit"`` (a threshold scaled per
        output), ``"polytope-groups"`` (one multiplier per group), ``"scaled-polytope-groups"`` (one
        per group, scaled per output), ``"perfect-integrator"``
        (zero self-terms), ``"layered"`` (feedforward layers, biases, a linear readout),
        ``"convolutional"`` (the same with patch connectivity, declared by :meth:`synapses`),
        ``"clipped-settling"`` (fixed-length Euler settling of clipped units),
        ``"windowed-replay"`` (±1 units stepped synchronously). Substrate-neutral: whether a
        substrate realises it is the substrate's answer (``substrate.supports(circuit)``)."""
        return "fixed-point"

    @abstractmethod
    def populations(self) -> list[Population]:
        """The populations, in order: inputs first."""

    @abstractmethod
    def connections(self) -> list[Connection]:
        """The connections, each with the rule function that changes it (or None if fixed)."""

    @abstractmethod
    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        """Current effective weight of each connection, shape (K, n_target, n_source)."""

    def synapses(self) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
        """The connections that are not all-to-all: ``(source, target) -> (post, pre)`` index
        arrays (same shape, each pair once) of the synapses that exist, the same for every
        ensemble member; :meth:`weights` is zero elsewhere, whatever the state. A substrate
        that builds synapses builds only these. Default: none (every connection all-to-all)."""
        return {}

    def thresholds(self) -> dict[str, np.ndarray]:
        """Self-term of each ``"neurons"`` population, shape (K, n); default 1."""
        return {
            p.name: np.ones((self.ensemble_size, p.size))
            for p in self.populations()
            if p.role == "neurons"
        }

    # ----------------------------------------------------------------- life cycle
    @abstractmethod
    def initial_state(self, rng: np.random.Generator, n_inputs: int, n_targets: int) -> dict[str, np.ndarray]:
        """Draw one member's learned arrays (no ensemble axis) from ``rng``."""

    def initialize(
        self,
        n_inputs: int,
        n_targets: int = 0,
        seeds: Sequence[int | np.random.SeedSequence] | int | np.random.SeedSequence = 0,
    ) -> Circuit:
        """Draw the learned state for each seed and stack it along the ensemble axis."""
        if isinstance(seeds, (int, np.integer, np.random.SeedSequence)):
            seeds = [seeds]
        if len(seeds) == 0:
            raise ValueError("seeds must name at least one seed, got an empty sequence")
        self._check_sizes(n_inputs, n_targets)
        members = [self.initial_state(np.random.default_rng(s), n_inputs, n_targets) for s in seeds]
        self.state = {key: np.stack([m[key] for m in members]) for key in members[0]}
        self.steps = 0
        self.run_seeds = None
        return self

    def _check_sizes(self, n_inputs: int, n_targets: int) -> None:
        """Circuits whose size parameters are set check them against the task here."""
        declared = getattr(self.params, "n_inputs", None)
        if declared is not None and declared != n_inputs:
            raise ValueError(f"n_inputs={declared} does not match the task's n_inputs={n_inputs}")

    @property
    def initialized(self) -> bool:
        return bool(self.state)

    @property
    def ensemble_size(self) -> int:
        if not self.state:
            raise RuntimeError(f"{type(self).__name__} is not initialised: call initialize() or run()")
        return int(next(iter(self.state.values())).shape[0])

    # ----------------------------------------------------------------- dynamics and learning
    @abstractmethod
    def respond(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        """Rate form: activities of every population for ``inputs`` (K, B, n) -> {name: (K, B, size)}."""

    @abstractmethod
    def learn(self, activities: Mapping[str, np.ndarray], batch: Batch | TrialBatch) -> None:
        """Apply the local rules once to ``activities`` (from any substrate) and ``batch``."""

    def settle(
        self,
        inputs: np.ndarray,
        step_size: float = 0.1,
        tolerance: float = 1e-10,
        max_steps: int = 100_000,
    ) -> dict[str, np.ndarray]:
        """Euler integration of the fast dynamics declared by the graph, to a fixed point.

        ``da_p/dτ = −threshold_p ∘ a_p + φ_p(Σ_q weight_qp a_q)`` (φ_p: identity, ``[.]₊``, or for a
        population with a ``ceiling`` the clip to ``threshold_p ∘ [−offset, ceiling]``), iterated until the largest
        change is below ``tolerance`` × the largest activity. For time-resolved predictions;
        :meth:`respond` gives the same fixed point in closed form.
        """
        populations = self.populations()
        inputs = ensemble_inputs(inputs, self.ensemble_size, populations[0].size)
        weights, thresholds = self.weights(), self.thresholds()
        shape = inputs.shape[:-1]
        activity = {p.name: np.zeros((*shape, p.size)) for p in populations}
        activity[populations[0].name] = inputs
        simulated = [p for p in populations if p.role == "neurons"]
        incoming = {p.name: [(s, w) for (s, t), w in weights.items() if t == p.name] for p in populations}
        for _ in range(max_steps):
            largest_change = 0.0
            drives = {}
            for p in simulated:
                drive = sum(np.matmul(activity[s], np.swapaxes(w, -1, -2)) for s, w in incoming[p.name])
                if p.ceiling is not None:  # box: θ a = clip(drive, −θ y0, θ c)
                    theta = thresholds[p.name][:, None, :]
                    drives[p.name] = np.clip(drive, -theta * p.offset, theta * p.ceiling)
                else:
                    drives[p.name] = drive if p.offset > 0 else np.maximum(drive, 0.0)
            for p in simulated:
                change = step_size * (drives[p.name] - thresholds[p.name][:, None, :] * activity[p.name])
                activity[p.name] = activity[p.name] + change
                largest_change = max(largest_change, float(np.abs(change).max()))
            scale = max(float(np.abs(a).max()) for a in activity.values())
            if largest_change <= tolerance * max(scale, 1e-300) * step_size:
                break
        for p in populations:
            if p.role == "readout":
                activity[p.name] = sum(np.matmul(activity[s], np.swapaxes(w, -1, -2)) for s, w in incoming[p.name])
        return activity

    def output(self, activities: Mapping[str, np.ndarray]) -> np.ndarray:
        """The activity a task scores; by default the last population."""
        return activities[self.populations()[-1].name]

    # ----------------------------------------------------------------- graph
    def graph(self) -> nx.DiGraph:
        """Populations as nodes, connections as edges carrying ``weight`` and ``rule``."""
        graph = nx.DiGraph(circuit=self.name)
        thresholds = self.thresholds() if self.state else {}
        for p in self.populations():
            graph.add_node(
                p.name, size=p.size, role=p.role, offset=p.offset, ceiling=p.ceiling,
                threshold=thresholds.get(p.name), description=p.description,
            )
        weights = self.weights() if self.state else {}
        for c in self.connections():
            graph.add_edge(
                c.source, c.target, weight=weights.get((c.source, c.target)),
                rule=c.rule_name, rule_function=c.rule,
                plastic=c.plastic, kind=c.kind, description=c.description,
            )
        return graph

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: parameters, learned arrays (copies), step count."""
        return {
            "circuit": self.name,
            "params": self.params.to_dict(),
            "state": {key: value.copy() for key, value in self.state.items()},
            "steps": self.steps,
            "extra": copy.deepcopy(self._extra_state()),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> Circuit:
        """Restore a :meth:`state_dict`: its arrays must be real and finite, with the names
        (and, for an initialised circuit, the shapes) this circuit holds, one ensemble axis."""
        if not isinstance(state, Mapping) or not isinstance(state.get("state"), Mapping):
            raise TypeError(f"state must be a mapping from state_dict() with a 'state' mapping of arrays, "
                            f"got {type(state).__name__}")
        if state.get("circuit", self.name) != self.name:
            raise ValueError(f"state is for circuit {state['circuit']!r}, not {self.name!r}")
        expected = set(self.state) if self.state else set(state["state"])
        if set(state["state"]) != expected or not expected:
            raise ValueError(f"state must hold arrays {sorted(expected)}, got {sorted(state['state'])}")
        # C-ordered copies whatever the source's layout (netCDF, a transposed view): BLAS sums in
        # an order that depends on the layout, and a resumed run must match the whole run bitwise
        arrays = {key: np.array(check_finite_array(f"state[{key!r}]", value), order="C", copy=True)
                  for key, value in state["state"].items()}
        for key, array in arrays.items():
            want = self.state[key].shape if self.state else None
            if want is not None and array.shape != want:
                raise ValueError(f"state[{key!r}] must have shape {want}, got {array.shape}")
            if array.ndim == 0 or array.shape[0] != next(iter(arrays.values())).shape[:1][0]:
                raise ValueError(f"state arrays must share a leading ensemble axis; state[{key!r}] has shape "
                                 f"{array.shape}")
        steps = check_integer("state['steps']", state.get("steps", 0), 0)
        extra = state.get("extra", {})
        if not isinstance(extra, Mapping):
            raise TypeError(f"state['extra'] must be a mapping, got {type(extra).__name__}")
        self.state = arrays
        self.steps = steps
        self.run_seeds = None
        self._load_extra_state(copy.deepcopy(extra))
        return self

    def _extra_state(self) -> dict[str, Any]:
        """Non-array state a subclass keeps (counters); default none."""
        return {}

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:
        pass

    def member(self, index: int) -> Circuit:
        """A copy holding only ensemble member ``index`` (ensemble size 1)."""
        clone = copy.copy(self)
        clone.state = {key: value[index : index + 1] for key, value in self.state.items()}
        return clone

    def check_finite(self, step: int, invariants: bool = True) -> None:
        """Raise :class:`DivergenceError` naming the first non-finite state array, then (with
        ``invariants``) any state that left its allowed set (:meth:`check_invariants`)."""
        for key, value in self.state.items():
            if not np.isfinite(value).all():
                raise DivergenceError(key, step)
        if invariants:
            self.check_invariants(step)

    #: (quantity, detail) of the DivergenceError raised when :meth:`invariant_values` fail.
    invariant: ClassVar[tuple[str, str]] = ("", "")

    def check_invariants(self, step: int) -> None:
        """Raise :class:`DivergenceError` when a finite state has left its allowed set (e.g. a
        matrix no longer positive definite): :meth:`invariant_values` tested by
        :meth:`first_invalid`; circuits without invariants pass."""
        values = self.invariant_values()
        if values is not None and self.first_invalid(values[None]) is not None:
            raise DivergenceError(self.invariant[0], step, self.invariant[1])

    def invariant_values(self) -> np.ndarray | None:
        """The quantity the invariants constrain, (K, ...), or None when there are none."""
        return None

    def first_invalid(self, stacked: np.ndarray) -> int | None:
        """Given :meth:`invariant_values` of U updates stacked (U, K, ...), the index of the
        first that breaks the invariants, or None. Batched so that a substrate can test a
        block of updates in one call instead of one call per update."""
        return None

    def config(self) -> dict[str, Any]:
        return {"circuit": self.name, "family": self.family, "params": self.params.to_dict()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.to_dict().items())
        return f"{type(self).__name__}({args})"


# --------------------------------------------------------------------- registry
CIRCUITS: Registry = Registry("circuit")


def register_circuit(cls: type[Circuit]) -> type[Circuit]:
    """Class decorator: make ``cls`` available by its kebab-case ``name`` (a name already
    taken by another class is refused)."""
    CIRCUITS[cls.name] = cls
    return cls


def make_circuit(name: str, **parameters: Any) -> Circuit:
    """Construct a registered circuit by name."""
    if name not in CIRCUITS:
        raise ValueError(f"unknown circuit {name!r}; available: {sorted(CIRCUITS)}")
    return CIRCUITS[name](**parameters)


def ensemble_inputs(inputs: np.ndarray, ensemble_size: int, n: int, name: str = "inputs") -> np.ndarray:
    """Accept (B, n) or (K, B, n) real, finite inputs and return (K, B, n)."""
    inputs = check_finite_array(name, inputs)
    if inputs.ndim == 2:
        inputs = np.broadcast_to(inputs, (ensemble_size, *inputs.shape))
    if inputs.ndim != 3 or inputs.shape[0] not in (1, ensemble_size) or inputs.shape[2] != n:
        raise ValueError(f"{name} must have shape (B, {n}) or ({ensemble_size}, B, {n}), got {inputs.shape}")
    return inputs


def _keyword_signature(parameters: Any) -> inspect.Signature:
    """``(*, field=default, ...)`` of a Parameters dataclass: a circuit constructor's signature."""
    keywords = []
    for item in dataclasses.fields(parameters):
        if item.default is not dataclasses.MISSING:
            default = item.default
        elif item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        else:
            default = inspect.Parameter.empty
        keywords.append(inspect.Parameter(item.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                          annotation=item.type))
    return inspect.Signature(keywords, return_annotation=None)


def _checked_learn(learn: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(learn)
    def checked(self: Circuit, activities: Mapping[str, np.ndarray], batch: Batch) -> None:
        if _CHECK_ACTIVITIES.get():
            if not isinstance(activities, Mapping):
                raise TypeError(f"activities must map population names to arrays, got {type(activities).__name__}")
            if batch is not None and not isinstance(batch, (Batch, TrialBatch)):
                raise TypeError(f"batch must be a Batch, a TrialBatch (trials in time) or None (for rules that "
                                f"use only activities), got {type(batch).__name__}")
            sizes = {p.name: p.size for p in self.populations()}
            members = self.ensemble_size
            for key, value in activities.items():
                array = check_finite_array(f"activities[{key!r}]", value)
                # samples (K, B, n), or trials in time (K, B, T, n) for a TrialBatch
                ndim = 4 if isinstance(batch, TrialBatch) else 3 if isinstance(batch, Batch) else array.ndim
                if key in sizes and (array.ndim != ndim or ndim not in (3, 4) or array.shape[0] not in (1, members)
                                     or array.shape[-1] != sizes[key]):
                    shape = f"({members}, B, T, {sizes[key]})" if ndim == 4 else f"({members}, B, {sizes[key]})"
                    raise ValueError(f"activities[{key!r}] must have shape {shape}, got {array.shape}")
            if batch is not None:
                check_finite_array("batch.inputs", batch.inputs)
                if batch.targets is not None:
                    check_finite_array("batch.targets", batch.targets)
        learn(self, activities, batch)

    return checked


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    try:
        json.dumps(value)
    except TypeError:
        return repr(value)
    return value


class RuleCircuit(Circuit):
    """A circuit whose ``learn`` is derived from its declaration: each plastic state array is
    changed by the rule bound to it (:meth:`rule_bindings`, every change of one phase read from
    the state as the earlier phases left it; one phase by default), and by the declared, named
    steps (:meth:`state_steps`: a normalisation, a projection, a running mean, a counter).
    Nothing else changes the state."""

    @abstractmethod
    def rule_bindings(self) -> list[RuleBinding]:
        """The declared rule of each plastic state array."""

    def rule_states(self) -> Mapping[str, np.ndarray]:
        """The neuron-level quantities (K, n) the bindings' ``states`` name: the state arrays,
        plus what a circuit derives from them (override to add, e.g. synaptic norms)."""
        return self.state

    def state_steps(self) -> list[StateStep]:
        """Declared steps, in order within their phase (after the rules of their phase); none by default."""
        return []

    def rule_activities(self, activities: Mapping[str, np.ndarray], batch: Batch | TrialBatch | None
                        ) -> Mapping[str, np.ndarray]:
        """The per-sample quantities the bindings and steps read: the population activities by
        default; a circuit whose rules read local signals of the batch (TD's reward-prediction
        error and eligibility traces, an RNN's learning signal, NSM's prewhitened mixtures,
        Bio-NICA's dendritic current ``W x``) returns them, read from the state before the update."""
        return activities

    def learn(self, activities: Mapping[str, np.ndarray], batch: Batch | TrialBatch) -> None:
        """One update, phase by phase (:func:`~bioplausible.rules.declaration.apply_rules`):
        the declared rules on ``activities``, then the declared steps."""
        apply_rules(self.state, self.rule_bindings(), self.rule_activities(activities, batch), self.rule_states,
                    self.state_steps())
        self.steps += 1
