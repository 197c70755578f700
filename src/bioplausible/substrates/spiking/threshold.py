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

Scaled levels (kind ``"scaled-threshold-unit"``, Det-Max: ``y = soft-threshold(u/(Γ_Y D2), λ)``,
with the outputs' thresholds ``θ_i = γ_i d2_i``): the level reaches output i as ``θ_i ν`` (a
summed ``−theta_post · ν``), so ``θ_i n_i/(r0 T) = [u_i − θ_i ν]₊``, i.e. ``y_i = [u_i/θ_i − ν]₊``;
the controller's gain is ``1/(r0 τ_λ)`` (each output then moves by −ν per unit of ν). Measured
on fixed Det-Max weights with thresholds (1, 1.5, 0.7): rmse against the rate fixed point
0.147 / 0.034 / 0.008 at r0 T = 10 / 40 / 160 (nonnegative sparse); one uniform level stalls
at 0.055 (tests/features/test_separation_spiking.py).

Signed ℓ1 outputs (``soft_threshold()["signed"]``): the threshold unit must sense ``Σ|y_i|``,
which an offset code does not carry, so each output is an ON/OFF pair of nonnegative IF
units, ``y = y⁺ − y⁻`` (a readout), with the declared couplings mirrored (``on → on`` and
``off → off``: w; ``on ↔ off``: −w; drive ±; same threshold; no coupling inside a pair).
Both halves feed and receive ν: ``θ_i y_i^± = [±(c_i − Σ_{j≠i} A_ij y_j) − ν]₊``, so at most
one half of a pair is active and ``y_i = soft-threshold(c_i − Σ_{j≠i} A_ij y_j, ν)/θ_i``:
the KKT row of the ℓ1 ball with multiplier ν. Connections out of the split population to
another (Det-Max's output → hidden feedback) are mirrored too: ``on → target``: w,
``off → target``: −w, a linear read of ``y⁺ − y⁻``.

Where it differs from the rate loop: the IF outputs are non-leaky, so a unit held below
zero by a burst of ν winds down and must integrate back before it fires. In a loop whose
outputs' net drive is weak (Det-Max, signed sparse, |y| ≲ 0.7), the burst that dithered ON
and OFF halves fire together in the first step costs a short window several spikes: the
signed Det-Max error falls as 0.251 / 0.145 / 0.039 at r0 T = 10 / 40 / 160, an O(1/T)
transient rather than a bias.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...circuits.base import Circuit
from ...core import Batch, Population
from .network import IFNetwork, safe_name
from .substrate import SpikingSubstrate, register_builder, register_refusal

__all__ = ["SoftThresholdNetwork", "OnOffView", "simulate_soft_threshold"]


@register_builder("scaled-threshold-unit")
@register_builder("threshold-unit")
def simulate_soft_threshold(
    substrate: SpikingSubstrate, circuit: Circuit, batch: Batch, batch_size: int, first_step: int
) -> dict[str, np.ndarray]:
    """IF network plus one threshold unit per member (see the module docstring); kind
    ``"scaled-threshold-unit"``: its level reaches each output scaled by the output's threshold."""
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
            elif source == self.split:  # a linear synapse reads y = y⁺ − y⁻
                result[(self.on, target)], result[(self.off, target)] = w, -w
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
        self.scaled = bool(spec.get("scaled", False))
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
            scale = "theta_post * " if self.scaled else ""  # θ_i y_i = [u_i − θ_i ν]₊: y_i = [u_i/θ_i − ν]₊
            inhibition = b2.Synapses(self.unit, outputs, f"threshold_inhibition_post = -{scale}{level} : 1 (summed)",
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
        # a unit of ν moves y_i by 1/θ_i (scaled: by 1), so κ = mean θ/(r0 τ_λ) (scaled: 1/(r0 τ_λ))
        scale = np.ones(theta.shape[:-1]) if self.scaled else theta.mean(axis=-1)
        self.unit.gain[:] = scale / (self.substrate.rate_unit * self.time_constant)


# ------------------------------------------------------------------ kinds without a realisation
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
