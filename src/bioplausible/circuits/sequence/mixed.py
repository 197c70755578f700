"""MixedNet: mixed time scales, a fast symmetric hold plus a delayed asymmetric advance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.agreement import AgreementCase
from ...rules import sequence as rules
from ...rules.declaration import RuleBinding
from ...validation import check_integer, check_real, check_sequence
from ..base import Connection, Population, register_circuit
from .base import SequenceCircuit, SequenceParameters
from .dynamics import ALL_MEMBERS, as_states, member_matmul, sign_with_ties

__all__ = ["MixedParameters", "MixedNet"]


@dataclass(frozen=True)
class MixedParameters(SequenceParameters):
    """``delay`` τ (or per-transition ``delays`` τ_μ), ``advance_strength`` λ > 1, degrees d_S, d_A."""

    delay: int = 5
    delays: tuple[int, ...] | None = None
    advance_strength: float = 2.0
    degree_hold: int = 10
    degree_advance: int = 10

    def validate(self) -> None:
        super().validate()
        check_integer("delay", self.delay, 0)
        if self.delays is not None:
            if len(check_sequence("delays", self.delays)) == 0:
                raise ValueError("delays must hold at least one delay, got an empty sequence")
            for i, d in enumerate(self.delays):
                check_integer(f"delays[{i}]", d, 0)
        check_real("advance_strength", self.advance_strength, 0.0, inclusive=False)
        check_integer("degree_hold", self.degree_hold, 1)
        check_integer("degree_advance", self.degree_advance, 1)


@register_circuit
class MixedNet(SequenceCircuit):
    """Mixed time scales: a fast symmetric hold plus a delayed asymmetric advance.

    ``S(t+1) = sgn( Σ_μ ξ^μ f_S(m^μ(S(t))) + λ Σ_μ ξ^{μ+1} f_A(m^μ(S(t−τ_μ))) )``,
    ``f_S = x^{d_S}``, ``f_A = x^{d_A}``, pure-delay slow synapses. With λ > 1 every pattern
    after the first dwells exactly τ+1 steps (with per-transition delays: ``max(τ_ν, τ_{ν−1}) + 1``,
    see :meth:`schedule`). Sompolinsky & Kanter (1986), PRL 57:2861
    (d = 1); Chaudhry et al. (2023), NeurIPS. Two hidden populations (:ref:`theory-sequence-mixednet`): ``hold``
    units (input ξ^μ/N, output ξ^μ, symmetric write) and ``advance`` units (input ξ^μ/N from
    the delayed state, output ξ^{μ+1}). Delays τ_μ = ``delays[μ mod len(delays)]``.
    """

    name = "mixednet"
    agreement = (AgreementCase(
        "sequence", {"transition_success": (0.0, 0.0), "sequence_success": (0.0, 0.0), "recall_overlap": (0.0, 0.02)},
        params={"delays": (1, 2)}, task_options={"n_neurons": 60, "sequence_length": 5, "cue_noise": 0.05},
        substrate_options={"spiking": {"rate_unit": 200.0, "presentation": 0.05, "dt": 5e-4}},
        note="one-pass write of the sequence on clamped spikes, recall by windowed replay at low load"),)
    description = "mixed-timescale sequence memory: symmetric hold + delayed advance (Sompolinsky & Kanter 1986)"
    Parameters = MixedParameters
    params: MixedParameters

    def initial_state(self, rng: np.random.Generator, n_inputs: int, n_targets: int) -> dict[str, np.ndarray]:
        n = n_inputs
        return {"visible_to_hold": np.zeros((0, n)), "hold_to_visible": np.zeros((n, 0)),
                "visible_to_advance": np.zeros((0, n)), "advance_to_visible": np.zeros((n, 0))}

    def _n_neurons(self) -> int:
        return int(self.state["visible_to_hold"].shape[-1])

    def _memory_size(self) -> int:
        return int(self.state["visible_to_hold"].shape[-2])

    def unit_delays(self) -> np.ndarray:
        """τ_μ of every advance unit, (P,)."""
        delays = self.params.delays or (self.params.delay,)
        return np.asarray(delays)[np.arange(self._memory_size()) % len(delays)]

    def _field(self, states, delayed=None, members=ALL_MEMBERS):
        p = self.params
        delayed = states if delayed is None else delayed
        hold = member_matmul(states, self.state["visible_to_hold"][members], transpose=True) ** p.degree_hold
        advance = member_matmul(delayed, self.state["visible_to_advance"][members], transpose=True) ** p.degree_advance
        return self._combine(hold, advance, members)

    def _combine(self, hold: np.ndarray, advance: np.ndarray,
                 members: slice = ALL_MEMBERS) -> tuple[np.ndarray, np.ndarray]:
        lam = self.params.advance_strength
        field = (member_matmul(hold, self.state["hold_to_visible"][members], transpose=True)
                 + lam * member_matmul(advance, self.state["advance_to_visible"][members], transpose=True))
        scale = np.abs(hold).sum(-1, keepdims=True) + lam * np.abs(advance).sum(-1, keepdims=True)
        return field, np.broadcast_to(scale, field.shape)

    def rollout(self, cue: np.ndarray, n_steps: int) -> np.ndarray:
        """Rollout with a ring buffer of the last max τ_μ + 1 states; ``S(t) = cue`` for t ≤ 0."""
        n_steps = check_integer("n_steps", n_steps, 0)
        p = self.params
        states = as_states(self, cue, "cue")
        delays = self.unit_delays()
        depth = int(delays.max()) + 1 if delays.size else 1
        hold_in = np.swapaxes(self.state["visible_to_hold"], -1, -2)
        advance_in = np.swapaxes(self.state["visible_to_advance"], -1, -2)
        # advance-unit inputs of the last `depth` states, newest last: (depth, K, B, P)
        history = np.repeat(np.matmul(states, advance_in)[None], depth, axis=0)
        units = np.arange(delays.size)
        trajectory = [states]
        for _ in range(n_steps):
            current = trajectory[-1]
            hold = np.matmul(current, hold_in) ** p.degree_hold
            advance = history[depth - 1 - delays, ..., units]  # (P, K, B): unit μ reads S(t − τ_μ)
            advance = np.moveaxis(advance, 0, -1) ** p.degree_advance
            field, scale = self._combine(hold, advance)
            new = sign_with_ties(field, scale)
            history = np.concatenate([history[1:], np.matmul(new, advance_in)[None]], axis=0)
            trajectory.append(new)
        return np.stack(trajectory, axis=1)

    def schedule(self, n_steps: int, n_patterns: int) -> np.ndarray:
        """ξ¹ for one step, then pattern ν for ``max(τ_ν, τ_{ν−1}) + 1`` steps (wrapping at P).

        Pattern ν is left once its own advance unit sees it (τ_ν steps after entry) *and* the
        previous unit no longer sees ξ^{ν−1} (τ_{ν−1} steps after entry): with one delay τ
        every dwell is τ+1 (*derived*; checked against rollouts in the tests).
        """
        delays = self.params.delays or (self.params.delay,)

        def tau(unit: int) -> int:
            return delays[(unit % n_patterns) % len(delays)]

        indices, pattern, remaining = [0], 0, 1
        for _ in range(n_steps):
            remaining -= 1
            if remaining == 0:
                pattern += 1
                remaining = max(tau(pattern), tau(pattern - 1)) + 1
            indices.append(pattern % n_patterns)
        return np.asarray(indices)

    def recall_length(self, n_patterns: int, periodic: bool = True) -> int:
        """(P+1)(τ+1) steps when periodic (:ref:`theory-sequence-metrics`), else the first step that reaches ξᴾ."""
        delays = self.params.delays or (self.params.delay,)
        if periodic:
            return (n_patterns + 1) * (max(delays) + 1)
        reached = np.flatnonzero(self.schedule((n_patterns + 1) * (max(delays) + 1), n_patterns) == n_patterns - 1)
        return int(reached[0])

    def rule_bindings(self) -> list[RuleBinding]:
        """A hold and an advance unit recruited per transition: inputs ``ξ^μ/N`` (the cue), hold
        output ξ^μ (the symmetric write: post is the cue itself), advance output ξ^{μ+1}."""
        scale = 1.0 / self.n_neurons
        return [self.recruit_binding("visible_to_hold", "hold", "post", scale=scale),
                self.recruit_binding("hold_to_visible", "hold", "pre", source="cue"),
                self.recruit_binding("visible_to_advance", "advance", "post", scale=scale),
                self.recruit_binding("advance_to_visible", "advance", "pre", source="next")]

    def replay_layers(self) -> dict[str, Any]:
        """Hold units (no delay) and advance units (input delayed by τ_μ steps), member 0."""
        p, weights = self.params, self.weights()
        return {"memories": [
            {"name": "hold", "input": weights[("visible", "hold")][0], "output": weights[("hold", "visible")][0],
             "transfer": lambda m: m**p.degree_hold},
            {"name": "advance", "input": weights[("visible", "advance")][0],
             "output": weights[("advance", "visible")][0], "transfer": lambda m: m**p.degree_advance,
             "delays": self.unit_delays()},
        ]}

    def _hidden_activity(self, states: np.ndarray) -> dict[str, np.ndarray]:
        p = self.params
        hold = member_matmul(states, self.state["visible_to_hold"], transpose=True) ** p.degree_hold
        advance = member_matmul(states, self.state["visible_to_advance"], transpose=True) ** p.degree_advance
        return {"hold": hold, "advance": advance}

    def populations(self) -> list[Population]:
        m = self._memory_size() if self.state else 0
        cue, visible = super().populations()
        return [cue, Population("hold", m, description="h^S_μ = f_S(ξ^μ·v(t)/N), projects ξ^μ"),
                Population("advance", m, description="h^A_μ = f_A(ξ^μ·v(t−τ)/N), projects λξ^{μ+1}"), visible]

    def connections(self) -> list[Connection]:
        return [
            Connection("cue", "visible", kind="drive", description="sets S(t) for t ≤ 0"),
            Connection("visible", "hold", rules.asymmetric_hebbian, description="ξ^μ/N"),
            Connection("hold", "visible", rules.asymmetric_hebbian, kind="feedback",
                       description="ξ^μ (symmetric write)"),
            Connection("visible", "advance", rules.asymmetric_hebbian, kind="delayed", description="ξ^μ/N, delay τ_μ"),
            Connection("advance", "visible", rules.asymmetric_hebbian, kind="feedback", description="λ ξ^{μ+1}"),
        ]

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        k, n = self.ensemble_size, self.n_neurons
        return {("cue", "visible"): np.broadcast_to(np.eye(n), (k, n, n)).copy(),
                ("visible", "hold"): self.state["visible_to_hold"],
                ("hold", "visible"): self.state["hold_to_visible"],
                ("visible", "advance"): self.state["visible_to_advance"],
                ("advance", "visible"): self.params.advance_strength * self.state["advance_to_visible"]}
