"""The spiking substrate (Brian2): :class:`SpikingSubstrate` and its builders, one per kind
of circuit dynamics (see :mod:`.substrate`):

* ``"fixed-point"`` — the generic integrate-and-fire network (:mod:`.network`);
* ``"threshold-unit"`` — IF outputs plus a graded inhibitory threshold unit (:mod:`.threshold`);
* ``"polytope-groups"`` — the same with one threshold unit per sparse group, capped halves (:mod:`.threshold`);
* ``"scaled-threshold-unit"``, ``"scaled-polytope-groups"`` — the same two with each output's level
  scaled by its own threshold (Det-Max, :mod:`.threshold`);
* ``"layered"`` — the layered supervised network with biases and a readout (:mod:`.layered`);
* ``"windowed-replay"`` — ±1 units stepped in windows, the sequence family (:mod:`.replay`);
* ``"temporal-difference"`` — place cells, a value neuron and the broadcast RPE (:mod:`.td`).

Kinds without a faithful realisation are refused with a reason (``supports``)."""

from . import recurrent  # noqa: F401 - registers the refusal of the recurrent-rate kind
from .layered import LayeredIFNetwork, simulate_layered_integrate_and_fire
from .network import IFNetwork, block_indices, safe_name, simulate_integrate_and_fire
from .replay import SpikingOptions, clamped_states, replay_rollout, spiking_options, spiking_replay, spiking_write
from .substrate import (
    BUILDERS,
    CODEGEN_TARGETS,
    REFUSALS,
    Builder,
    SpikingSubstrate,
    register_builder,
    register_refusal,
)
from .td import presentation_plan, simulate_td
from .threshold import OnOffView, SoftThresholdNetwork, simulate_soft_threshold

__all__ = [
    "SpikingSubstrate", "Builder", "BUILDERS", "REFUSALS", "register_builder", "register_refusal", "CODEGEN_TARGETS",
    "IFNetwork", "simulate_integrate_and_fire", "block_indices", "safe_name",
    "SoftThresholdNetwork", "OnOffView", "simulate_soft_threshold",
    "LayeredIFNetwork", "simulate_layered_integrate_and_fire",
    "simulate_td", "presentation_plan",
    "SpikingOptions", "spiking_options", "spiking_replay", "spiking_write", "replay_rollout", "clamped_states",
]
