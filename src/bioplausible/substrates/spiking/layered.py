"""The layered supervised network on spikes (builder of kind ``"layered"``): the generic
integrate-and-fire network (:mod:`bioplausible.substrates.spiking.network`) with each hidden
unit's bias as a constant drive; learning per ``batch_size`` presentations from decoded
counts with the circuit's own rules; the output is the (non-simulated) linear readout of
the last hidden layer. Kind ``"clipped-settling"`` (CorInfoMax-EBD, CorInfoMax-EP) has no realisation here.

With ``parallel_batch=True`` (:class:`~.substrate.SpikingSubstrate`) the B samples of each
mini-batch are presented at once, each to its own copy of the network (member k's copy b is
block ``k·B + b``, as ensemble members are blocks): every presentation starts from a dithered
voltage and zero counts, and the weights change only between mini-batches, so the B
presentations of one update are independent either way and the rule sees the same counts in
distribution as from B presentations one after another, in one window instead of B
(:class:`ParallelBatchIFNetwork`)."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from ...circuits.base import Circuit
from ...core import Batch
from .network import IFNetwork
from .substrate import SpikingSubstrate, register_builder, register_refusal

__all__ = ["LayeredIFNetwork", "ParallelBatchIFNetwork", "simulate_layered_integrate_and_fire"]


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


class _Copies:
    """A layered circuit seen as ``copies`` copies of each ensemble member (member ``k·B + b``
    is copy b of member k): what :class:`LayeredIFNetwork` reads of a circuit, repeated. The
    network reads them at every presentation; they are repeated once per update
    (:meth:`refresh` after the circuit learns)."""

    def __init__(self, circuit: Any, copies: int) -> None:
        self.circuit, self.copies = circuit, copies
        self.name = circuit.name
        self._repeated: dict[str, dict[Any, np.ndarray]] = {}

    @property
    def ensemble_size(self) -> int:
        return int(self.circuit.ensemble_size) * self.copies

    def refresh(self) -> None:
        """Forget the repeated arrays (the circuit's state has changed)."""
        self._repeated = {}

    def _repeat(self, what: str) -> dict[Any, np.ndarray]:
        if what not in self._repeated:
            arrays = getattr(self.circuit, what)()
            self._repeated[what] = {key: np.repeat(value, self.copies, axis=0) for key, value in arrays.items()}
        return self._repeated[what]

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        return self._repeat("weights")

    def thresholds(self) -> dict[str, np.ndarray]:
        return self._repeat("thresholds")

    def biases(self) -> dict[str, np.ndarray]:
        return self._repeat("biases")

    def populations(self) -> Any:
        return self.circuit.populations()

    def connections(self) -> Any:
        return self.circuit.connections()


class ParallelBatchIFNetwork(LayeredIFNetwork):
    """The layered network with ``copies`` (the batch size) copies of every ensemble member:
    one window presents a whole mini-batch, one sample per copy; the circuit learns from the
    B copies' counts after each window (see the module docstring)."""

    def __init__(self, substrate: SpikingSubstrate, circuit: Circuit, capacity: int, copies: int) -> None:
        self.real, self.copies = circuit, copies
        self.wide = _Copies(circuit, copies)
        super().__init__(substrate, cast(Circuit, self.wide), capacity)

    def run(self, batch: Batch, batch_size: int, first_step: int) -> dict[str, np.ndarray]:
        if batch_size != self.copies or batch.size % batch_size:
            raise ValueError(f"this network presents mini-batches of {self.copies} samples at once; got batch_size "
                             f"{batch_size} and {batch.size} samples")
        k, size, n = batch.inputs.shape
        updates = size // batch_size
        self.real_batch = batch
        self.wide.refresh()  # the state may have been set between runs
        wide = batch.inputs.reshape(k, updates, batch_size, n).transpose(0, 2, 1, 3).reshape(k * batch_size, updates, n)
        return IFNetwork.run(self, Batch(wide), 1, first_step)

    def _apply_learning(self) -> None:
        (presentation,) = self.pending  # one window per mini-batch
        k, b = self.real.ensemble_size, self.copies
        activities = {name: value.reshape(k, b, -1) for name, value in presentation.items()}
        output = self.real.populations()[-1].name
        last = next(c.source for c in self.real.connections() if c.target == output)
        activities[output] = self.real.readout(activities[last])
        start = (self.presented - 1) * b
        self.substrate.apply_rules(self.real, activities, self.real_batch[start : start + b])
        self.wide.refresh()
        self.updates += 1
        self.real.check_finite(self.first_step + self.updates)
        self.last_activities = activities
        self.pending = []
        self._write_parameters()


def _parallel(substrate: SpikingSubstrate, batch_size: int) -> bool:
    """Whether this run presents each mini-batch at once (``parallel_batch`` with Python rules,
    no spike recording: the recorded unit numbers are those of one copy)."""
    return (bool(getattr(substrate, "parallel_batch", False)) and substrate.plasticity == "python"
            and not substrate.record_spikes and batch_size > 1)


def _layered_work(substrate: SpikingSubstrate, circuit: Circuit, task: Any, steps: int,
                  eval_every: int) -> tuple[int, int, int, int]:
    """One window per sample one after the other, or per mini-batch with ``parallel_batch``
    (B copies side by side); a ``Network.run`` per evaluation interval, one network."""
    batch_size = int(getattr(task, "default_batch_size", 1))
    runs = -(-steps // eval_every)
    if _parallel(substrate, batch_size):
        return steps, batch_size, runs, 1
    return steps * batch_size, 1, runs, 1


@register_builder("layered", work=_layered_work)
def simulate_layered_integrate_and_fire(
    substrate: SpikingSubstrate, circuit: Circuit, batch: Batch, batch_size: int, first_step: int
) -> dict[str, np.ndarray]:
    """One :class:`LayeredIFNetwork` per run (built at the first chunk, reused after), or with
    ``parallel_batch`` one :class:`ParallelBatchIFNetwork` of ``batch_size`` copies."""
    if _parallel(substrate, batch_size) and batch.size % batch_size == 0:
        network = substrate.cache.get("layered-parallel")
        if (network is None or network.real is not circuit or network.copies != batch_size
                or batch.size > network.capacity):
            network = substrate.cache["layered-parallel"] = ParallelBatchIFNetwork(
                substrate, circuit, batch.size, batch_size)
        return network.run(batch, batch_size, first_step)
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
