"""The declaration types a circuit is made of: populations (with their nonlinearity) and
connections (with their local rule, plastic or fixed, and sign).

Every population ``p`` of role ``"neurons"`` obeys the fixed-point equation that every
substrate realises::

    threshold_p * a_p = phi_p( sum_{q -> p} weight_qp @ a_q )

``phi_p`` is the population's :attr:`Population.nonlinearity`: ``"identity"`` for signed
populations (``offset > 0``, offset-coded spikes), ``"rectification"`` ``[.]_+`` for
nonnegative ones (``offset == 0``), ``"box"`` (``ceiling`` set) the clip to
``threshold_p * [−offset, ceiling]``; a circuit may declare a threshold unit instead
(``"l1-threshold"``, ``"simplex-threshold"``: a soft threshold by one multiplier per
population; ``"polytope-groups"``: one multiplier per group, then the box clip), which
a substrate realises with a builder for it or refuses with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Population", "Connection", "NONLINEARITIES", "ROLES", "SIGNS"]

#: Roles of a population: driven by the task, simulated, or computed linearly (never simulated).
ROLES = ("input", "neurons", "readout")
#: The nonlinearities ``phi_p`` a population can declare (module docstring).
NONLINEARITIES = ("identity", "rectification", "box", "l1-threshold", "simplex-threshold", "polytope-groups")
#: Signs of a connection: any sign, excitatory (nonnegative weights), inhibitory (nonpositive).
SIGNS = ("signed", "excitatory", "inhibitory")


@dataclass(frozen=True)
class Population:
    """A group of units.

    ``role`` is ``"input"`` (driven by the task), ``"neurons"`` (simulated), or ``"readout"``
    (computed linearly from its sources, never simulated). ``offset`` is the offset-coding
    baseline ``y0`` of spiking realisations: rate ``= r0 (offset + a)``; 0 means the
    population is nonnegative (rectified).

    ``ceiling`` (None: unbounded) is the largest activity ``c`` of a box-constrained
    population. Its units then realise the *clipped* fixed point
    ``a = clip((Σ_q weight_qp a_q) / threshold_p, −offset, ceiling)``: the lower clip is the
    zero-rate rectification of the offset code, the upper one a rate cap ``r0 (offset + c)``
    (on spikes an absolute refractory period ``1/(r0 (offset + c))`` during which the voltage
    keeps integrating; see :mod:`bioplausible.substrates.spiking`). A ceiling must exceed
    ``−offset``.

    ``threshold_unit`` (None: none) declares a threshold nonlinearity on top of the box or
    rectification (:data:`NONLINEARITIES`: ``"l1-threshold"``, ``"simplex-threshold"``,
    ``"polytope-groups"``); :attr:`nonlinearity` reports it.
    """

    name: str
    size: int
    role: str = "neurons"
    offset: float = 0.0
    description: str = ""
    ceiling: float | None = None
    threshold_unit: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"population {self.name!r}: role must be one of {ROLES}, got {self.role!r}")
        if self.ceiling is not None:
            if self.role != "neurons":
                raise ValueError(f"population {self.name!r}: only simulated populations (role 'neurons') take a "
                                 f"ceiling, got role {self.role!r}")
            if not float(self.ceiling) > -float(self.offset):
                raise ValueError(f"population {self.name!r}: ceiling must exceed −offset = {-self.offset:g} (a rate "
                                 f"cap r0 (offset + ceiling) > 0), got {self.ceiling!r}")
        if self.threshold_unit is not None and self.threshold_unit not in NONLINEARITIES[3:]:
            raise ValueError(f"population {self.name!r}: threshold_unit must be one of {NONLINEARITIES[3:]} or "
                             f"None, got {self.threshold_unit!r}")

    @property
    def nonlinearity(self) -> str:
        """``phi_p`` of the fixed-point equation (module docstring); ``"identity"`` for inputs and readouts."""
        if self.threshold_unit is not None:
            return self.threshold_unit
        if self.role != "neurons":
            return "identity"
        if self.ceiling is not None:
            return "box"
        return "identity" if self.offset > 0 else "rectification"


@dataclass(frozen=True)
class Connection:
    """A directed connection ``source -> target`` and the local rule (if any) that changes it.

    ``rule`` is the rule that changes the connection: a rule function or declaration (its
    ``name`` or ``__name__`` is :attr:`rule_name`), or a rule's registered name; None for a
    fixed connection. ``plastic`` defaults to whether a rule is declared. ``sign`` is
    ``"signed"``, ``"excitatory"`` or ``"inhibitory"`` (:data:`SIGNS`)."""

    source: str
    target: str
    rule: Any = None
    kind: str = "feedforward"
    description: str = ""
    sign: str = "signed"
    plastic: bool | None = None

    def __post_init__(self) -> None:
        if self.sign not in SIGNS:
            raise ValueError(f"connection {self.source!r} -> {self.target!r}: sign must be one of {SIGNS}, "
                             f"got {self.sign!r}")
        if self.plastic is None:
            object.__setattr__(self, "plastic", self.rule is not None)
        elif not isinstance(self.plastic, bool):
            raise TypeError(f"connection {self.source!r} -> {self.target!r}: plastic must be a bool or None, "
                            f"got {self.plastic!r}")
        if self.plastic and self.rule is None:
            raise ValueError(f"connection {self.source!r} -> {self.target!r}: a plastic connection declares its rule")

    @property
    def rule_name(self) -> str | None:
        """The declared rule's name (None for a fixed connection)."""
        if self.rule is None:
            return None
        if isinstance(self.rule, str):
            return self.rule
        return str(getattr(self.rule, "name", None) or getattr(self.rule, "__name__", repr(self.rule)))
