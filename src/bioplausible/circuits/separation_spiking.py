"""Spiking outputs on ℓ1-type domains: IF units and a graded inhibitory threshold unit.

Rate model (shared/specs/separation.md §1.1): the outputs are soft-thresholded by λ, an
inhibitory unit updated inside the neural loop, ``λ ← max(λ + η_λ(Σ_i y_i − 1), 0)``
(nonnegative sparse) or unclipped (simplex). At the fixed point of the CorInfoMax loop
this is the KKT system of ``argmin ½yᵀAy − cᵀy`` over the domain: ``A_ii y_i =
[c_i − Σ_{j≠i} A_ij y_j − ν]₊`` with one multiplier ν per group, and ``ν ≥ 0``, ``Σy ≤ 1``,
``ν(Σy − 1) = 0`` (nonnegative sparse) or ``Σy = 1`` (simplex).

Spiking realisation (builder ``"soft-threshold-integrate-and-fire"``): the outputs are the
generic IF units of :mod:`bioplausible.substrates.spiking`; one graded (non-spiking)
inhibitory unit per ensemble member holds ν, an integral controller driven by the output
spikes::

    du/dt = −κ r0,   u += κ at every output spike      (so du/dt = κ r0 (Σ_i y_i(t) − 1))
    ν = max(u, 0) (nonnegative sparse; the simplex takes ν = u)
    dv_i/dt = r0 (bias_i + drive_i − ν)                 (a ``(summed)`` variable, every step)

Counting over a presentation: ``u(T) − u(0) = κ (Σ_i n_i − r0 T)``, so while the threshold
is active ``Σ_i n_i/(r0 T) = 1 + (u(T) − u(0))/(κ r0 T)``, and each output's count solves the
KKT row with ν replaced by its window mean, up to O(1/(r0 T)) like any IF unit; when it is
inactive u drifts below 0 and ν = 0. The rate loop clips λ itself (anti-windup); clipping the
spiking integrator instead would bias ν upwards, because every spike kicks it by κ and the
clip removes only the downward half of the sawtooth (measured: output errors ≈ 0.2 that did
not shrink with T). Rectifying its readout keeps the fixed point and drops that bias.
u starts at 0 every presentation (as λ does per sample).
The gain ``κ = mean_i(A_ii)/(r0 τ_λ)`` sets the controller's time constant ≈ τ_λ/n_active;
``τ_λ`` is the circuit's ``spike_threshold_time_constant``.

Signed ℓ1 outputs would need |y| from the spikes (ON/OFF pairs); they are not built.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..substrates.spiking import SpikingSubstrate, _IFNetwork, _safe, register_spiking_model
from .base import Batch, Circuit

__all__ = ["SoftThresholdNetwork"]


@register_spiking_model("soft-threshold-integrate-and-fire")
def simulate_soft_threshold(
    substrate: SpikingSubstrate, circuit: Circuit, batch: Batch, batch_size: int, first_step: int
) -> dict[str, np.ndarray]:
    """IF network plus one threshold unit per member (see the module docstring)."""
    network = substrate.cache.get("soft-threshold")
    if network is None or network.circuit is not circuit or batch.size > network.capacity:
        network = substrate.cache["soft-threshold"] = SoftThresholdNetwork(substrate, circuit, batch.size)
    return network.run(batch, batch_size, first_step)


class SoftThresholdNetwork(_IFNetwork):
    """The generic IF network with a graded inhibitory integral controller on one population.

    The circuit's ``soft_threshold()`` names the population, the lower bound of ν (0.0, or
    None for none) and τ_λ (s).
    """

    def __init__(self, substrate: SpikingSubstrate, circuit: Circuit, capacity: int) -> None:
        spec = circuit.soft_threshold()
        self.thresholded, self.lower, self.time_constant = spec["population"], spec["lower"], spec["time_constant"]
        super().__init__(substrate, circuit, capacity)
        b2, k = self.b2, self.ensemble
        outputs, n = self.groups[self.thresholded], self.populations[self.thresholded].size
        step = substrate.dt * b2.second
        self.unit = b2.NeuronGroup(k, "dnu/dt = -gain * rate_unit : 1\ngain : 1", method="euler", dt=step,
                                   namespace={"rate_unit": substrate.rate_unit * b2.Hz}, name="threshold_unit*")
        level = "nu_pre"
        if self.lower is not None:  # rectified readout of an unclipped integrator (see the module docstring)
            low = float(self.lower)
            level = f"({low!r} + (nu_pre - {low!r}) * int(nu_pre > {low!r}))"
        member, unit = np.repeat(np.arange(k), n), np.tile(np.arange(n), k)
        name = _safe(self.thresholded)
        self.sensing = b2.Synapses(outputs, self.unit, on_pre="nu_post += gain_post", dt=step,
                                   name=f"syn_{name}_threshold*")
        self.sensing.connect(i=member * n + unit, j=member)
        self.inhibition = b2.Synapses(self.unit, outputs, f"threshold_inhibition_post = -{level} : 1 (summed)",
                                      dt=step, name=f"syn_threshold_{name}*")
        self.inhibition.connect(i=member, j=member * n + unit)
        self.network.add(self.unit, self.sensing, self.inhibition)

    def extra_drives(self, population: Any) -> list[str]:
        return ["threshold_inhibition"] if population.name == self.thresholded else []

    def _start_presentation(self) -> None:
        super()._start_presentation()
        self.unit.nu[:] = 0.0

    def _write_parameters(self) -> None:
        super()._write_parameters()
        theta = self.circuit.thresholds()[self.thresholded]  # (K, n)
        self.unit.gain[:] = theta.mean(axis=-1) / (self.substrate.rate_unit * self.time_constant)
