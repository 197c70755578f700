"""The contracts tasks rely on, written down as Protocols (tasks import these, not circuits).

* :class:`CircuitLike`: what every circuit offers a task's ``score`` (rate responses, the
  scored output, ensemble members, learned state);
* :class:`HasSeparator`, :class:`HasEffectiveMatrix`, :class:`HasModeRates`: exact metrics
  computed from weights;
* :class:`Rollout` / :class:`SubstrateRollout`: a trajectory from a cue, which a substrate
  produces for a circuit (:func:`rollout`): the rate form is the circuit's own
  ``rollout``, a spiking substrate replays it on spikes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["CircuitLike", "HasSeparator", "HasEffectiveMatrix", "HasModeRates", "Rollout", "SubstrateRollout",
           "rollout"]


@runtime_checkable
class CircuitLike(Protocol):
    """What a task may use of any circuit."""

    state: dict[str, np.ndarray]

    @property
    def name(self) -> str: ...

    @property
    def family(self) -> str: ...

    @property
    def ensemble_size(self) -> int: ...

    def respond(self, inputs: np.ndarray) -> dict[str, np.ndarray]: ...

    def output(self, activities: Mapping[str, np.ndarray]) -> np.ndarray: ...

    def learn(self, activities: Mapping[str, np.ndarray], batch: Any) -> None: ...

    def member(self, index: int) -> Any: ...


@runtime_checkable
class HasSeparator(Protocol):
    """A separation circuit's overall linear separator, (K, n_sources, n_mixtures)."""

    def separator(self) -> np.ndarray: ...


@runtime_checkable
class HasEffectiveMatrix(Protocol):
    """A whitening circuit's input → output map at its fixed point, (K, n, n)."""

    def effective_matrix(self) -> np.ndarray: ...


@runtime_checkable
class HasModeRates(Protocol):
    """A recurrent circuit's modes as continuous-time rates (1/s), (K, N) complex: the
    eigenvalues of its linearised dynamics, ``(W − I)/τ_m`` for a rate RNN."""

    def mode_rates(self) -> np.ndarray: ...


@runtime_checkable
class Rollout(Protocol):
    """A sequence circuit's rate trajectory: states (K, n_steps + 1, B, N) from a cue."""

    def rollout(self, cue: np.ndarray, n_steps: int) -> np.ndarray: ...


@runtime_checkable
class SubstrateRollout(Protocol):
    """A substrate that produces a circuit's trajectory itself (e.g. a spiking replay)."""

    def rollout(self, circuit: Any, cue: np.ndarray, n_steps: int) -> np.ndarray: ...


def rollout(circuit: Rollout, cue: np.ndarray, n_steps: int, substrate: Any = None) -> np.ndarray:
    """States (K, n_steps + 1, B, N) from ``cue``: ``substrate.rollout(circuit, ...)`` when a
    substrate is given (it decides how: the rate substrate takes the circuit's own form),
    else the circuit's rate form."""
    if substrate is None:
        return circuit.rollout(cue, n_steps)
    if isinstance(substrate, str):
        raise TypeError(f"substrate must be a substrate instance (e.g. bioplausible.substrates.make_substrate"
                        f"({substrate!r})) or None, got the name {substrate!r}")
    if not isinstance(substrate, SubstrateRollout):
        raise TypeError(f"substrate {type(substrate).__name__} has no rollout(circuit, cue, n_steps)")
    return substrate.rollout(circuit, cue, n_steps)
