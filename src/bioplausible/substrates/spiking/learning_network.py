"""Parts of a compiled learning run's network: the Brian2 ``Network`` (:func:`learning_network`),
each group's reset at a boundary (:func:`reset_statement`), and the targets this machine runs
(:func:`available_targets`)."""

from __future__ import annotations

import os
import shutil
from typing import Any

__all__ = ["learning_network", "reset_statement", "available_targets", "SATURATED"]


def available_targets() -> tuple[str, ...]:
    """The Brian2 targets this machine can run: numpy always; cython and cpp_standalone with a
    C++ compiler (and Cython for the former)."""
    targets = ["numpy"]
    if shutil.which(os.environ.get("CXX", "g++")) is not None:
        try:
            import Cython  # noqa: F401
            targets.append("cython")
        except ImportError:
            pass
        if shutil.which("make") is not None:
            targets.append("cpp_standalone")
    return tuple(targets)


def reset_statement(refractory: bool, steps: int) -> str:
    """The reset of every presentation in generated code: the presentations in which a unit
    fired at every one of its ``steps`` time steps counted (``saturated``, read after the run:
    :meth:`SpikingSubstrate.note_saturation`), the voltage to ``dither · θ``, the count to 0,
    and (a rate-capped population) the refractoriness cleared, as the runtime path does."""
    return (f"saturated += int(count >= {int(steps)})\nv = dither(t, i) * theta\ncount = 0"
            + ("\nlastspike = -1e4 * second" if refractory else ""))


#: The model line of a compiled group's saturation count (:func:`reset_statement`).
SATURATED = "saturated : 1"



def _time_then_dt(entry: tuple[float, float, Any]) -> tuple[float, float]:
    return entry[0], entry[1]


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

        epsilon = Clock.epsilon_dt

        class LearningNetwork(b2.Network):  # type: ignore[name-defined,misc]
            def _nextclocks(self) -> tuple[Any, set[Any]]:
                variables = self._clock_variables
                times = [(variables[c][1][0], variables[c][2][0], c) for c in self._clocks]
                earliest, finest, chosen = min(times, key=_time_then_dt)
                due = {c for t, dt, c in times if t == earliest or abs(t - earliest) / min(finest, dt) < epsilon}
                for _t, dt, c in times:  # a finer due clock decides (rarely another than the earliest)
                    if dt < finest and c in due:
                        chosen, finest = c, dt
                return chosen, due

        _NETWORK.append(LearningNetwork)
    return _NETWORK[0](*objects, name=name)
