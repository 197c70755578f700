"""``Batch``: samples as rows, with its shape contract checked when it is built.

A batch a task hands out has no ensemble axis: ``inputs`` (B, n_inputs), ``targets``
(B, n_targets) or None, and each ``info`` entry (B, ...) — one label (or one vector, such as
the true sources of a mixture) per sample. The runner stacks the batches of K task copies
into the ensemble form, ``inputs`` (K, B, n_inputs), ``targets`` (K, B, n_targets), each
``info`` entry (K, B, ...). The sample axis is always the one before the feature axis of
``inputs`` (axis ``inputs.ndim - 2``), for ``targets`` and for every ``info`` entry alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Batch"]


@dataclass
class Batch:
    """Samples as rows. ``inputs``: (B, n) or (K, B, n); ``targets``: the same leading axes
    and its own last axis, or None; ``info``: per-sample labels or vectors, each with the
    leading axes of ``inputs`` without its feature axis ((B, ...) or (K, B, ...)).

    The contract is checked on construction: a wrong shape raises ``ValueError`` naming
    the argument."""

    inputs: np.ndarray
    targets: np.ndarray | None = None
    info: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.inputs = np.asarray(self.inputs)
        if self.inputs.ndim not in (2, 3):
            raise ValueError(f"inputs must have shape (B, n) or (K, B, n), got shape {self.inputs.shape}")
        leading = self.inputs.shape[:-1]
        if self.targets is not None:
            self.targets = np.asarray(self.targets)
            if self.targets.ndim != self.inputs.ndim or self.targets.shape[:-1] != leading:
                raise ValueError(f"targets must have shape {(*leading, 'n_targets')} like inputs "
                                 f"{self.inputs.shape}, got shape {self.targets.shape}")
        if not isinstance(self.info, dict):
            raise TypeError(f"info must be a dict of per-sample arrays, got {type(self.info).__name__}")
        for key, value in self.info.items():
            value = self.info[key] = np.asarray(value)
            if value.shape[: len(leading)] != leading:
                raise ValueError(f"info[{key!r}] must have leading shape {leading} (one entry per sample, "
                                 f"like inputs {self.inputs.shape}), got shape {value.shape}")

    @property
    def size(self) -> int:
        """Number of samples B."""
        return int(self.inputs.shape[-2])

    @property
    def stacked(self) -> bool:
        """Whether the batch has the leading ensemble axis K."""
        return self.inputs.ndim == 3

    def member(self, index: int) -> Batch:
        """Ensemble member ``index`` of a stacked (K, B, n) batch, without the ensemble axis."""
        if not self.stacked:
            raise ValueError(f"member() needs a stacked (K, B, n) batch, got inputs of shape {self.inputs.shape}")
        return Batch(
            self.inputs[index],
            None if self.targets is None else self.targets[index],
            {key: value[index] for key, value in self.info.items()},
        )

    def __getitem__(self, index: slice) -> Batch:
        """Slice along the sample axis (of inputs, targets and every info entry)."""
        where = (slice(None),) * (self.inputs.ndim - 2) + (index,)
        return Batch(
            self.inputs[where],
            None if self.targets is None else self.targets[where],
            {key: value[where] for key, value in self.info.items()},
        )
