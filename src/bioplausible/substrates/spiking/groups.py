"""Helpers every Brian2 builder of the spiking substrate shares: Brian2-safe names, the
synapse indices of K block-diagonal copies, and the checks of integrate-and-fire thresholds
and of refractory periods that realise a rate cap."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["block_indices", "check_thresholds", "refractory_period", "safe_name"]


def refractory_period(substrate: Any, name: str, population: Any) -> float:
    """The rate cap of a population with a ``ceiling`` as a refractory period (s), in whole
    time steps; a ValueError when ``dt`` cannot realise the cap (circuit ``name``)."""
    offset, ceiling = float(population.offset), float(population.ceiling)
    steps, realised = substrate.neuron.refractory_steps(offset, ceiling, substrate.dt)
    if abs(realised - ceiling) > 0.01 * (offset + ceiling):
        period = 1.0 / (substrate.rate_unit * (offset + ceiling))
        raise ValueError(
            f"{name}: population {population.name!r} has ceiling {ceiling:g} (offset {offset:g}), "
            f"a rate cap of {substrate.rate_unit * (offset + ceiling):g} Hz = one spike per {period * 1e3:.4g} ms; "
            f"with dt = {substrate.dt * 1e3:g} ms the refractory period rounds to {steps} step(s), which caps "
            f"the activity at {realised:.4g} instead: choose dt dividing {period * 1e3:.4g} ms (or a lower "
            f"rate_unit)"
        )
    return steps * substrate.dt


def check_thresholds(name: str, thresholds: dict[str, np.ndarray]) -> None:
    """Refuse non-positive integrate-and-fire thresholds (naming the circuit ``name``)."""
    smallest = min(float(np.min(t)) for t in thresholds.values())
    if smallest <= 0:
        raise ValueError(
            f"{name}: integrate-and-fire thresholds (the populations' self-terms, e.g. a "
            f"leak parameter) must be positive on the spiking substrate; the smallest is {smallest:.3g}"
        )


def block_indices(ensemble: int, n_source: int, n_target: int, recurrent: bool,
                  pattern: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, ...]:
    """(member, post, pre) of every synapse of K block-diagonal copies (no self-synapse if
    recurrent): all-to-all, or the declared ``pattern`` (post, pre) of each block
    (``Circuit.synapses``)."""
    if pattern is None:
        member, post, pre = np.meshgrid(np.arange(ensemble), np.arange(n_target), np.arange(n_source), indexing="ij")
        member, post, pre = member.ravel(), post.ravel(), pre.ravel()
    else:
        one_post, one_pre = (np.asarray(a, dtype=np.int64).ravel() for a in pattern)
        member = np.repeat(np.arange(ensemble), one_post.size)
        post, pre = np.tile(one_post, ensemble), np.tile(one_pre, ensemble)
    if recurrent:
        keep = post != pre
        member, post, pre = member[keep], post[keep], pre[keep]
    return member, post, pre


def safe_name(name: str) -> str:
    """A Brian2-safe identifier from a population name."""
    return "".join(c if c.isalnum() else "_" for c in name)
