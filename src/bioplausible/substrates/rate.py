"""The rate substrate: discrete-time numpy, vectorised over samples and ensemble members."""

from __future__ import annotations

import numpy as np

from ..circuits.base import Circuit
from ..core import Batch
from .base import Substrate, register_substrate


@register_substrate
class RateSubstrate(Substrate):
    """Each update: the circuit's rate fixed point for a mini-batch, then its rules.

    All K ensemble members and all samples of a mini-batch are one batched numpy call.
    """

    name = "rate"
    description = "rate network (numpy), batched over samples and over an ensemble of seeds"

    def supports(self, circuit: Circuit) -> str | None:
        """Every circuit declares its rate form (``respond``/``learn``): None."""
        return None

    def rollout(self, circuit: Circuit, cue: np.ndarray, n_steps: int) -> np.ndarray:
        """The circuit's own rate trajectory."""
        rollout = getattr(circuit, "rollout", None)
        if rollout is None:
            raise ValueError(f"{circuit.name} has no discrete-time dynamics to roll out")
        return rollout(cue, n_steps)

    def learn(self, circuit: Circuit, batch: Batch, batch_size: int, first_step: int) -> dict[str, np.ndarray]:
        # Online circuits may fuse the per-sample settle + learn loop (same equations, compiled).
        stream = getattr(circuit, "learn_stream", None)
        if batch_size == 1 and stream is not None:
            fused = stream(batch)
            if fused is not None:
                if self.observers:
                    self.observe_stream(getattr(circuit, "stream_activities", {}), batch)
                circuit.check_finite(first_step + batch.size)
                return fused
        activities: dict[str, np.ndarray] = {}
        for update, start in enumerate(range(0, batch.size, batch_size)):
            part = batch[start : start + batch_size]
            activities = circuit.respond(part.inputs)
            self.apply_rules(circuit, activities, part)
            circuit.check_finite(first_step + update + 1)
        return activities
