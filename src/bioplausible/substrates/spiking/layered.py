"""The layered supervised network on spikes (builder of kinds ``"layered"`` and
``"convolutional"``): the generic integrate-and-fire network
(:mod:`bioplausible.substrates.spiking.network`) with each hidden unit's bias as a constant
drive; learning per ``batch_size`` presentations from decoded counts with the circuit's own
rules; the output is the (non-simulated) linear readout of the last hidden layer. Kind
``"clipped-settling"`` (CorInfoMax-EBD, CorInfoMax-EP) has no realisation here.

The convolutional / locally connected circuits are the same network: ReLU layers realised
as non-leaky IF units (``count/(r0 T)`` solves ``[u]₊`` up to O(1/(r0 T))) with the
circuit's expanded weights on the synapses it declares (``Circuit.synapses``: one per
patch entry, location and channel, not all-to-all) and per-unit biases (a shared channel's
bias at every location). A shared kernel entry is one weight on L_k synapses: the substrate
writes the circuit's weights into them after every update, the circuit's rules sum the
change over the locations; ``plasticity="brian2"`` / ``"stdp"`` (a rule per synapse) are
refused with that reason (:func:`patch_plasticity_support`).

With ``parallel_batch=True`` (:class:`~.substrate.SpikingSubstrate`) the B samples of each
mini-batch are presented at once, each to its own copy of the network (member k's copy b is
block ``k·B + b``, as ensemble members are blocks): every presentation starts from a dithered
voltage and zero counts, and the weights change only between mini-batches, so the B
presentations of one update are independent either way and the rule sees the same counts in
distribution as from B presentations one after another, in one window instead of B
(:class:`ParallelBatchIFNetwork`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import numpy as np

from ...circuits.base import Circuit
from ...core import Batch
from .network import IFNetwork
from .substrate import SpikingSubstrate, register_builder, register_refusal

__all__ = ["LayeredIFNetwork", "ParallelBatchIFNetwork", "simulate_layered_integrate_and_fire",
           "patch_plasticity_support"]


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
            activities.update(self._readouts(activities))
        return activities

    def _readouts(self, activities: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The circuit's own ``readout(last_hidden)`` (bias included), for one presentation
        (K, n) or a stack (K, B, n)."""
        return _readout(self.circuit, activities)


def _readout(circuit: Any, activities: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{output: circuit.readout(last hidden)}`` for activities (K, n) or (K, B, n)."""
    output = circuit.populations()[-1].name
    last = next(c.source for c in circuit.connections() if c.target == output)
    hidden = np.asarray(activities[last])
    single = hidden.ndim == 2
    out = circuit.readout(hidden[:, None, :] if single else hidden)
    return {output: out[:, 0, :] if single else out}


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

    def synapses(self) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
        return dict(self.circuit.synapses())  # the same in every copy

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

    def _readouts(self, activities: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The real circuit's readout of the copies' counts (member k's B copies in a row)."""
        k, b = self.real.ensemble_size, self.copies
        wide = {name: np.reshape(value, (k, b, -1)) for name, value in activities.items()}
        return {name: value.reshape(k * b, -1) for name, value in _readout(self.real, wide).items()}

    def _synapse_weights(self) -> dict[tuple[str, str], np.ndarray]:
        return self.real.weights()  # every copy of member k takes member k's weights (no repeat)

    def _weight_order(self, order: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        member, post, pre = order
        return member // self.copies, post, pre

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


def patch_plasticity_support(circuit: Circuit, plasticity: str) -> str | None:
    """Why ``plasticity`` ("brian2" or "stdp": a rule per synapse, in generated code or from
    spike-pair traces) does not run a patch-connected circuit (kind ``"convolutional"``)."""
    if getattr(circuit, "shared", False):
        why = ("a shared kernel entry W_k[c, d] is one weight on L_k synapses (one per location) and changes by "
               "the sum of its rule over them, not by a rule of each synapse's own activities")
    else:
        why = ("the three-factor rule reads the layer's patches as its presynaptic activity (kernel entry d of "
               "location l on input index[l, d]), a layout the per-synapse rules of the dense (post, pre) matrix "
               "do not index")
    return f"plasticity={plasticity!r} runs a rule on each synapse, but {why}; use plasticity='python'"


register_builder("convolutional", work=_layered_work, plasticity=patch_plasticity_support)(
    simulate_layered_integrate_and_fire)


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
