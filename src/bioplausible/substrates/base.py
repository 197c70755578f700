"""What a substrate is, and the registry that maps names to substrates.

A substrate turns a circuit's declaration into activity and applies the circuit's own
rules to that activity. ``learn(circuit, batch, batch_size, first_step)`` consumes a chunk
of the training stream (``batch``: (K, S, n), S samples) and performs ``S // batch_size``
updates. ``supports(circuit)`` answers None or the reason a circuit cannot run here;
``estimate_cost(circuit, task, steps, ...)`` what a run would cost here (:class:`Cost`, or
None for a substrate that makes no estimate because its runs are cheap);
``rollout(circuit, cue, n_steps)`` produces the trajectory of a circuit with discrete-time
dynamics. A third substrate plugs in with :func:`register_substrate`.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..circuits.base import Circuit
from ..core import AnyBatch, Batch, Registry


@dataclass(frozen=True)
class Cost:
    """A substrate's estimate of what a run costs: ``seconds`` of wall time on one core
    (order of magnitude: calibrated on the 2-core machine), ``detail``, how it was reckoned
    (one sentence, printed with a refusal on cost), and ``generated_code``: whether the run's
    learning is one run in generated code rather than steps with Python between them."""

    seconds: float
    detail: str
    generated_code: bool = False


class Substrate(ABC):
    """Base class of substrates."""

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def learn(self, circuit: Circuit, batch: AnyBatch, batch_size: int, first_step: int) -> dict[str, np.ndarray]:
        """Run the circuit on ``batch`` with learning; return the activities of the last update."""

    #: Callables ``observer(activities, batch)`` told of every update's activities and samples
    #: just before the circuit's rules receive them (probes attach here).
    observers: list[Callable[[Mapping[str, np.ndarray], AnyBatch], None]]

    def __new__(cls, *args: Any, **kwargs: Any) -> Substrate:
        instance = super().__new__(cls)
        instance.observers = []
        return instance

    @contextlib.contextmanager
    def observed(self, observer: Callable[[Mapping[str, np.ndarray], AnyBatch], None]) -> Iterator[None]:
        """Attach ``observer`` for the duration of a ``with`` block."""
        self.observers.append(observer)
        try:
            yield
        finally:
            self.observers.remove(observer)

    def apply_rules(self, circuit: Circuit, activities: Mapping[str, np.ndarray], batch: AnyBatch) -> None:
        """Hand one update's activities to the observers, then to the circuit's rules."""
        for observer in self.observers:
            observer(activities, batch)
        circuit.learn(activities, batch)

    def observe_stream(self, activities: Mapping[str, np.ndarray], batch: Batch) -> None:
        """Tell the observers of a fused chunk of per-sample updates (batch size 1), one update
        per sample: ``activities`` hold (K, S, n) arrays of every population the fused loop
        computes per sample (a population it does not is absent, and probes mark it missing)."""
        if not self.observers:
            return
        for index in range(batch.size):
            part = batch[index : index + 1]
            update = {name: value[:, index : index + 1] for name, value in activities.items()}
            for observer in self.observers:
                observer(update, part)

    def supports(self, circuit: Circuit) -> str | None:
        """None when this substrate realises ``circuit``, else one sentence saying why not.
        ``learn`` and ``rollout`` refuse an unsupported circuit with that reason."""
        return None

    def estimate_cost(self, circuit: Circuit, task: Any, steps: int, n_members: int = 1,
                      eval_every: int | None = None) -> Cost | None:
        """What training ``circuit`` on ``task`` for ``steps`` updates with ``n_members``
        ensemble members (scored every ``eval_every``) would cost here; None: no estimate
        (the default: a substrate whose runs take about what the circuit's own arithmetic does)."""
        return None

    def rollout(self, circuit: Circuit, cue: np.ndarray, n_steps: int) -> np.ndarray:
        """The trajectory (K, n_steps + 1, B, N) of a circuit with discrete-time dynamics from ``cue``."""
        raise ValueError(f"the {self.name} substrate has no rollout for {circuit.name}")

    def prepare(self, circuit: Circuit, seed: int | np.random.SeedSequence) -> None:
        """Called once by the runner after the circuit is initialised (build networks here)."""

    def close(self) -> None:
        """Release resources after a run."""

    def config(self) -> dict[str, Any]:
        return {"substrate": self.name}


SUBSTRATES: Registry = Registry("substrate")


def register_substrate(cls: type[Substrate]) -> type[Substrate]:
    """Class decorator: make ``cls`` available by its ``name`` (a name already taken by
    another class is refused)."""
    SUBSTRATES[cls.name] = cls
    return cls


def make_substrate(substrate: str | Substrate, **options: Any) -> Substrate:
    """A substrate instance from a name (with options) or an instance (returned as is)."""
    if isinstance(substrate, Substrate):
        return substrate
    if not isinstance(substrate, str) or substrate not in SUBSTRATES:
        raise ValueError(f"substrate must be one of {sorted(SUBSTRATES)}, got {substrate!r}")
    return SUBSTRATES[substrate](**options)
