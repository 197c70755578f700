"""The shared layered circuit: :class:`MLPParameters` (sizes, rates, parameterization) and
:class:`LayeredCircuit` (forward pass, local signals, declared output and hidden rules).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.trials import TrialBatch
from ...rules import supervised as rules
from ...rules.declaration import Rule, RuleBinding, StateStep, phases, rule_changes
from ...validation import check_choice, check_rates, check_real, check_widths
from ..base import Batch, Connection, Parameters, Population, RuleCircuit, ensemble_inputs

__all__ = ["MLPParameters", "PARAMETERIZATIONS", "richness_scale", "LayeredCircuit"]


# ============================================================================ parameters
@dataclass(frozen=True)
class MLPParameters(Parameters):
    """Shared parameters of the layered circuits.

    ``hidden_sizes`` widths of the ReLU layers; ``learning_rate`` μ of the hidden rule (one
    value or one per hidden layer); ``output_rate`` μ_L of the output delta rule;
    ``weight_decay`` μ_wd (all layers); ``init_gain`` g of the Kaiming-uniform init
    ``W ~ U(±g √(3/fan_in))``; ``bias`` learn biases (a constant-1 input population).

    ``parameterization`` (Bordelon & Pehlevan, ICLR 2023, §2; :ref:`theory-supervised-width`):
    ``"standard"`` uses the rates as given. ``"ntk"`` and ``"mean-field"`` write the network
    ``f = W_L h_{L−1} / γ`` with richness ``gamma0`` γ₀ (``γ = γ₀`` for ``"ntk"``,
    ``γ = γ₀ √N_{L−1}`` for ``"mean-field"``, i.e. the readout scaled by 1/(γ₀ N)); the
    stored (effective) output weights start ``1/γ`` times smaller and the rates become the
    per-layer steps of gradient flow with raw rate ``η₀ γ²`` (η₀ = ``learning_rate`` for
    hidden layers, ``output_rate`` for the readout): hidden layer k steps with
    ``η₀ γ² / fan_in_k``, the readout with ``η₀ / N_{L−1}``, so the infinite-width limit is
    well defined (lazy for ``"ntk"`` or γ₀ → 0, rich for ``"mean-field"`` with γ₀ > 0). Weights
    are then Gaussian, std ``g/√fan_in`` (the theory's init), and feedback matrices (FA's B,
    DFA/EBD's R₀) are drawn at the scale of the forward path they stand for.
    """

    hidden_sizes: tuple[int, ...] = (128, 64)
    learning_rate: Any = 0.05
    output_rate: float = 0.05
    weight_decay: float = 0.0
    init_gain: float = 1.0
    bias: bool = True
    parameterization: str = "standard"
    gamma0: float = 1.0

    def validate(self) -> None:
        object.__setattr__(self, "hidden_sizes", check_widths("hidden_sizes", self.hidden_sizes))
        check_rates("learning_rate", self.learning_rate, len(self.hidden_sizes))
        check_real("output_rate", self.output_rate, 0.0)
        check_real("weight_decay", self.weight_decay, 0.0)
        check_real("init_gain", self.init_gain, 0.0, inclusive=False)
        if not isinstance(self.bias, bool):
            raise TypeError(f"bias must be a bool, got {self.bias!r}")
        check_choice("parameterization", self.parameterization, list(PARAMETERIZATIONS))
        check_real("gamma0", self.gamma0, 0.0, inclusive=False)
        if self.parameterization == "standard" and self.gamma0 != 1.0:
            raise ValueError(
                f"gamma0 applies to parameterization='ntk' or 'mean-field'; with 'standard' it must be 1, "
                f"got {self.gamma0}"
            )

    def per_layer(self, name: str) -> tuple[float, ...]:
        return check_rates(name, getattr(self, name), len(self.hidden_sizes))


PARAMETERIZATIONS = ("standard", "ntk", "mean-field")


def richness_scale(parameterization: str, gamma0: float, last_width: int) -> float:
    """γ of ``f = W_L h_{L−1} / γ``: 1 (standard), γ₀ (ntk), γ₀ √N_{L−1} (mean-field)."""
    if parameterization == "standard":
        return 1.0
    if parameterization == "ntk":
        return float(gamma0)
    return float(gamma0) * float(np.sqrt(last_width))


# ============================================================================ shared machinery
class LayeredCircuit(RuleCircuit):
    """The shared multilayer perceptron; subclasses supply the hidden-layer rules.

    State: ``weight_k`` (K, n_k, n_{k−1}) and ``bias_k`` (K, n_k) for k = 1..L (L = output).

    ``learn`` is derived from the declaration (:class:`~bioplausible.circuits.base.RuleCircuit`):
    every plastic array changes only through the rule bound to it (:meth:`rule_bindings`;
    the output layer by :data:`~bioplausible.rules.supervised.DELTA_RULE`, biases by each
    rule's bias twin, only with ``bias=True``) and the declared steps (:meth:`state_steps`).
    The credit-assignment signals the rules read — the output error ε, each hidden layer's
    gain ``f'(u_k)`` and modulator ``q_k`` — are neuron-level quantities that
    :meth:`local_signals` computes once per batch from the state before the update.
    """

    family = "supervised"
    default_task = "classification"
    Parameters = MLPParameters
    params: MLPParameters
    #: The dynamics a substrate builds: feedforward layers with per-unit biases and a linear readout.
    kind = "layered"

    # ------------------------------------------------------------------ sizes
    @property
    def n_layers(self) -> int:
        """L: number of weight layers (hidden layers + output)."""
        return len(self.params.hidden_sizes) + 1

    def layer_sizes(self) -> list[int]:
        """[n_0 (inputs), n_1, ..., n_L (outputs)] of the initialised circuit."""
        if not self.state:
            raise RuntimeError(f"{type(self).__name__} is not initialised: call initialize() or run()")
        sizes = [int(self.state["weight_1"].shape[-1])]
        return sizes + [int(self.state[f"weight_{k}"].shape[-2]) for k in range(1, self.n_layers + 1)]

    def _check_sizes(self, n_inputs: int, n_targets: int) -> None:
        if n_inputs < 1:
            raise ValueError(f"n_inputs must be >= 1, got {n_inputs}")
        if n_targets < 1:
            raise ValueError(f"{type(self).__name__} needs a supervised task (n_targets >= 1), got {n_targets}")

    # ------------------------------------------------------------------ initialisation
    def initial_state(self, rng: np.random.Generator, n_inputs: int, n_targets: int) -> dict[str, np.ndarray]:
        sizes = [n_inputs, *self.params.hidden_sizes, n_targets]
        state: dict[str, np.ndarray] = {}
        for k in range(1, len(sizes)):
            if self.params.parameterization == "standard":  # Kaiming-uniform
                bound = self.params.init_gain * np.sqrt(3.0 / sizes[k - 1])
                state[f"weight_{k}"] = rng.uniform(-bound, bound, (sizes[k], sizes[k - 1]))
            else:  # Gaussian, as in the infinite-width theory
                std = self.params.init_gain / np.sqrt(sizes[k - 1]) * self._init_scale(k, sizes)
                state[f"weight_{k}"] = std * rng.standard_normal((sizes[k], sizes[k - 1]))
            state[f"bias_{k}"] = np.zeros(sizes[k])
        state.update(self._extra_initial_state(rng, sizes, state))
        return state

    def _extra_initial_state(
        self, rng: np.random.Generator, sizes: list[int], state: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        return {}

    # ------------------------------------------------------------------ parameterization
    def richness(self, sizes: list[int] | None = None) -> float:
        """γ of the output scaling ``f = W_L h_{L−1}/γ`` (see :class:`MLPParameters`)."""
        sizes = self.layer_sizes() if sizes is None else sizes
        return richness_scale(self.params.parameterization, self.params.gamma0, sizes[-2])

    def _init_scale(self, k: int, sizes: list[int]) -> float:
        """Factor on layer k's initial weights: 1/γ on the readout, 1 elsewhere."""
        return 1.0 / self.richness(sizes) if k == len(sizes) - 1 else 1.0

    def layer_rates(self, name: str = "learning_rate") -> tuple[float, ...]:
        """Effective step of each hidden layer's rule (``params.<name>`` per layer, rescaled by
        ``γ² / fan_in`` outside the standard parameterization)."""
        rates = self.params.per_layer(name)
        if self.params.parameterization == "standard":
            return rates
        sizes = self.layer_sizes()
        gamma = self.richness(sizes)
        return tuple(rate * gamma**2 / sizes[k - 1] for k, rate in enumerate(rates, start=1))

    def effective_output_rate(self) -> float:
        """Step of the readout's delta rule (``output_rate / N_{L−1}`` outside "standard")."""
        if self.params.parameterization == "standard":
            return self.params.output_rate
        return self.params.output_rate / self.layer_sizes()[-2]

    # ------------------------------------------------------------------ declaration
    def _hidden_names(self) -> list[str]:
        return [f"hidden_{k}" for k in range(1, self.n_layers)]

    def populations(self) -> list[Population]:
        if self.state:
            sizes = self.layer_sizes()
        else:
            sizes = [0, *self.params.hidden_sizes, 0]
        pops = [Population("input", sizes[0], role="input", description="task inputs x = h_0")]
        for k, name in enumerate(self._hidden_names(), start=1):
            pops.append(Population(name, sizes[k], offset=0.0, description=f"ReLU hidden layer h_{k}"))
        pops.append(
            Population("output", sizes[-1], role="readout", description="linear output h_L = W_L h_{L−1} + b_L")
        )
        return pops

    def _rule_for_layer(self, k: int) -> Rule:
        return rules.THREE_FACTOR

    def connections(self) -> list[Connection]:
        names = ["input", *self._hidden_names(), "output"]
        conns = []
        for k in range(1, self.n_layers + 1):
            rule = rules.DELTA_RULE if k == self.n_layers else self._rule_for_layer(k)
            kind = "drive" if k == 1 else "feedforward"
            note = f"W_{k} (+ bias b_{k} as a constant drive)" if self.params.bias else f"W_{k}"
            conns.append(Connection(names[k - 1], names[k], rule, kind=kind, description=note))
        return conns

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        names = ["input", *self._hidden_names(), "output"]
        out: dict[tuple[str, str], np.ndarray] = {}
        for k in range(1, self.n_layers + 1):
            out[(names[k - 1], names[k])] = self.state[f"weight_{k}"]
        return out

    def biases(self) -> dict[str, np.ndarray]:
        """Constant drive of each population, (K, n): ``b_k`` (zeros with ``bias=False``)."""
        names = [*self._hidden_names(), "output"]
        return {name: self.state[f"bias_{k}"] * float(self.params.bias) for k, name in enumerate(names, 1)}

    # ------------------------------------------------------------------ dynamics
    def forward(self, inputs: np.ndarray) -> list[np.ndarray]:
        """``[h_0, h_1, ..., h_L]`` for inputs (K, B, n_0) (or (B, n_0))."""
        x = ensemble_inputs(inputs, self.ensemble_size, int(self.state["weight_1"].shape[-1]))
        layers = [x]
        for k in range(1, self.n_layers + 1):
            u = np.matmul(layers[-1], np.swapaxes(self.state[f"weight_{k}"], -1, -2))
            if self.params.bias:
                u = u + self.state[f"bias_{k}"][..., None, :]
            layers.append(u if k == self.n_layers else np.maximum(u, 0.0))
        return layers

    def respond(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        layers = self.forward(inputs)
        out = {"input": layers[0]}
        out.update({name: h for name, h in zip(self._hidden_names(), layers[1:-1])})
        out["output"] = layers[-1]
        return out

    def readout(self, last_hidden: np.ndarray) -> np.ndarray:
        """``h_L = W_L h_{L−1} + b_L`` (the non-simulated output)."""
        out = np.matmul(last_hidden, np.swapaxes(self.state[f"weight_{self.n_layers}"], -1, -2))
        if self.params.bias:
            out = out + self.state[f"bias_{self.n_layers}"][..., None, :]
        return out

    def layers_from(self, activities: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """``[h_0, ..., h_{L−1}, h_L]`` from a substrate's activities; the output is
        recomputed from the last hidden layer (a readout is never simulated)."""
        hidden = [np.asarray(activities[name], dtype=float) for name in self._hidden_names()]
        layers = [np.asarray(activities["input"], dtype=float), *hidden]
        layers.append(self.readout(layers[-1]))
        return layers

    # ------------------------------------------------------------------ learning (declared)
    def local_signals(self, activities: Mapping[str, np.ndarray], targets: np.ndarray) -> dict[str, np.ndarray]:
        """The per-sample quantities the rules read, from the state before the update:
        ``input`` and ``hidden_k`` (the rates), ``error`` ε = h_L − y (K, B, n_L) with h_L the
        readout of the last hidden layer (:meth:`layers_from`), ``broadcast`` (the output's
        extra modulator, zero unless a circuit sends one) and the hidden layers' signals of
        :meth:`_hidden_signals` (``gain_k``, ``modulator_k``, …)."""
        layers = self.layers_from(activities)
        error = layers[-1] - np.asarray(targets, dtype=float)
        signals = {"input": layers[0], "error": error, "broadcast": np.zeros_like(error)}
        signals.update({name: h for name, h in zip(self._hidden_names(), layers[1:-1])})
        signals.update(self._hidden_signals(layers, error))
        return signals

    @abstractmethod
    def _hidden_signals(self, layers: list[np.ndarray], error: np.ndarray) -> dict[str, np.ndarray]:
        """The neuron-level signals of the hidden layers' rules (see :meth:`local_signals`)."""

    def rule_activities(self, activities: Mapping[str, np.ndarray], batch: Batch | TrialBatch | None
                        ) -> dict[str, np.ndarray]:
        """:meth:`local_signals` of the batch's targets."""
        if batch is None or batch.targets is None:
            raise ValueError(f"{type(self).__name__}.learn needs a batch with targets")
        return self.local_signals(activities, batch.targets)

    def _population_names(self) -> list[str]:
        return ["input", *self._hidden_names(), "output"]

    def _output_parameters(self) -> dict[str, float]:
        return {"learning_rate": self.effective_output_rate(), "broadcast_rate": 0.0}

    def rule_bindings(self) -> list[RuleBinding]:
        """The output layer's delta rule (:data:`~bioplausible.rules.supervised.DELTA_RULE`)
        and the hidden layers' rules (:meth:`_hidden_bindings`)."""
        return list(self._declaration()[0])

    def state_steps(self) -> list[StateStep]:
        """The declared steps (:meth:`_declared_steps`; none for the plain MLP)."""
        return list(self._declaration()[1])

    def _declaration(self) -> tuple[list[RuleBinding], list[StateStep]]:
        """Bindings and steps, built once per parameters, layer sizes and state arrays (they
        depend on nothing else; ``learn`` asks for them at every update)."""
        key = (tuple(self.layer_sizes()), frozenset(self.state))
        cached = self.__dict__.get("_declared")
        if cached is None or cached[0] is not self.params or cached[1] != key:
            cached = (self.params, key, (self._declared_bindings(), self._declared_steps()))
            self.__dict__["_declared"] = cached
        return cached[2]

    def _declared_steps(self) -> list[StateStep]:
        return []

    def _declared_bindings(self) -> list[RuleBinding]:
        names, output = self._population_names(), self.n_layers
        signals = {"error": "error", "broadcast": "broadcast"}
        values = self._output_parameters()
        bindings = [RuleBinding(f"weight_{output}", rules.DELTA_RULE, names[-2], "output",
                                {"x": names[-2], **signals}, {**values, "weight_decay": self.params.weight_decay})]
        if self.params.bias:
            bindings.append(RuleBinding(f"bias_{output}", rules.DELTA_RULE_BIAS, "output", "output", signals, values))
        return bindings + self._hidden_bindings()

    def _hidden_bindings(self) -> list[RuleBinding]:
        """Layer k by the three-factor rule with the signals ``gain_k`` and ``modulator_k``."""
        names, rates = self._population_names(), self.layer_rates()
        bindings = []
        for k in range(1, self.n_layers):
            signals = {"gain": f"gain_{k}", "modulator": f"modulator_{k}"}
            bindings.append(RuleBinding(f"weight_{k}", rules.THREE_FACTOR, names[k - 1], names[k],
                                        {"x": names[k - 1], **signals},
                                        {"learning_rate": rates[k - 1], "weight_decay": self.params.weight_decay}))
            if self.params.bias:
                bindings.append(RuleBinding(f"bias_{k}", rules.THREE_FACTOR_BIAS, names[k], names[k], signals,
                                            {"learning_rate": rates[k - 1]}))
        return bindings

    def proposed_updates(self, activities: Mapping[str, np.ndarray], targets: np.ndarray) -> dict[str, np.ndarray]:
        """Changes of every array the rules change for one batch, without applying them (the
        declared steps, e.g. a normalisation, are not included): each binding's change, phase
        by phase on a copy of the state. Keys ``weight_k`` (and ``bias_k`` with ``bias=True``,
        circuit-specific ones such as ``projection_k``). Used by the update-alignment probe."""
        signals = self.local_signals(activities, targets)
        state = dict(self.state)
        changes: dict[str, np.ndarray] = {}
        for bound, _ in phases(self.rule_bindings()):
            step = rule_changes(state, bound, signals, state)
            changes.update(step)
            state.update({key: state[key] + change for key, change in step.items()})
        return changes

    # ------------------------------------------------------------------ probes
    def feedback_paths(self) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """Per hidden layer k: (forward, feedback) matrices whose angle the probes report,
        both shaped like the path the error takes back to layer k (or None if no feedback)."""
        return [None] * (self.n_layers - 1)
