"""What a substrate is, and the registry that maps names to substrates.

A substrate turns a circuit's declaration into activity and applies the circuit's own
rules to that activity. ``learn(circuit, batch, batch_size, first_step)`` consumes a chunk
of the training stream (``batch``: (K, S, n), S samples) and performs ``S // batch_size``
updates. A third substrate plugs in with :func:`register_substrate`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from ..circuits.base import Circuit
from ..core import Batch, Registry


class Substrate(ABC):
    """Base class of substrates."""

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def learn(self, circuit: Circuit, batch: Batch, batch_size: int, first_step: int) -> dict[str, np.ndarray]:
        """Run the circuit on ``batch`` with learning; return the activities of the last update."""

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
