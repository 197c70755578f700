"""The Brian2 ``Network`` of a compiled learning run (:func:`learning_network`)."""

from __future__ import annotations

from typing import Any

__all__ = ["learning_network"]

_NETWORK: list[type] = []


def learning_network(b2: Any, *objects: Any, name: str) -> Any:
    """A ``Network`` of a compiled learning run whose runtime loop (numpy, cython) picks, among
    the clocks due at the same time, the finest as the one that decides whether the run goes on.

    Brian2's runtime loop takes an arbitrary one of the tied clocks (the first of a set, by
    memory address) and stops when that clock has reached its end. A checkpoint monitor's
    clock (dt = checkpoint_every · T) counts a run's end, one time step past the last boundary,
    as its own last tick (runtime clocks round within 10⁻⁴ dt; the standalone binary's within
    10⁻¹⁴), so when it was drawn at the last boundary the run stopped there: that boundary's
    update and checkpoint were lost, in about a quarter of the runs in one process (measured:
    3 of 12, direct whitening, checkpoint_every 150 of 300). The finest clock is never done
    before the run's end."""
    if not _NETWORK:
        from brian2.core.clocks import Clock

        class LearningNetwork(b2.Network):  # type: ignore[name-defined,misc]
            def _nextclocks(self) -> tuple[Any, set[Any]]:
                times = [(c, self._clock_variables[c][1][0], self._clock_variables[c][2][0]) for c in self._clocks]
                first, earliest, finest = min(times, key=lambda entry: (entry[1], entry[2]))
                due = [(c, dt) for c, t, dt in times
                       if t == earliest or abs(t - earliest) / min(finest, dt) < Clock.epsilon_dt]
                return min(due, key=lambda entry: entry[1])[0], {c for c, _ in due}

        _NETWORK.append(LearningNetwork)
    return _NETWORK[0](*objects, name=name)
