"""The layered supervised network on spikes (builder of kind ``"layered"``): the generic
integrate-and-fire network (:mod:`bioplausible.substrates.spiking.network`) with each hidden
unit's bias as a constant drive; learning per ``batch_size`` presentations from decoded
counts with the circuit's own rules; the output is the (non-simulated) linear readout of
the last hidden layer. Kind ``"clipped-settling"`` (CorInfoMax-EBD, CorInfoMax-EP) has no realisation here."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...circuits.base import Circuit
from ...core import Batch
from .network import IFNetwork
from .substrate import SpikingSubstrate, register_builder, register_refusal

__all__ = ["LayeredIFNetwork", "simulate_layered_integrate_and_fire"]


class LayeredIFNetwork(IFNetwork):
    """The generic IF network plus each hidden unit's bias as a constant drive (the circuit
    declares ``biases()`` and its non-simulated ``readout(last_hidden)``)."""

    circuit: Any

    def _write_parameters(self) -> None:
        super()._write_parameters()
        for name, bias in self.circuit.biases().items():
            if name in self.groups:
                group = self.groups[name]
                group.bias[:] = np.asarray(group.bias[:]) + bias.reshape(-1)

    def run(self, batch: Batch, batch_size: int, first_step: int) -> dict[str, np.ndarray]:
        activities = super().run(batch, batch_size, first_step)
        if activities:
            output = self.circuit.populations()[-1].name
            last = next(c.source for c in self.circuit.connections() if c.target == output)
            activities[output] = self.circuit.readout(activities[last])
        return activities


@register_builder("layered")
def simulate_layered_integrate_and_fire(
    substrate: SpikingSubstrate, circuit: Circuit, batch: Batch, batch_size: int, first_step: int
) -> dict[str, np.ndarray]:
    """One :class:`LayeredIFNetwork` per run (built at the first chunk, reused after)."""
    key = "layered"
    network = substrate.cache.get(key)
    if network is None or network.circuit is not circuit or batch.size > network.capacity:
        network = substrate.cache[key] = LayeredIFNetwork(substrate, circuit, batch.size)
    return network.run(batch, batch_size, first_step)


register_refusal(
    "clipped-settling",
    "there is no spiking realisation of its settled layers: the capped integrate-and-fire units "
    "(Population.ceiling) are known to reach a clipped fixed point only as the minimum of a "
    "box-constrained quadratic energy, i.e. for a symmetric positive-definite coupling, but CorInfoMax "
    "couples layer k to k+1 by W_f,k+1 and back by W_b,k, two independently learned matrices (about 90° "
    "apart at initialisation), so there is no energy whose minimum the spike counts reach; and its "
    "prediction is the state after a fixed number of Euler steps (free_steps from u = 0; corinfomax-ep: "
    "nudged_steps more from u = h⁰), which a window's spike counts do not reproduce step by step "
    "(see bioplausible.circuits.supervised_corinfomax); run it on substrate='rate'",
)
