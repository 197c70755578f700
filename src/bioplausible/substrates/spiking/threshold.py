"""Spiking outputs on ℓ1-type domains: IF units and a graded inhibitory threshold unit.

Rate model (:ref:`theory-separation-domains`): the outputs are soft-thresholded by λ, an
inhibitory unit updated inside the neural loop, ``λ ← max(λ + η_λ(Σ_i y_i − 1), 0)``
(nonnegative sparse) or unclipped (simplex). At the fixed point of the CorInfoMax loop
this is the KKT system of ``argmin ½yᵀAy − cᵀy`` over the domain: ``A_ii y_i =
[c_i − Σ_{j≠i} A_ij y_j − ν]₊`` with one multiplier ν per group, and ``ν ≥ 0``, ``Σy ≤ 1``,
``ν(Σy − 1) = 0`` (nonnegative sparse) or ``Σy = 1`` (simplex).

Spiking realisation (builder of kind ``"threshold-unit"``): the outputs are the
generic IF units of :mod:`bioplausible.substrates.spiking.network`; one graded (non-spiking)
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

Signed ℓ1 outputs (``soft_threshold()["signed"]``): the threshold unit must sense ``Σ|y_i|``,
which an offset code does not carry, so each output is an ON/OFF pair of nonnegative IF
units, ``y = y⁺ − y⁻`` (a readout), with the declared couplings mirrored (``on → on`` and
``off → off``: w; ``on ↔ off``: −w; drive ±; same threshold; no coupling inside a pair).
Both halves feed and receive ν: ``θ_i y_i^± = [±(c_i − Σ_{j≠i} A_ij y_j) − ν]₊``, so at most
one half of a pair is active and ``y_i = soft-threshold(c_i − Σ_{j≠i} A_ij y_j, ν)/θ_i``:
the KKT row of the ℓ1 ball with multiplier ν.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...circuits.base import Circuit
from ...core import Batch, Population
from .network import IFNetwork, safe_name
from .substrate import SpikingSubstrate, register_builder, register_refusal

__all__ = ["SoftThresholdNetwork", "OnOffView", "simulate_soft_threshold"]


@register_builder("threshold-unit")
def simulate_soft_threshold(
    substrate: SpikingSubstrate, circuit: Circuit, batch: Batch, batch_size: int, first_step: int
) -> dict[str, np.ndarray]:
    """IF network plus one threshold unit per member (see the module docstring)."""
    network = substrate.cache.get("soft-threshold")
    if network is None or network.source is not circuit or batch.size > network.capacity:
        network = substrate.cache["soft-threshold"] = SoftThresholdNetwork(substrate, circuit, batch.size)
    return network.run(batch, batch_size, first_step)


class OnOffView:
    """The circuit seen with one signed population split into ON/OFF halves (module docstring).

    Everything else (learning, state, names) is the circuit's own; the split population
    becomes a readout ``on − off`` under its own name, so ``learn`` sees the signed activity.
    """

    def __init__(self, circuit: Circuit, population: str) -> None:
        self.circuit, self.split = circuit, population
        self.on, self.off = f"{population}_on", f"{population}_off"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.circuit, name)

    def populations(self) -> list[Population]:
        result = []
        for p in self.circuit.populations():
            if p.name != self.split:
                result.append(p)
                continue
            result += [Population(self.on, p.size, description=f"ON half of {p.name}"),
                       Population(self.off, p.size, description=f"OFF half of {p.name}"),
                       Population(p.name, p.size, role="readout", description=f"{p.name} = on − off")]
        return result

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        result: dict[tuple[str, str], np.ndarray] = {}
        for (source, target), w in self.circuit.weights().items():
            if source == target == self.split:
                off_diagonal = w - np.einsum("kii->ki", w)[..., None] * np.eye(w.shape[-1])
                result[(self.on, self.on)] = result[(self.off, self.off)] = w
                result[(self.on, self.off)] = result[(self.off, self.on)] = -off_diagonal
            elif target == self.split:
                result[(source, self.on)], result[(source, self.off)] = w, -w
            elif source == self.split:
                raise ValueError(f"{self.circuit.name}: ON/OFF split of {self.split!r} with outgoing connections "
                                 f"to {target!r} is not supported")
            else:
                result[(source, target)] = w
        identity = np.broadcast_to(np.eye(self._size), (self.circuit.ensemble_size, self._size, self._size))
        result[(self.on, self.split)], result[(self.off, self.split)] = identity, -identity
        return result

    def thresholds(self) -> dict[str, np.ndarray]:
        result = dict(self.circuit.thresholds())
        theta = result.pop(self.split)
        result[self.on] = result[self.off] = theta
        return result

    @property
    def _size(self) -> int:
        return next(p.size for p in self.circuit.populations() if p.name == self.split)


class SoftThresholdNetwork(IFNetwork):
    """The generic IF network with a graded inhibitory integral controller on one population.

    The circuit's ``soft_threshold()`` names the population, the lower bound of ν (0.0, or
    None for none) and τ_λ (s).
    """

    def __init__(self, substrate: SpikingSubstrate, circuit: Any, capacity: int) -> None:
        spec = circuit.soft_threshold()
        self.source, self.lower, self.time_constant = circuit, spec["lower"], spec["time_constant"]
        if spec.get("signed", False):
            view = OnOffView(circuit, spec["population"])
            self.thresholded = [view.on, view.off]
            super().__init__(substrate, view, capacity)  # type: ignore[arg-type]
        else:
            self.thresholded = [spec["population"]]
            super().__init__(substrate, circuit, capacity)
        b2, k, step = self.b2, self.ensemble, substrate.dt * self.b2.second
        self.unit = b2.NeuronGroup(k, "dnu/dt = -gain * rate_unit : 1\ngain : 1", method="euler", dt=step,
                                   namespace={"rate_unit": substrate.rate_unit * b2.Hz}, name="threshold_unit*")
        level = "nu_pre"
        if self.lower is not None:  # rectified readout of an unclipped integrator (see the module docstring)
            low = float(self.lower)
            level = f"({low!r} + (nu_pre - {low!r}) * int(nu_pre > {low!r}))"
        self.connections = []
        for population in self.thresholded:
            outputs, n = self.groups[population], self.populations[population].size
            member, unit = np.repeat(np.arange(k), n), np.tile(np.arange(n), k)
            name = safe_name(population)
            sensing = b2.Synapses(outputs, self.unit, on_pre="nu_post += gain_post", dt=step,
                                  name=f"syn_{name}_threshold*")
            sensing.connect(i=member * n + unit, j=member)
            inhibition = b2.Synapses(self.unit, outputs, f"threshold_inhibition_post = -{level} : 1 (summed)",
                                     dt=step, name=f"syn_threshold_{name}*")
            inhibition.connect(i=member, j=member * n + unit)
            self.connections += [sensing, inhibition]
        self.network.add(self.unit, *self.connections)

    def extra_drives(self, population: Any) -> list[str]:
        return ["threshold_inhibition"] if population.name in self.thresholded else []

    def _start_presentation(self) -> None:
        super()._start_presentation()
        self.unit.nu[:] = 0.0

    def _write_parameters(self) -> None:
        super()._write_parameters()
        theta = self.circuit.thresholds()[self.thresholded[0]]  # (K, n)
        self.unit.gain[:] = theta.mean(axis=-1) / (self.substrate.rate_unit * self.time_constant)


# ------------------------------------------------------------------ kinds without a realisation
register_refusal(
    "scaled-threshold-unit",
    lambda circuit: (
        f"its {getattr(circuit.params, 'domain', '')} domain soft-thresholds each output by a level scaled per "
        "output by its own gain (Det-Max: u/(Γ_Y D2) thresholded by λ, inside the two-layer loop); the "
        "threshold-unit builder here applies one uniform level, and no realisation of the scaled form has "
        "been built or measured against the rate model. Use a box domain on spikes, or the rate substrate"
    ),
)
register_refusal(
    "polytope-groups",
    "the mixed polytope needs one threshold unit per sparse group, each inhibiting only its own (possibly "
    "overlapping) outputs, then the box clip; the threshold-unit builder here realises one unit over the "
    "whole output population. Use the rate substrate for domain='polytope'",
)
register_refusal(
    "perfect-integrator",
    "its outputs are perfect integrators (a zero self-term, e.g. the Bio-NICA interneuron variant with "
    "leak=0): an integrate-and-fire unit needs a positive self-term; set leak > 0 (M = PPᵀ + leak·I)",
)
