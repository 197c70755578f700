"""``AgreementCase``: how a circuit declares the check that every substrate realises it alike.

A circuit lists its cases next to its declaration (``Circuit.agreement``); the harness in
``tests/features/test_agreement.py`` runs each case on the reference substrate (``rate``)
and on every other registered substrate, with the same task data, initial weights and
seeds, and compares the named metrics. A substrate that does not support the circuit
(``substrate.supports(circuit)``) is reported with its reason, and must be one the case
lists in ``unsupported``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AgreementCase"]


@dataclass(frozen=True)
class AgreementCase:
    """One rate-vs-substrate agreement check of a circuit.

    ``task`` (registered name) with ``task_options``; the circuit built with ``params``;
    ``steps`` updates (None: the task's default), ``eval_every``, ``batch_size``, ``seeds``;
    ``substrate_options`` per substrate name. ``tolerances`` maps a metric to ``(rtol,
    atol)``: the check is ``|value − reference| ≤ rtol |reference| + atol`` for every seed, on
    the mean of the last ``tail`` evaluations. ``learns`` maps a metric to a required change
    from its initial value on every substrate: ``("absolute", d)`` means ``final − initial ≥
    d`` (d < 0: a fall of at least ``-d``), ``("relative", r)`` means ``(final − initial) /
    |initial| ≥ r``; "final" is the mean of the last ``tail`` evaluations. ``same_start``:
    the first evaluation (the initial weights, scored before any learning) must be equal on
    every substrate (same data and initial weights). ``unsupported`` names the substrates
    expected to refuse the circuit. ``slow`` marks a case for the slow tier; ``note`` records what was measured."""

    task: str
    tolerances: Mapping[str, tuple[float, float]]
    name: str = "default"
    params: Mapping[str, Any] = field(default_factory=dict)
    task_options: Mapping[str, Any] = field(default_factory=dict)
    steps: int | None = None
    eval_every: int | None = None
    batch_size: int | None = None
    seeds: tuple[int, ...] = (0,)
    substrate_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    tail: int = 1
    learns: Mapping[str, tuple[str, float]] = field(default_factory=dict)
    same_start: bool = False
    unsupported: tuple[str, ...] = ()
    slow: bool = False
    note: str = ""

    def __post_init__(self) -> None:
        if not self.tolerances and not self.unsupported:
            raise ValueError("an agreement case names at least one metric tolerance (or the substrates that refuse it)")
        for metric, (rtol, atol) in self.tolerances.items():
            if rtol < 0 or atol < 0:
                raise ValueError(f"tolerance of {metric!r} must be nonnegative, got {(rtol, atol)}")
        for metric, (mode, _) in self.learns.items():
            if mode not in ("absolute", "relative"):
                raise ValueError(f"learns[{metric!r}] mode must be 'absolute' or 'relative', got {mode!r}")
        if self.tail < 1:
            raise ValueError(f"tail must be >= 1, got {self.tail}")
