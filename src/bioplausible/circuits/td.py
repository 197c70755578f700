"""Temporal-difference value learning: a value neuron on place-cell features (theory: :mod:`bioplausible.theory.td`).

One linear value neuron reads the place cells, ``V(s) = wᵀψ(s)``. Every transition
``(s_t, r_t, s_{t+1})`` of the task's stream produces the broadcast reward-prediction error
``δ_t = r_t + γ V(s_{t+1}) − V(s_t)`` (a dopamine-like third factor), and the synapses change
by the three-factor rule ``Δw = η ⟨δ e⟩`` (:data:`bioplausible.rules.td.TD_VALUE`) with ``e``
the presynaptic eligibility trace ``e_t = γλ e_{t−1} + ψ_t`` (restarted with each episode):
TD(0) for λ = 0, TD(λ) with accumulating traces for λ > 0 (Sutton, 1988). An update takes a
mini-batch of transitions with w held fixed (the batch semi-gradient TD of Bordelon, Masset,
Kuo & Pehlevan, NeurIPS 2023); a batch of one is online TD. The trace is carried across
batches in the state array ``trace`` (it is not learned, but a resumed run needs it) by the
declared step ``eligibility-trace`` (:func:`bioplausible.rules.td.carry_trace`); ``learn`` is
derived from the declaration (:class:`~bioplausible.circuits.base.RuleCircuit`).

With the paper's normalisation ``w ← w + (η_paper/B) Σ_b Σ_t δ_{b,t} ψ_{b,t}`` for B episodes of
T−1 transitions, ``learning_rate = η_paper (T − 1)`` (our rule is the mean over transitions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..core.agreement import AgreementCase
from ..core.trials import TrialBatch
from ..rules import td as rules
from ..rules.declaration import RuleBinding, StateStep
from ..validation import check_real
from .base import Batch, Connection, Parameters, Population, RuleCircuit, ensemble_inputs, register_circuit

__all__ = ["TDValue", "TDValueParameters"]


@dataclass(frozen=True)
class TDValueParameters(Parameters):
    """``learning_rate`` η (per transition, the mean over a batch); ``discount`` γ (must equal
    the task's); ``trace_decay`` λ (0: TD(0)); ``initial_scale``: initial weights drawn
    ``N(0, initial_scale² / n)`` (0: w₀ = 0, as in the paper)."""

    learning_rate: float = 0.5
    discount: float = 0.9
    trace_decay: float = 0.0
    initial_scale: float = 0.0

    def validate(self) -> None:
        check_real("learning_rate", self.learning_rate, 0.0, 1e6, inclusive=False)
        check_real("discount", self.discount, 0.0, 1.0)
        if self.discount >= 1.0:
            raise ValueError(f"discount must be < 1, got {self.discount!r}")
        check_real("trace_decay", self.trace_decay, 0.0, 1.0)
        check_real("initial_scale", self.initial_scale, 0.0, 1e6)


@register_circuit
class TDValue(RuleCircuit):
    """Linear TD(0)/TD(λ) value learning with a broadcast RPE; see the module docstring.

    State: ``value_weights`` (K, 1, n) = w, ``trace`` (K, n) = the eligibility trace after
    the last transition."""

    name = "td-value"
    family = "temporal-difference"
    description = "value neuron on place cells, three-factor TD(λ) rule Δw = η δ e (Sutton 1988; Bordelon et al. 2023)"
    default_task = "value"
    Parameters = TDValueParameters
    params: TDValueParameters
    quick_params = {"learning_rate": 0.5}
    agreement = (AgreementCase(
        "value", {"value_error": (0.15, 0.005)}, params={"learning_rate": 0.5},
        task_options={"n_positions": 12, "episode_length": 12, "episodes_per_update": 2}, steps=10, eval_every=10,
        seeds=(0, 1), same_start=True, learns={"value_error": ("relative", -0.6)},
        substrate_options={"spiking": {"rate_unit": 250.0, "presentation": 0.04, "dt": 1e-3}},
        note="10 batch updates of 22 transitions; IF place cells at r0 T = 10 spikes per unit rate"),)

    @property
    def kind(self) -> str:
        """``"temporal-difference"``: a linear readout learning from a broadcast RPE along a stream."""
        return "temporal-difference"

    @property
    def n_inputs(self) -> int:
        return int(self.state["value_weights"].shape[-1])

    def initial_state(self, rng: np.random.Generator, n_inputs: int, n_targets: int) -> dict[str, np.ndarray]:
        weights = rng.normal(0.0, self.params.initial_scale / np.sqrt(n_inputs), (1, n_inputs))
        return {"value_weights": weights, "trace": np.zeros(n_inputs)}

    def populations(self) -> list[Population]:
        n = self.n_inputs if self.state else 0
        return [Population("place", n, role="input", description="place cells ψ(s)"),
                Population("value", 1, role="readout", description="value neuron V(s) = wᵀψ(s)")]

    def connections(self) -> list[Connection]:
        return [Connection("place", "value", rules.td_value, kind="feedforward",
                           description="three-factor TD synapses: Δw = η δ e (δ broadcast)")]

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        return {("place", "value"): self.state["value_weights"]}

    def respond(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        inputs = ensemble_inputs(inputs, self.ensemble_size, self.n_inputs)
        return {"place": inputs, "value": inputs @ np.swapaxes(self.state["value_weights"], -1, -2)}

    def rule_bindings(self) -> list[RuleBinding]:
        """w is plastic by :data:`~bioplausible.rules.td.TD_VALUE`; its activities are not population
        rates but the transition's local signals (:meth:`signals`: ``rpe`` δ at the value
        neuron, ``trace`` e at the place cells)."""
        return [RuleBinding("value_weights", rules.TD_VALUE, "place", "value", {"rpe": "rpe", "trace": "trace"},
                            {"learning_rate": self.params.learning_rate})]

    def state_steps(self) -> list[StateStep]:
        """After the rule, the carried trace becomes the one after the batch's last transition."""
        return [StateStep("eligibility-trace", "trace", rules.carry_trace, activities=("trace",),
                          description="e after the batch's last transition, e_t = γλ e_{t−1} + ψ_t, carried "
                                      "into the next batch")]

    def rule_activities(self, activities: Mapping[str, np.ndarray], batch: Batch | TrialBatch | None
                        ) -> dict[str, np.ndarray]:
        """The rule's local quantities (:meth:`signals`), read with w and the trace before the update."""
        if not isinstance(batch, Batch):
            raise ValueError("batch must be a Batch of transitions (TD learns from next_inputs, reward, first), "
                             f"got {type(batch).__name__}")
        local = self.signals(activities, batch)
        return {"rpe": local["rpe"][..., None], "trace": local["trace"]}

    def signals(self, activities: Mapping[str, np.ndarray], batch: Batch) -> dict[str, np.ndarray]:
        """The rule's local quantities for one batch: ``rpe`` δ (K, B) and ``trace`` e (K, B, n)."""
        for key in ("next_inputs", "reward", "first"):
            if key not in batch.info:
                raise ValueError(f"batch.info must hold {key!r} (TD learns from transitions: next_inputs, "
                                 f"reward, first), got {sorted(batch.info)}")
        members = self.ensemble_size
        place = np.broadcast_to(activities["place"], (members, *np.shape(activities["place"])[1:]))
        value = np.broadcast_to(activities["value"], (members, *np.shape(activities["value"])[1:]))[..., 0]
        next_inputs = ensemble_inputs(batch.info["next_inputs"], members, self.n_inputs, "batch.info['next_inputs']")
        next_value = (next_inputs @ np.swapaxes(self.state["value_weights"], -1, -2))[..., 0]
        reward = np.broadcast_to(np.asarray(batch.info["reward"], dtype=float), value.shape)
        first = np.broadcast_to(np.asarray(batch.info["first"], dtype=bool), value.shape)
        rpe = rules.reward_prediction_error(reward, value, next_value, self.params.discount)
        traces, _ = rules.eligibility_traces(place, first, self.state["trace"],
                                             self.params.discount * self.params.trace_decay)
        return {"rpe": rpe, "trace": traces}
