"""The rate substrate: discrete-time numpy, vectorised over samples and ensemble members."""

from __future__ import annotations

import numpy as np

from ..circuits.base import Circuit
from ..core import AnyBatch, Batch
from ..errors import DivergenceError
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

    def learn(self, circuit: Circuit, batch: AnyBatch, batch_size: int, first_step: int) -> dict[str, np.ndarray]:
        # Online circuits may fuse the per-sample settle + learn loop (same equations, compiled).
        stream = getattr(circuit, "learn_stream", None)
        if batch_size == 1 and stream is not None and isinstance(batch, Batch):
            fused = stream(batch)
            if fused is not None:
                if self.observers:
                    self.observe_stream(getattr(circuit, "stream_activities", {}), batch)
                circuit.check_finite(first_step + batch.size)
                return fused
        if circuit.invariant_values() is None:
            return self._updates(circuit, batch, batch_size, first_step, None)
        # Invariants (e.g. M positive definite: a Cholesky factorisation) are tested on blocks
        # of updates in one batched call, not once per update; when a block (or the
        # finiteness check) fails, the chunk is replayed from its start with every check after
        # every update, so the step and the state reported are exact.
        start_state = circuit.state_dict()
        try:
            return self._updates(circuit, batch, batch_size, first_step, [])
        except (DivergenceError, np.linalg.LinAlgError):
            circuit.load_state_dict(start_state)
            return self._updates(circuit, batch, batch_size, first_step, None, every_update=True)

    def _updates(self, circuit: Circuit, batch: AnyBatch, batch_size: int, first_step: int,
                 block: list[np.ndarray] | None, every_update: bool = False) -> dict[str, np.ndarray]:
        """The updates of one chunk; ``block`` collects invariant values for batched tests."""
        activities: dict[str, np.ndarray] = {}
        updates = range(0, batch.size, batch_size)
        for update, start in enumerate(updates):
            part = batch[start : start + batch_size]
            activities = circuit.respond(part.inputs)
            self.apply_rules(circuit, activities, part)
            circuit.check_finite(first_step + update + 1, invariants=every_update)
            if block is not None:
                values = circuit.invariant_values()
                assert values is not None  # a block is kept only for circuits with invariants
                block.append(values)
                if update == len(updates) - 1 or len(block) * block[0].nbytes >= INVARIANT_BLOCK_BYTES:
                    bad = circuit.first_invalid(np.stack(block))
                    block.clear()
                    if bad is not None:
                        raise DivergenceError(circuit.invariant[0], first_step + update + 1, circuit.invariant[1])
        return activities


#: Invariant values buffered before one batched test (bytes).
INVARIANT_BLOCK_BYTES = 8 << 20
