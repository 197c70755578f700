"""``TrialBatch``: trials in time, for the tasks and circuits that learn over time.

A trial task hands out ``inputs`` (B, T, n_inputs) — B trials of T time steps — with
``targets`` (B, T, n_targets) or None, a ``mask`` (B, T) saying which steps are scored
(all of them when None), per-trial ``info`` entries (B, ...) and the step length ``dt`` in
seconds. The runner stacks the trials of K task copies into the ensemble form, a leading
axis K on ``inputs``, ``targets``, ``mask`` and every ``info`` entry. The trial axis is
always ``inputs.ndim - 3`` and the time axis ``inputs.ndim - 2``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["TrialBatch"]


@dataclass
class TrialBatch:
    """Trials in time. ``inputs``: (B, T, n) or (K, B, T, n); ``targets``: the same leading
    axes and its own last axis, or None; ``mask``: the leading axes of ``inputs`` without
    its feature axis ((B, T) or (K, B, T)), boolean, or None for every step scored;
    ``info``: per-trial entries with leading shape (B,) or (K, B); ``dt``: seconds per step.

    The contract is checked on construction: a wrong shape raises ``ValueError`` naming
    the argument."""

    inputs: np.ndarray
    targets: np.ndarray | None = None
    mask: np.ndarray | None = None
    info: dict[str, np.ndarray] = field(default_factory=dict)
    dt: float = 1.0

    def __post_init__(self) -> None:
        self.inputs = np.asarray(self.inputs)
        if self.inputs.ndim not in (3, 4):
            raise ValueError(f"inputs must have shape (B, T, n) or (K, B, T, n), got shape {self.inputs.shape}")
        steps = self.inputs.shape[:-1]
        if self.targets is not None:
            self.targets = np.asarray(self.targets)
            if self.targets.ndim != self.inputs.ndim or self.targets.shape[:-1] != steps:
                raise ValueError(f"targets must have shape {(*steps, 'n_targets')} like inputs "
                                 f"{self.inputs.shape}, got shape {self.targets.shape}")
        if self.mask is not None:
            self.mask = np.asarray(self.mask)
            if self.mask.shape != steps or self.mask.dtype != bool:
                raise ValueError(f"mask must be a boolean array of shape {steps} (one flag per step), "
                                 f"got {self.mask.dtype} of shape {self.mask.shape}")
        if not isinstance(self.info, dict):
            raise TypeError(f"info must be a dict of per-trial arrays, got {type(self.info).__name__}")
        trials = steps[:-1]
        for key, value in self.info.items():
            value = self.info[key] = np.asarray(value)
            if value.shape[: len(trials)] != trials:
                raise ValueError(f"info[{key!r}] must have leading shape {trials} (one entry per trial, "
                                 f"like inputs {self.inputs.shape}), got shape {value.shape}")
        if not (np.isfinite(self.dt) and self.dt > 0):
            raise ValueError(f"dt must be a positive number of seconds per step, got {self.dt!r}")

    @property
    def size(self) -> int:
        """Number of trials B."""
        return int(self.inputs.shape[-3])

    @property
    def steps(self) -> int:
        """Number of time steps T per trial."""
        return int(self.inputs.shape[-2])

    @property
    def stacked(self) -> bool:
        """Whether the batch has the leading ensemble axis K."""
        return self.inputs.ndim == 4

    @property
    def scored(self) -> np.ndarray:
        """The mask, or all-True of the same shape when every step is scored."""
        if self.mask is None:
            return np.ones(self.inputs.shape[:-1], dtype=bool)
        return self.mask

    def member(self, index: int) -> TrialBatch:
        """Ensemble member ``index`` of a stacked batch, without the ensemble axis."""
        if not self.stacked:
            raise ValueError(f"member() needs a stacked (K, B, T, n) batch, got inputs of shape {self.inputs.shape}")
        return TrialBatch(
            self.inputs[index],
            None if self.targets is None else self.targets[index],
            None if self.mask is None else self.mask[index],
            {key: value[index] for key, value in self.info.items()},
            self.dt,
        )

    def __getitem__(self, index: slice) -> TrialBatch:
        """Slice along the trial axis (of inputs, targets, mask and every info entry)."""
        where = (slice(None),) * (self.inputs.ndim - 3) + (index,)
        return TrialBatch(
            self.inputs[where],
            None if self.targets is None else self.targets[where],
            None if self.mask is None else self.mask[where],
            {key: value[where] for key, value in self.info.items()},
            self.dt,
        )
