"""The sequence circuits' shared base: parameters, synchronous steps and rollouts, the one-pass
write as declared rules (theory: :ref:`theory-sequence`)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ...core.trials import TrialBatch
from ...rules import sequence as rules
from ...rules.declaration import RECRUIT, RuleBinding
from ...validation import check_integer
from ..base import Batch, Parameters, Population, RuleCircuit, ensemble_inputs
from .dynamics import ALL_MEMBERS, as_states, check_patterns, synchronous_step

__all__ = ["SequenceParameters", "SequenceCircuit"]


@dataclass(frozen=True)
class SequenceParameters(Parameters):
    """Shared parameters. ``n_inputs`` (N) is optional and checked against the task."""

    n_inputs: int | None = None

    def validate(self) -> None:
        if self.n_inputs is not None:
            check_integer("n_inputs", self.n_inputs, 1)


class SequenceCircuit(RuleCircuit):
    """Shared machinery: synchronous steps, rollouts, the one-pass write, rate/spiking recall.

    ``learn`` is derived from the declared rules (:class:`~bioplausible.circuits.base.RuleCircuit`):
    every synapse is written by :data:`~bioplausible.rules.sequence.ASYMMETRIC_HEBBIAN` with
    pre = the cue ξ^μ (activity ``cue``) and post = the next state ξ^{μ+1} (``next``); the
    memory units of DenseNet, the two-layer form and MixedNet are recruited one per presented
    transition by a one-hot signal (:meth:`recruit_binding`, ``RuleBinding(recruit=...)``).
    """

    family = "sequence"
    default_task = "sequence"
    params: SequenceParameters
    #: The dynamics a substrate builds: ±1 units stepped in windows (spiking: ``substrates/spiking/replay.py``).
    kind: ClassVar[str] = "windowed-replay"

    # ------------------------------------------------------------- subclass hooks
    @abstractmethod
    def _field(self, states: np.ndarray, delayed: np.ndarray | None = None,
               members: slice = ALL_MEMBERS) -> tuple[np.ndarray, np.ndarray]:
        """Local field of every visible unit and its scale, both (k, b, N), for states (k, b, N)
        of the ensemble members ``members`` (k of them)."""

    @abstractmethod
    def _memory_size(self) -> int:
        """Units per state entry of one step (for chunking)."""

    @property
    def n_neurons(self) -> int:
        return self._n_neurons()

    @abstractmethod
    def _n_neurons(self) -> int:
        """N."""

    # ------------------------------------------------------------- dynamics
    def step(self, states: np.ndarray, delayed: np.ndarray | None = None) -> np.ndarray:
        """One synchronous update of states (B, N) or (K, B, N) -> (K, B, N)
        (:func:`~bioplausible.circuits.sequence.dynamics.synchronous_step` of this circuit's field)."""
        states = as_states(self, states, "states")
        if delayed is not None:
            delayed = np.broadcast_to(as_states(self, delayed, "delayed"), states.shape)
        per_state = max(self._memory_size(), self.n_neurons)
        if getattr(self.params, "overlap", "all") == "exclude_self":
            per_state *= self.n_neurons
        return synchronous_step(self._field, states, delayed, per_state)

    def rollout(self, cue: np.ndarray, n_steps: int) -> np.ndarray:
        """States ``S(0) = cue, S(1), …, S(n_steps)``, shape (K, n_steps + 1, B, N): the rate form.

        A substrate produces its own trajectory with ``substrate.rollout(circuit, cue,
        n_steps)`` (:func:`bioplausible.core.rollout`; the spiking substrate replays the
        circuit on spikes from its :meth:`replay_layers`).
        """
        n_steps = check_integer("n_steps", n_steps, 0)
        trajectory = [as_states(self, cue, "cue")]
        for _ in range(n_steps):
            trajectory.append(self.step(trajectory[-1]))
        return np.stack(trajectory, axis=1)

    def schedule(self, n_steps: int, n_patterns: int) -> np.ndarray:
        """Index of the stored pattern expected at each step 0…n_steps of a rollout from ξ¹."""
        return np.arange(n_steps + 1) % n_patterns

    def recall_length(self, n_patterns: int, periodic: bool = True) -> int:
        """Rollout steps of a full recall from ξ¹: back to ξ¹ (periodic) or up to ξᴾ."""
        return n_patterns if periodic else n_patterns - 1

    def transition_success(self, patterns: np.ndarray, successors: np.ndarray | None = None) -> np.ndarray:
        """Per-transition success (K, P): one step from ξ^μ gives ξ^{μ+1} on all N bits."""
        patterns = check_patterns("patterns", patterns)
        successors = np.roll(patterns, -1, axis=-2) if successors is None else check_patterns("successors", successors)
        return np.all(self.step(patterns) == successors, axis=-1)

    def store(self, patterns: np.ndarray, periodic: bool = True, seeds: Any = 0) -> SequenceCircuit:
        """Initialise and write a sequence (P, N) or K sequences (K, P, N) in one pass."""
        patterns = check_patterns("patterns", patterns)
        if patterns.ndim == 2:
            patterns = patterns[None]
        successors = np.roll(patterns, -1, axis=-2)
        if not periodic:
            patterns, successors = patterns[:, :-1], successors[:, :-1]
        seeds = list(range(patterns.shape[0])) if patterns.shape[0] > 1 else seeds
        self.initialize(patterns.shape[-1], patterns.shape[-1], seeds)
        batch = Batch(patterns, successors)
        self.learn({"cue": patterns}, batch)
        return self

    # ------------------------------------------------------------- Circuit API
    def respond(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        x = ensemble_inputs(inputs, self.ensemble_size, self.n_neurons)
        return {"cue": x, **self._hidden_activity(x), "visible": self.step(x)}

    def _hidden_activity(self, states: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def rule_activities(self, activities: Mapping[str, np.ndarray], batch: Batch | TrialBatch | None
                        ) -> dict[str, np.ndarray]:
        """``cue`` ξ^μ and ``next`` ξ^{μ+1} (the batch's targets), both (K, B, N)."""
        pre, post = self._transitions(activities, batch)
        return {"cue": pre, "next": post}

    def _transitions(self, activities: Mapping[str, np.ndarray], batch: Batch | TrialBatch | None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """The write's pre (the cue, ξ^μ) and post (the targets, ξ^{μ+1}), both (K, B, N)."""
        if batch is None or batch.targets is None:
            raise ValueError("batch.targets must hold the next pattern ξ^{μ+1} of each transition, got None")
        pre = check_patterns("activities['cue']", activities["cue"], (3,))
        post = check_patterns("batch.targets", batch.targets, (2, 3))
        if post.ndim == 2:
            post = np.broadcast_to(post, pre.shape)
        pre = np.broadcast_to(pre, (self.ensemble_size, *pre.shape[1:]))
        post = np.broadcast_to(post, pre.shape)
        return pre, post

    def _check_sizes(self, n_inputs: int, n_targets: int) -> None:
        super()._check_sizes(n_inputs, n_targets)
        if n_targets not in (0, n_inputs):
            raise ValueError(f"n_targets must equal n_inputs={n_inputs} (the next pattern), got {n_targets}")

    def recruit_binding(self, state: str, memory: str, side: str, source: str = "cue", scale: float = 1.0,
                        transposed: bool = False) -> RuleBinding:
        """The write of one array of a memory population that recruits one unit per transition.

        ``side="post"``: the unit's input weights ``ΔW_in[μ, j] = scale · r_μ(t) S_j`` (pre: the
        visible activity ``source``, post: the one-hot recruitment signal r(t) = e_μ);
        ``side="pre"``: its output weights ``ΔW_out[i, μ] = scale · S_i r_μ(t)`` (pre: r(t),
        post: ``source``, ξ^{μ+1} for a forward connection, ξ^μ for a symmetric one). Both by the
        asymmetric Hebbian rule; ``transposed``: stored one row per memory unit."""
        visible = {"x": source, "y": RECRUIT} if side == "post" else {"x": RECRUIT, "y": source}
        pre, post = ("visible", memory) if side == "post" else (memory, "visible")
        return RuleBinding(state, rules.ASYMMETRIC_HEBBIAN, pre, post, visible, {"learning_rate": scale},
                           transposed=transposed, recruit=side)

    def populations(self) -> list[Population]:
        n = self.n_neurons if self.state else (self.params.n_inputs or 0)
        return [
            Population("cue", n, role="input", description="state S(t) presented (ξ^μ while writing)"),
            Population("visible", n, description="±1 units, S(t+1) = sgn(field)"),
        ]

