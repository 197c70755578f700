"""The rate substrate: discrete-time numpy, vectorised over samples and ensemble members."""

from __future__ import annotations

import numpy as np

from ..circuits.base import Batch, Circuit
from .base import Substrate, register_substrate


@register_substrate
class RateSubstrate(Substrate):
    """Each update: the circuit's rate fixed point for a mini-batch, then its rules.

    All K ensemble members and all samples of a mini-batch are one batched numpy call.
    """

    name = "rate"
    description = "rate network (numpy), batched over samples and over an ensemble of seeds"

    def learn(self, circuit: Circuit, batch: Batch, batch_size: int, first_step: int) -> dict[str, np.ndarray]:
        activities: dict[str, np.ndarray] = {}
        for update, start in enumerate(range(0, batch.size, batch_size)):
            part = batch[start : start + batch_size]
            activities = circuit.respond(part.inputs)
            circuit.learn(activities, part)
            circuit.check_finite(first_step + update + 1)
        return activities
