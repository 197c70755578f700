"""Spiking outputs on ℓ1-type domains and the mixed polytope: IF units and graded inhibitory threshold units.

Rate model (:ref:`theory-separation-domains`): the outputs are soft-thresholded by λ, an
inhibitory unit updated inside the neural loop, ``λ ← max(λ + η_λ(Σ_i y_i − 1), 0)``
(nonnegative sparse) or unclipped (simplex). At the fixed point of the CorInfoMax loop
this is the KKT system of ``argmin ½yᵀAy − cᵀy`` over the domain: ``A_ii y_i =
[c_i − Σ_{j≠i} A_ij y_j − ν]₊`` with one multiplier ν per group, and ``ν ≥ 0``, ``Σy ≤ 1``,
``ν(Σy − 1) = 0`` (nonnegative sparse) or ``Σy = 1`` (simplex).

Spiking realisation (builder of kinds ``"threshold-unit"`` and ``"polytope-groups"``, and their
scaled forms below): the outputs are the
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
the KKT row of the ℓ1 ball with multiplier ν. Connections out of the split population to
another (Det-Max's output → hidden feedback) are mirrored too: ``on → target``: w,
``off → target``: −w, a linear read of ``y⁺ − y⁻``.

Scaled levels (``soft_threshold()["scaled"]``, kinds ``"scaled-threshold-unit"`` and
``"scaled-polytope-groups"``; Det-Max: ``y = P(u/(Γ_Y D2))`` with the outputs' thresholds
``θ_i = γ_i d2_i``): the level reaches output i as ``θ_i ν`` (a summed ``−theta_post · ν``), so
``θ_i n_i/(r0 T) = [u_i − θ_i ν]₊``, i.e. ``y_i = [u_i/θ_i − ν]₊``; the controller's gain is
``1/(r0 τ_λ)`` (a unit of ν then moves each output by 1, not by 1/θ_i). Measured on fixed
Det-Max weights with thresholds (1, 1.5, 0.7): rmse against the rate fixed point 0.147 / 0.034
/ 0.008 at r0 T = 10 / 40 / 160 (nonnegative sparse); one uniform level stalls at 0.055
(tests/features/test_separation_spiking.py).

Where it differs from the rate loop: the IF outputs are non-leaky, so a unit held below
zero by a burst of ν winds down and must integrate back before it fires. In a loop whose
outputs' net drive is weak (Det-Max, signed sparse, ``|y| ≲ 0.7``), the burst that dithered ON
and OFF halves fire together in the first step costs a short window several spikes: the
signed Det-Max error falls as 0.251 / 0.145 / 0.039 at r0 T = 10 / 40 / 160, an O(1/T)
transient rather than a bias.

Mixed polytope (kind ``"polytope-groups"``; the circuit's ``soft_threshold()`` declares the
groups (G, n), the signed coordinates and a ceiling): one such controller per sparse group J_k
and member, sensing the spikes of its own coordinates' units only (both halves of a signed
coordinate, so it counts ``‖y_J‖₁``; a nonnegative coordinate has no OFF half) and inhibiting
only them, each level rectified at 0. A coordinate in several groups receives the sum of their
levels (a ``(summed)`` variable over its groups), as in the rate model. Every half is capped
at 1 (a refractory rate cap, :mod:`bioplausible.substrates.spiking.substrate`), so
``0 ≤ y_i^± ≤ 1`` and the box holds: ``|y_i| ≤ 1`` (signed), ``0 ≤ y_i ≤ 1`` (nonnegative).
Each unit then solves ``y_i = clip(S(c_i − Σ_{j≠i} A_ij y_j, Σ_{k∋i} ν_k)/θ_i, lo_i, 1)``
(S the soft threshold, or the shift for a nonnegative coordinate) with each ``ν_k ≥ 0``
driven by the *final* ``‖y_{J_k}‖₁ − 1``: the KKT system of ``argmin ½yᵀAy − cᵀy`` over the
polytope, whose solution is unique for SPD A. The rate loop reaches that point when the groups
are disjoint; with overlapping groups it does not (its λ_k sees the norm after its own shrink
only, :func:`~bioplausible.circuits.separation.domains.project_domain`), and the spiking network
matches the KKT point, not the loop: measured on fixed weights in
``tests/features/test_polytope_spiking.py`` (decoded outputs 0.011 rmse from the KKT point at
r0 T = 40 while the loop at ``neural_lr_stop = 0.05`` sits 0.20 (max) off it; at the preset's
1e-10 the loop ends within 0.007 of it, below the count error). The gain of unit k uses the
mean ``A_ii`` over J_k. The OFF halves hold the signed coordinates only (:class:`OnOffView`
with a mask); a polytope without groups (a mixed box) builds the capped halves alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...circuits.base import Circuit
from ...core import Batch, Population
from .network import IFNetwork, safe_name
from .substrate import SpikingSubstrate, register_builder, register_refusal

__all__ = ["SoftThresholdNetwork", "OnOffView", "ThresholdPlan", "simulate_soft_threshold"]


def simulate_soft_threshold(
    substrate: SpikingSubstrate, circuit: Circuit, batch: Batch, batch_size: int, first_step: int
) -> dict[str, np.ndarray]:
    """IF network plus one threshold unit per group and member (see the module docstring)."""
    network = substrate.cache.get("soft-threshold")
    if network is None or network.source is not circuit or batch.size > network.capacity:
        network = substrate.cache["soft-threshold"] = SoftThresholdNetwork(substrate, circuit, batch.size)
    return network.run(batch, batch_size, first_step)


for _kind in ("threshold-unit", "polytope-groups", "scaled-threshold-unit", "scaled-polytope-groups"):
    register_builder(_kind)(simulate_soft_threshold)


class ThresholdPlan:
    """A circuit's ``soft_threshold()`` declaration, normalised: the population (``size`` n), the
    groups (G, n) each unit senses and inhibits (one all-True row for the ℓ1 domains), the
    signed coordinates (n,) that need an OFF half, the halves' ceiling (None: none), the
    lower bound of ν (0.0, or None), τ_λ (s) and whether each output takes the level scaled
    by its own threshold (``scaled``)."""

    def __init__(self, circuit: Any) -> None:
        spec = circuit.soft_threshold()
        self.population, self.lower, self.time_constant = spec["population"], spec["lower"], spec["time_constant"]
        self.size = size = next(p.size for p in circuit.populations() if p.name == self.population)
        self.signed = np.broadcast_to(np.asarray(spec.get("signed", False), dtype=bool), (size,)).copy()
        self.groups = np.asarray(spec.get("groups", np.ones((1, size), dtype=bool)), dtype=bool).reshape(-1, size)
        self.ceiling = spec.get("ceiling")
        self.scaled = bool(spec.get("scaled", False))

    @property
    def split(self) -> bool:
        """Whether the population is realised as ON/OFF halves (signed coordinates or a ceiling)."""
        return bool(self.signed.any()) or self.ceiling is not None


class OnOffView:
    """The circuit seen with one population split into an ON half (every coordinate) and an
    OFF half (the ``signed`` coordinates only; all of them by default), see the module docstring.

    Both halves take ``ceiling`` (None: none). Everything else (learning, state, names) is the
    circuit's own; the split population becomes a readout ``on − off`` under its own name, so
    ``learn`` sees the signed activity.
    """

    def __init__(self, circuit: Circuit, population: str, signed: np.ndarray | None = None,
                 ceiling: float | None = None) -> None:
        self.circuit, self.split, self.ceiling = circuit, population, ceiling
        self.on, self.off = f"{population}_on", f"{population}_off"
        mask = np.ones(self._size, dtype=bool) if signed is None else np.asarray(signed, dtype=bool)
        #: Coordinates of the OFF half's units, in order.
        self.signed = np.flatnonzero(mask)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.circuit, name)

    def populations(self) -> list[Population]:
        result = []
        for p in self.circuit.populations():
            if p.name != self.split:
                result.append(p)
                continue
            result.append(Population(self.on, p.size, ceiling=self.ceiling, description=f"ON half of {p.name}"))
            if self.signed.size:
                result.append(Population(self.off, self.signed.size, ceiling=self.ceiling,
                                         description=f"OFF half of {p.name}'s signed coordinates"))
            result.append(Population(p.name, p.size, role="readout", description=f"{p.name} = on − off"))
        return result

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        s = self.signed
        result: dict[tuple[str, str], np.ndarray] = {}
        for (source, target), w in self.circuit.weights().items():
            if source == target == self.split:
                off_diagonal = w - np.einsum("kii->ki", w)[..., None] * np.eye(w.shape[-1])
                result[(self.on, self.on)] = w
                if s.size:  # (K, target, source): no coupling inside a pair
                    result[(self.off, self.off)] = w[:, s][:, :, s]
                    result[(self.on, self.off)] = -off_diagonal[:, s, :]
                    result[(self.off, self.on)] = -off_diagonal[:, :, s]
            elif target == self.split:
                result[(source, self.on)] = w
                if s.size:
                    result[(source, self.off)] = -w[:, s, :]
            elif source == self.split:  # a linear synapse reads y = y⁺ − y⁻
                result[(self.on, target)] = w
                if s.size:
                    result[(self.off, target)] = -w[..., s]
            else:
                result[(source, target)] = w
        identity = np.broadcast_to(np.eye(self._size), (self.circuit.ensemble_size, self._size, self._size))
        result[(self.on, self.split)] = identity
        if s.size:
            result[(self.off, self.split)] = -identity[..., s]
        return result

    def thresholds(self) -> dict[str, np.ndarray]:
        result = dict(self.circuit.thresholds())
        theta = result.pop(self.split)
        result[self.on] = theta
        if self.signed.size:
            result[self.off] = theta[..., self.signed]
        return result

    @property
    def _size(self) -> int:
        return next(p.size for p in self.circuit.populations() if p.name == self.split)


class SoftThresholdNetwork(IFNetwork):
    """The generic IF network with graded inhibitory integral controllers on one population:
    one per group of :class:`ThresholdPlan` and ensemble member."""

    def __init__(self, substrate: SpikingSubstrate, circuit: Any, capacity: int) -> None:
        plan = self.plan = ThresholdPlan(circuit)
        self.source, size = circuit, plan.size
        halves = {plan.population: np.arange(size)}
        if plan.split:
            view = OnOffView(circuit, plan.population, plan.signed, plan.ceiling)
            halves = {view.on: np.arange(size), **({view.off: view.signed} if view.signed.size else {})}
        # (half, unit in the half, group) of every sensing/inhibition pair
        self.pairs = {name: np.argwhere(plan.groups[:, coordinates].T) for name, coordinates in halves.items()}
        self.thresholded = [name for name, pairs in self.pairs.items() if len(pairs)]
        super().__init__(substrate, view if plan.split else circuit, capacity)  # type: ignore[arg-type]
        b2, k, n_groups, step = self.b2, self.ensemble, len(plan.groups), substrate.dt * self.b2.second
        self.unit: Any = None
        self.connections: list[Any] = []
        if not self.thresholded:  # a mixed box (no sparse groups): the IF network alone
            return
        self.unit = b2.NeuronGroup(k * n_groups, "dnu/dt = -gain * rate_unit : 1\ngain : 1", method="euler",
                                   dt=step, namespace={"rate_unit": substrate.rate_unit * b2.Hz},
                                   name="threshold_unit*")
        level = "nu_pre"
        if plan.lower is not None:  # rectified readout of an unclipped integrator (see the module docstring)
            low = float(plan.lower)
            level = f"({low!r} + (nu_pre - {low!r}) * int(nu_pre > {low!r}))"
        for population in self.thresholded:
            outputs, n = self.groups[population], self.populations[population].size
            unit, group = self.pairs[population].T
            member = np.repeat(np.arange(k), unit.size)
            neuron, controller = member * n + np.tile(unit, k), member * n_groups + np.tile(group, k)
            name = safe_name(population)
            sensing = b2.Synapses(outputs, self.unit, on_pre="nu_post += gain_post", dt=step,
                                  name=f"syn_{name}_threshold*")
            sensing.connect(i=neuron, j=controller)
            scale = "theta_post * " if plan.scaled else ""  # θ_i y_i = [u_i − θ_i ν]₊: y_i = [u_i/θ_i − ν]₊
            inhibition = b2.Synapses(self.unit, outputs, f"threshold_inhibition_post = -{scale}{level} : 1 (summed)",
                                     dt=step, name=f"syn_threshold_{name}*")
            inhibition.connect(i=controller, j=neuron)
            self.connections += [sensing, inhibition]
        self.network.add(self.unit, *self.connections)

    def extra_drives(self, population: Any) -> list[str]:
        return ["threshold_inhibition"] if population.name in self.thresholded else []

    def _start_presentation(self) -> None:
        super()._start_presentation()
        if self.unit is not None:
            self.unit.nu[:] = 0.0

    def _write_parameters(self) -> None:
        super()._write_parameters()
        if self.unit is None:
            return
        groups, k = self.plan.groups, self.ensemble
        if self.plan.scaled:  # a unit of ν moves each output by 1, not by 1/θ_i
            scale = np.ones((k, len(groups)))
        else:  # the gain is a group's mean A_ii
            theta = self.source.thresholds()[self.plan.population]  # (K, n)
            scale = theta @ groups.T / np.maximum(groups.sum(axis=-1), 1)  # (K, G)
        self.unit.gain[:] = (scale / (self.substrate.rate_unit * self.plan.time_constant)).reshape(-1)


# ------------------------------------------------------------------ kinds without a realisation
register_refusal(
    "perfect-integrator",
    "its outputs are perfect integrators (a zero self-term, e.g. the Bio-NICA interneuron variant with "
    "leak=0): an integrate-and-fire unit needs a positive self-term; set leak > 0 (M = PPᵀ + leak·I)",
)
