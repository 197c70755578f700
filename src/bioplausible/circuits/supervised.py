"""Supervised local learning in a layered network (theory: :ref:`theory-supervised`).

One multilayer perceptron ``u_k = W_k h_{k−1} + b_k``, ``h_k = relu(u_k)`` (hidden),
``h_L = u_L`` (linear output), error ``ε = h_L − y``; the output layer always learns by the
delta rule and the hidden-layer rule is what distinguishes the circuits:

==============================  ============================================================  ===============
circuit                         hidden modulator ``q_k`` (ΔW_k = −μ ⟨f'(u_k)⊙q_k h_{k−1}ᵀ⟩)   non-local part
==============================  ============================================================  ===============
``EBD``                         ``R_k ε``, ``R_k ← λ_d R_k + (1−λ_d)⟨h_k εᵀ⟩``                    entropy term (opt.)
``DirectFeedbackAlignment``     ``R_k[0] ε`` (EBD with R frozen at its random init)            none
``FeedbackAlignment``           ``B_{k+1} δ_{k+1}``, B fixed random (ρ-FA option)               layered backward path
``Backprop``                    ``W_{k+1}ᵀ δ_{k+1}``                                              weight transport
``Hebbian``                     ``ΔW_k = +η ⟨‖ε‖² h_k h_{k−1}ᵀ⟩`` (no credit assignment)      scalar error
==============================  ============================================================  ===============

Papers: Erdogan, Pehlevan & Erdogan, "Error broadcast and decorrelation as a potential
artificial and natural learning mechanism", NeurIPS 2025 (EBD, Algorithm 1); Nøkland 2016
(DFA); Lillicrap et al. 2016 (FA); Bordelon & Pehlevan, ICLR 2023 (ρ-FA, Hebb, Eqs. 1–3).

**Biases.** The generic fixed-point semantics has no bias term. Here every hidden unit's bias
is a constant drive: in the rate form ``u_k = W_k h_{k−1} + b_k``; on spikes the IF unit
integrates ``dv/dt = r0 (b_k + Σ drives)``, i.e. the constant part of its drive (the
``bias`` variable the generic IF model already has for offset coding). The spiking model
``"layered-integrate-and-fire"`` registered below is the generic IF route plus this term, so
both substrates realise the same ``u_k``. The output bias is part of the (non-simulated)
readout. With ``bias=False`` the circuits run on the unmodified generic route.

**Spiking.** Hidden layers are nonnegative IF populations (offset 0, i.e. ReLU); input →
hidden_1 is the analog drive, hidden → hidden voltage jumps, the output a linear readout.
``learn`` recomputes the readout from the decoded hidden counts and applies the same rule
functions to the counts; ``f'(u_k)`` becomes the spike gate ``1[n_i > 0]`` (:ref:`rate-to-spikes-learning`);
the broadcast error ``R_k ε`` (or Bδ, Wᵀδ) is the per-neuron modulator of that update.

**Declared learning.** Every circuit here is a :class:`~bioplausible.circuits.base.RuleCircuit`:
``learn`` applies the rules bound to the plastic arrays (:meth:`LayeredCircuit.rule_bindings`:
:data:`~bioplausible.rules.supervised.THREE_FACTOR`, ``DELTA_RULE``, ``RUNNING_CORRELATION``,
``ERROR_MODULATED_HEBBIAN``, EBD's ``EBD_HIDDEN``/``EBD_VELOCITY``) and declared steps
(Hebbian synaptic scaling, EBD's Woodbury inverse and sparsity mask), reading the local
signals of :meth:`LayeredCircuit.local_signals` (ε, ``f'(u_k)``, ``q_k``), computed once per
batch from the state before the update. Non-local signals are said so where they are made:
BP's ``Wᵀδ`` (weight transport), FA's layered ``Bδ`` path, EBD's entropy term.
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.agreement import AgreementCase
from ..core.trials import TrialBatch
from ..rules import supervised as rules
from ..rules.declaration import Rule, RuleBinding, StateStep, phases, rule_changes
from ..validation import check_choice, check_integer, check_rates, check_real
from .base import Batch, Connection, Parameters, Population, RuleCircuit, ensemble_inputs, register_circuit

__all__ = [
    "LayeredCircuit",
    "EBD",
    "DirectFeedbackAlignment",
    "FeedbackAlignment",
    "Backprop",
    "Hebbian",
    "EBDParameters",
    "MLPParameters",
    "FeedbackAlignmentParameters",
]


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
        if not isinstance(self.hidden_sizes, (list, tuple)) or len(self.hidden_sizes) < 1:
            raise ValueError(f"hidden_sizes must be a sequence of at least one width, got {self.hidden_sizes!r}")
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        for size in self.hidden_sizes:
            check_integer("hidden_sizes[i]", size, 1)
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


def _woodbury_step(inverse: np.ndarray, post: np.ndarray, forgetting: float) -> np.ndarray:
    """The inverse ``(R_h + ε I)⁻¹`` after one batch
    (:func:`~bioplausible.rules.supervised.inverse_correlation_woodbury`)."""
    return inverse + rules.inverse_correlation_woodbury(inverse, post, forgetting)


def _masked(weights: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The weights on the fixed sparse connectivity ``mask``."""
    return weights * mask


def _forward_product(state: Mapping[str, np.ndarray], k: int, output_layer: int) -> np.ndarray:
    """``W_L W_{L−1} ⋯ W_{k+1}`` (K, n_L, n_k): the linear forward path from layer k to the
    output layer L (``output_layer``)."""
    product = state[f"weight_{output_layer}"]
    for j in range(output_layer - 1, k, -1):
        product = np.matmul(product, state[f"weight_{j}"])
    return product


# ============================================================================ EBD / DFA
@dataclass(frozen=True)
class EBDParameters(MLPParameters):
    """EBD parameters (small-scale defaults for the digits task; the paper's values are for MNIST/CIFAR-10).

    ``learning_rate`` μ_d (decorrelation rate, per layer or one value); ``forgetting`` λ_d of
    R; ``projection_gain`` Xavier-uniform gain of R₀ (outside the standard parameterization: R₀ Gaussian
    with std ``projection_gain · g / (γ √n_k)``, 1 = the scale of the readout path); ``sign`` "descent" (paper, −μ_d) or
    "ascent" (+μ_d, an ablation of the descent sign); ``freeze_projection`` keeps R = R₀ (DFA).
    Regularisers (all off by default, each per layer or one value): ``power_rate`` μ_p with
    target ``power_target`` P; ``entropy_rate`` μ_E with ``entropy_forgetting`` λ_E,
    ``entropy_epsilon`` ε_E and ``entropy_init`` (R_h₀ = c I), ``entropy_solver`` "cholesky"
    (exact solve per batch, O(N³)) or "woodbury" (rank-B update of the inverse, O(N²B); its
    ridge fades as λ_E^t, see :func:`~bioplausible.rules.supervised.inverse_correlation_woodbury`); ``l1_rate`` μ_1;
    ``forward_broadcast_rate`` μ_df (output layer). ``momentum`` m_d: heavy-ball on the
    hidden-layer steps (*unverified* form); ``sparsity``: fraction of each hidden weight
    matrix held at zero by a fixed random mask.
    """

    learning_rate: Any = 5.0
    forgetting: float = 0.9999
    projection_gain: float = 1e-2
    sign: str = "descent"
    freeze_projection: bool = False
    power_rate: Any = 0.0
    power_target: Any = 0.25
    entropy_rate: Any = 0.0
    entropy_forgetting: float = 0.999
    entropy_epsilon: float = 1e-2
    entropy_init: float = 1.0
    entropy_solver: str = "cholesky"
    l1_rate: Any = 0.0
    forward_broadcast_rate: float = 0.0
    momentum: float = 0.0
    sparsity: float = 0.0

    def validate(self) -> None:
        super().validate()
        check_real("forgetting", self.forgetting, 0.0, 1.0)
        check_real("projection_gain", self.projection_gain, 0.0)
        check_choice("sign", self.sign, ["descent", "ascent"])
        if not isinstance(self.freeze_projection, bool):
            raise TypeError(f"freeze_projection must be a bool, got {self.freeze_projection!r}")
        for name in ("power_rate", "power_target", "entropy_rate", "l1_rate"):
            self.per_layer(name)
        check_real("entropy_forgetting", self.entropy_forgetting, 0.0, 1.0)
        check_real("entropy_epsilon", self.entropy_epsilon, 0.0, inclusive=False)
        check_real("entropy_init", self.entropy_init, 0.0)
        check_choice("entropy_solver", self.entropy_solver, ["cholesky", "woodbury"])
        check_real("forward_broadcast_rate", self.forward_broadcast_rate, 0.0)
        check_real("momentum", self.momentum, 0.0, 1.0, inclusive=True)
        if self.momentum >= 1.0:
            raise ValueError(f"momentum must be < 1, got {self.momentum}")
        check_real("sparsity", self.sparsity, 0.0, 1.0)
        if self.sparsity >= 1.0:
            raise ValueError(f"sparsity must be < 1, got {self.sparsity}")


@register_circuit
class EBD(LayeredCircuit):
    """Error broadcast and decorrelation (Erdogan, Pehlevan & Erdogan, NeurIPS 2025, Alg. 1).

    Per batch and hidden layer k (independently), R first, then the projection::

        R_k ← λ_d R_k + (1−λ_d) ⟨h_k εᵀ⟩                      (error synapses, Hebbian)
        Φ_k = f'(u_k) ⊙ (R_k ε)                                 (g(h) = h: g' = 1)
        ΔW_k = −μ_d ⟨Φ_k h_{k−1}ᵀ⟩,  Δb_k = −μ_d ⟨Φ_k⟩          (+ regularisers, see :ref:`theory-supervised-ebd`)
        W_L −= μ_L ⟨ε h_{L−1}ᵀ⟩                                  (delta rule)

    descending ``J_k = ½‖E[h_k εᵀ]‖²_F`` with the path through ε dropped. The output layer may
    also descend Σ J_k through ε (``forward_broadcast_rate``). State adds ``projection_k``
    R_k (K, n_k, n_L), ``autocorrelation_k`` R_h (entropy on), ``mask_k`` (sparsity on),
    ``velocity_k``/``velocity_bias_k`` (momentum on). Init: R Xavier-uniform with
    ``projection_gain``. Spiking: the broadcast ``R_k ε`` is a per-neuron modulator; the same
    functions run on decoded counts (``f'`` = the gate ``1[n_i > 0]``).
    """

    name = "ebd"
    agreement = (AgreementCase(
        "teacher-student", {"test_mse": (0.05, 0.0)},
        params={"learning_rate": 0.2, "hidden_sizes": (20,), "output_rate": 0.02, "forgetting": 0.99,
                "projection_gain": 0.0, "sign": "ascent", "bias": False},
        steps=250, eval_every=250, substrate_options={"spiking": {"presentation": 0.1, "dt": 1e-3}},
        note="the EBD check experiment (5-20-2 student, R0 = 0, λ_d = 0.99, opposite sign), 250 presentations"),)
    description = "error broadcast and decorrelation MLP (Erdogan, Pehlevan & Erdogan, NeurIPS 2025)"
    Parameters = EBDParameters
    params: EBDParameters

    def _extra_initial_state(
        self, rng: np.random.Generator, sizes: list[int], state: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        p = self.params
        extra: dict[str, np.ndarray] = {}
        n_out = sizes[-1]
        for k in range(1, len(sizes) - 1):
            if p.parameterization == "standard":
                bound = p.projection_gain * np.sqrt(6.0 / (sizes[k] + n_out))
                extra[f"projection_{k}"] = rng.uniform(-bound, bound, (sizes[k], n_out))
            else:  # Gaussian at the scale of the readout path it replaces: std g/(γ √n_k), times the gain
                std = p.projection_gain * p.init_gain / np.sqrt(sizes[k]) / self.richness(sizes)
                extra[f"projection_{k}"] = std * rng.standard_normal((sizes[k], n_out))
            if any(r > 0 for r in p.per_layer("entropy_rate")) and p.entropy_solver == "cholesky":
                extra[f"autocorrelation_{k}"] = p.entropy_init * np.eye(sizes[k])
            elif any(r > 0 for r in p.per_layer("entropy_rate")):
                extra[f"inverse_autocorrelation_{k}"] = np.eye(sizes[k]) / (p.entropy_init + p.entropy_epsilon)
            if p.sparsity > 0:
                mask = (rng.random((sizes[k], sizes[k - 1])) >= p.sparsity).astype(float)
                extra[f"mask_{k}"] = mask
                state[f"weight_{k}"] = state[f"weight_{k}"] * mask
            if p.momentum > 0:
                extra[f"velocity_{k}"] = np.zeros((sizes[k], sizes[k - 1]))
                extra[f"velocity_bias_{k}"] = np.zeros(sizes[k])
        return extra

    def _regularised(self) -> bool:
        """Whether a regulariser of the hidden layers is on (then :data:`~bioplausible.rules.supervised.EBD_HIDDEN`)."""
        p = self.params
        return any(rate > 0 for name in ("power_rate", "entropy_rate", "l1_rate") for rate in p.per_layer(name))

    def _rule_for_layer(self, k: int) -> Rule:
        if self.params.momentum > 0:
            return rules.EBD_VELOCITY
        return rules.EBD_HIDDEN if self._regularised() else rules.THREE_FACTOR

    def connections(self) -> list[Connection]:
        conns = super().connections()
        if not self.params.freeze_projection:
            for name in self._hidden_names():
                conns.append(Connection("output", name, rules.RUNNING_CORRELATION, kind="modulatory",
                                        description="error synapses R_k: broadcast ε, Hebbian with forgetting"))
        else:
            for name in self._hidden_names():
                conns.append(Connection("output", name, None, kind="modulatory",
                                        description="fixed random error broadcast R_k[0] (DFA)"))
        return conns

    # ------------------------------------------------------------------ declared learning
    def _hidden_signals(self, layers: list[np.ndarray], error: np.ndarray) -> dict[str, np.ndarray]:
        """Per hidden layer k, from the state before the update: ``gain_k`` f'(u_k) and
        ``modulator_k`` = R_k ε with R_k *after* this batch's step of its rule (Alg. 1: R
        first; the same declared rule, :func:`~bioplausible.rules.supervised.decorrelation_correlation`),
        negated for ``sign="ascent"``. With regularisers: ``power_k``, ``whitened_k`` (the entropy
        term's ``(R_h + ε I)⁻¹ h`` with R_h after its step: not local, it mixes the layer) and
        ``sparse_k``, zero where the layer's rate is 0; with ``forward_broadcast_rate`` the output's
        ``broadcast`` Σ_k R_kᵀ h_k."""
        p = self.params
        power_rates, targets = p.per_layer("power_rate"), p.per_layer("power_target")
        entropy_rates, l1_rates = p.per_layer("entropy_rate"), p.per_layer("l1_rate")
        regularised = self._regularised() or p.momentum > 0
        signals: dict[str, np.ndarray] = {}
        broadcast = None
        for k in range(1, self.n_layers):
            post = layers[k]
            projection = self.state[f"projection_{k}"]
            if not p.freeze_projection:
                projection = projection + rules.decorrelation_correlation(post, error, projection, p.forgetting)
            modulator = rules.broadcast_error(projection, error)
            signals[f"modulator_{k}"] = -modulator if p.sign == "ascent" else modulator
            signals[f"gain_{k}"] = rules.relu_gain(post)
            if regularised:
                zero = np.zeros_like(post)
                signals[f"power_{k}"] = rules.power_signal(post, targets[k - 1]) if power_rates[k - 1] > 0 else zero
                signals[f"sparse_{k}"] = rules.sparsity_signal(post) if l1_rates[k - 1] > 0 else zero
                signals[f"whitened_{k}"] = zero
                if entropy_rates[k - 1] > 0 and p.entropy_solver == "woodbury":
                    inverse = self.state[f"inverse_autocorrelation_{k}"]
                    signals[f"whitened_{k}"] = rules.entropy_signal_woodbury(
                        post, _woodbury_step(inverse, post, p.entropy_forgetting))
                elif entropy_rates[k - 1] > 0:
                    autocorrelation = self.state[f"autocorrelation_{k}"]
                    autocorrelation = autocorrelation + rules.running_correlation(post, post, autocorrelation,
                                                                                  p.entropy_forgetting)
                    signals[f"whitened_{k}"] = rules.entropy_signal(post, autocorrelation, p.entropy_epsilon)
            if p.forward_broadcast_rate > 0:
                term = rules.decorrelation_broadcast(post, projection)
                broadcast = term if broadcast is None else broadcast + term
        if broadcast is not None:
            signals["broadcast"] = broadcast
        return signals

    def _output_parameters(self) -> dict[str, float]:
        return {**super()._output_parameters(), "broadcast_rate": self.params.forward_broadcast_rate}

    def _hidden_bindings(self) -> list[RuleBinding]:
        """R_k by :data:`~bioplausible.rules.supervised.RUNNING_CORRELATION` (post h_k, pre ε;
        not with ``freeze_projection``), R_h likewise (post and pre h_k; entropy on, Cholesky
        solver); W_k, b_k by the three-factor rule, or :data:`~bioplausible.rules.supervised.EBD_HIDDEN`
        with regularisers; with momentum the velocities take that step
        (:data:`~bioplausible.rules.supervised.EBD_VELOCITY`, phase 0) and W_k, b_k move by them
        (:data:`~bioplausible.rules.supervised.VELOCITY_STEP`, phase 1)."""
        p = self.params
        if not (self._regularised() or p.momentum > 0):
            bindings = super()._hidden_bindings()
        else:
            bindings = self._regularised_bindings()
        names = self._population_names()
        entropy_rates = p.per_layer("entropy_rate")
        for k in range(1, self.n_layers):
            if not p.freeze_projection:
                bindings.append(RuleBinding(f"projection_{k}", rules.RUNNING_CORRELATION, "output", names[k],
                                            {"y": names[k], "x": "error"}, {"forgetting": p.forgetting}))
            if f"autocorrelation_{k}" in self.state and entropy_rates[k - 1] > 0:
                bindings.append(RuleBinding(f"autocorrelation_{k}", rules.RUNNING_CORRELATION, names[k], names[k],
                                            {"y": names[k], "x": names[k]}, {"forgetting": p.entropy_forgetting}))
        return bindings

    def _regularised_bindings(self) -> list[RuleBinding]:
        p = self.params
        names = self._population_names()
        per_layer = {"learning_rate": self.layer_rates(), "power_rate": p.per_layer("power_rate"),
                     "entropy_rate": p.per_layer("entropy_rate"), "l1_rate": p.per_layer("l1_rate")}
        bindings = []
        for k in range(1, self.n_layers):
            signals = {name: f"{name}_{k}" for name in ("gain", "modulator", "power", "whitened", "sparse")}
            rates = {name: values[k - 1] for name, values in per_layer.items()}
            pre = {"x": names[k - 1], **signals}
            if p.momentum > 0:
                momentum = {"momentum": p.momentum}
                bindings += [
                    RuleBinding(f"velocity_{k}", rules.EBD_VELOCITY, names[k - 1], names[k], pre,
                                {**momentum, **rates, "weight_decay": p.weight_decay}, states={"W": f"weight_{k}"}),
                    RuleBinding(f"weight_{k}", rules.VELOCITY_STEP, names[k - 1], names[k], {}, {},
                                states={"V": f"velocity_{k}"}, phase=1),
                    # the bias velocity runs with bias=False too (the state it always had), unused then
                    RuleBinding(f"velocity_bias_{k}", rules.EBD_VELOCITY_BIAS, names[k], names[k], signals,
                                {**momentum, **rates}),
                ]
                if p.bias:
                    bindings.append(RuleBinding(f"bias_{k}", rules.VELOCITY_STEP_BIAS, names[k], names[k], {}, {},
                                                states={"v": f"velocity_bias_{k}"}, phase=1))
            else:
                bindings.append(RuleBinding(f"weight_{k}", rules.EBD_HIDDEN, names[k - 1], names[k], pre,
                                            {**rates, "weight_decay": p.weight_decay}))
                if p.bias:
                    bindings.append(RuleBinding(f"bias_{k}", rules.EBD_HIDDEN_BIAS, names[k], names[k], signals,
                                                rates))
        return bindings

    def _declared_steps(self) -> list[StateStep]:
        """``woodbury-inverse``: the rank-B update of ``(R_h + ε I)⁻¹`` (entropy on, Woodbury
        solver; a batch construction, not a per-sample rule); ``sparsity-mask``: W_k times its
        fixed mask after the update (sparsity on)."""
        p = self.params
        steps = []
        last = 1 if p.momentum > 0 else 0
        names = self._population_names()
        for k in range(1, self.n_layers):
            if f"inverse_autocorrelation_{k}" in self.state and p.per_layer("entropy_rate")[k - 1] > 0:
                steps.append(StateStep("woodbury-inverse", f"inverse_autocorrelation_{k}",
                                       functools.partial(_woodbury_step, forgetting=p.entropy_forgetting),
                                       activities=(names[k],),
                                       description="P ← (1/λ)[P − P H (λB/(1−λ) I + Hᵀ P H)⁻¹ Hᵀ P]"))
            if p.sparsity > 0:
                steps.append(StateStep("sparsity-mask", f"weight_{k}", _masked, reads=(f"mask_{k}",), phase=last,
                                       description="W_k ⊙ mask_k: the fixed sparse connectivity"))
        return steps

    def feedback_paths(self) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """Layer k: the forward path ``W_L⋯W_{k+1}`` (K, n_L, n_k) against ``R_kᵀ``."""
        output_layer = self.n_layers
        return [
            (_forward_product(self.state, k, output_layer), np.swapaxes(self.state[f"projection_{k}"], -1, -2))
            for k in range(1, output_layer)
        ]


@dataclass(frozen=True)
class DFAParameters(EBDParameters):
    """DFA = EBD with ``freeze_projection=True`` (B_k = R_k[0], see :ref:`theory-supervised-ebd`)."""

    freeze_projection: bool = True

    def validate(self) -> None:
        super().validate()
        if self.freeze_projection is not True:
            raise ValueError("freeze_projection must be True for direct-feedback-alignment (use 'ebd' otherwise)")


@register_circuit
class DirectFeedbackAlignment(EBD):
    """Direct feedback alignment (Nøkland 2016) as EBD with the projection frozen at its
    random init: ``ΔW_k = −μ_d ⟨(f'(u_k) ⊙ B_k ε) h_{k−1}ᵀ⟩``, ``B_k = R_k[0]`` (see :ref:`theory-supervised-ebd`).

    With ``entropy_rate > 0`` this is DFA+E of the EBD paper. Same code path as :class:`EBD`.
    """

    name = "direct-feedback-alignment"
    agreement = (AgreementCase(
        "teacher-student", {"test_mse": (0.05, 0.0)}, params={"hidden_sizes": (20,), "bias": False},
        steps=250, eval_every=250, substrate_options={"spiking": {"presentation": 0.1, "dt": 1e-3}},
        note="5-20-2 student, 250 presentations"),)
    description = "direct feedback alignment: EBD with the error projection frozen (Nøkland 2016)"
    Parameters = DFAParameters
    params: DFAParameters


# ============================================================================ FA / BP
@dataclass(frozen=True)
class FeedbackAlignmentParameters(MLPParameters):
    """``rho`` ρ of ρ-FA: ``B_{k+1} = (ρ W_{k+1}(0) + √(1−ρ²) W̃)ᵀ``, W̃ Gaussian scaled like W
    (ρ = 0: FA; ρ = 1: BP at init). B&P paper, Bordelon & Pehlevan, ICLR 2023."""

    rho: float = 0.0

    def validate(self) -> None:
        super().validate()
        check_real("rho", self.rho, 0.0, 1.0)


class _BackwardPathCircuit(LayeredCircuit):
    """BP and FA: the error travels down the layers, ``δ_k = f'(u_k) ⊙ B_{k+1} δ_{k+1}``."""

    @abstractmethod
    def _feedback(self, k: int) -> np.ndarray:
        """``B_{k+1}`` (K, n_k, n_{k+1}) carrying δ_{k+1} to hidden layer k."""

    def _hidden_signals(self, layers: list[np.ndarray], error: np.ndarray) -> dict[str, np.ndarray]:
        """``gain_k`` f'(u_k) and ``modulator_k`` = B_{k+1} δ_{k+1}, from the output down
        (δ_L = ε, δ_k = f'(u_k) ⊙ q_k), with every matrix before the update. The error path
        is layered: q_k reads the whole layer above through B (for BP the transposed forward
        weights, a non-local weight transport), computed here as a neuron-level signal."""
        signals: dict[str, np.ndarray] = {}
        delta = error  # δ_L = ε ⊙ f'(u_L), linear output
        for k in range(self.n_layers - 1, 0, -1):
            modulator = rules.backpropagated_error(self._feedback(k), delta)
            gain = rules.relu_gain(layers[k])
            signals[f"modulator_{k}"], signals[f"gain_{k}"] = modulator, gain
            delta = gain * modulator
        return signals

    def feedback_paths(self) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """Layer k: ``W_{k+1}`` (K, n_{k+1}, n_k) against the transposed feedback ``B_{k+1}ᵀ``."""
        return [
            (self.state[f"weight_{k + 1}"], np.swapaxes(self._feedback(k), -1, -2)) for k in range(1, self.n_layers)
        ]


@register_circuit
class Backprop(_BackwardPathCircuit):
    """Backpropagation of the squared error, ``δ_k = f'(u_k) ⊙ W_{k+1}ᵀ δ_{k+1}``, plain SGD.

    The reference the local rules are compared with (needs weight transport). Same forward
    pass, output delta rule and three-factor hidden update as every other circuit here. The
    synaptic update is the declared three-factor rule; its modulator ``W_{k+1}ᵀ δ_{k+1}`` is
    not local (it reads the transposed forward weights of the layer above): it is a declared
    neuron-level signal, computed once per batch (:meth:`_hidden_signals`).
    """

    name = "backprop"
    agreement = (AgreementCase(
        "teacher-student", {"test_mse": (0.05, 0.0)}, params={"hidden_sizes": (20,), "bias": False},
        steps=250, eval_every=250, substrate_options={"spiking": {"presentation": 0.1, "dt": 1e-3}},
        note="5-20-2 student, 250 presentations"),)
    description = "backpropagation MLP, plain SGD on ½‖ε‖² (reference)"
    Parameters = MLPParameters
    params: MLPParameters

    def _feedback(self, k: int) -> np.ndarray:
        return np.swapaxes(self.state[f"weight_{k + 1}"], -1, -2)

    def connections(self) -> list[Connection]:
        conns = super().connections()
        for k in range(1, self.n_layers):
            above = "output" if k == self.n_layers - 1 else f"hidden_{k + 1}"
            conns.append(Connection(above, f"hidden_{k}", None, kind="modulatory",
                                    description=f"weight transport W_{k + 1}ᵀ (error pathway)"))
        return conns


@register_circuit
class FeedbackAlignment(_BackwardPathCircuit):
    """Feedback alignment (Lillicrap et al. 2016): ``δ_k = f'(u_k) ⊙ B_{k+1} δ_{k+1}`` with
    fixed random ``B``; ``rho`` > 0 gives ρ-FA (Bordelon & Pehlevan, ICLR 2023).
    State adds ``feedback_k`` (K, n_k, n_{k+1}) for each hidden layer k."""

    name = "feedback-alignment"
    agreement = (AgreementCase(
        "teacher-student", {"test_mse": (0.05, 0.0)}, params={"hidden_sizes": (20,), "bias": False},
        steps=250, eval_every=250, substrate_options={"spiking": {"presentation": 0.1, "dt": 1e-3}},
        note="5-20-2 student, 250 presentations"),)
    description = "feedback alignment MLP, fixed random backward weights (Lillicrap et al. 2016)"
    Parameters = FeedbackAlignmentParameters
    params: FeedbackAlignmentParameters

    def _extra_initial_state(
        self, rng: np.random.Generator, sizes: list[int], state: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        rho = self.params.rho
        extra = {}
        for k in range(1, len(sizes) - 1):
            forward = state[f"weight_{k + 1}"]
            scale = self.params.init_gain / np.sqrt(sizes[k]) * self._init_scale(k + 1, sizes)
            random = scale * rng.standard_normal(forward.shape)
            extra[f"feedback_{k}"] = (rho * forward + np.sqrt(1.0 - rho**2) * random).T.copy()
        return extra

    def _feedback(self, k: int) -> np.ndarray:
        return self.state[f"feedback_{k}"]

    def connections(self) -> list[Connection]:
        conns = super().connections()
        for k in range(1, self.n_layers):
            above = "output" if k == self.n_layers - 1 else f"hidden_{k + 1}"
            conns.append(Connection(above, f"hidden_{k}", None, kind="modulatory",
                                    description=f"fixed random feedback B_{k + 1}"))
        return conns


# ============================================================================ Hebb
@dataclass(frozen=True)
class HebbianParameters(MLPParameters):
    """``learning_rate`` η of the error-modulated Hebbian hidden rule; ``synaptic_scaling``
    rescales each hidden neuron's incoming weights (with its bias) to their initial norm after every
    update (local, per neuron). Without it the rule is a positive feedback loop (larger
    weights → larger error → larger updates) and diverges on digits for η ≥ 3e-5; with it,
    η ≥ 3e-5 still collapses the layer onto one direction (all neurons learn the same leading
    component) and the readout diverges."""

    learning_rate: Any = 1e-5
    synaptic_scaling: bool = True

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.synaptic_scaling, bool):
            raise TypeError(f"synaptic_scaling must be a bool, got {self.synaptic_scaling!r}")


@register_circuit
class Hebbian(LayeredCircuit):
    """Error-modulated Hebbian hidden layers, ``ΔW_k = +η ⟨‖ε‖² h_k h_{k−1}ᵀ⟩`` (Bordelon &
    Pehlevan, ICLR 2023, "Hebb" pseudo-gradient ``δ = −‖ε‖² h``): co-activity gated by a global
    scalar error, no credit assignment; the output learns by the delta rule, so accuracy is
    that of a readout of Hebbian features."""

    name = "hebbian"
    agreement = (AgreementCase(
        "teacher-student", {"test_mse": (0.05, 0.0)}, params={"hidden_sizes": (20,), "bias": False},
        steps=250, eval_every=250, substrate_options={"spiking": {"presentation": 0.1, "dt": 1e-3}},
        note="5-20-2 student, 250 presentations"),)
    description = "error-modulated Hebbian hidden layers + delta-rule readout (Bordelon & Pehlevan 2023)"
    Parameters = HebbianParameters
    params: HebbianParameters

    def _rule_for_layer(self, k: int) -> Rule:
        return rules.ERROR_MODULATED_HEBBIAN

    def layer_rates(self, name: str = "learning_rate") -> tuple[float, ...]:
        """As for every layered circuit, and outside "standard" also ``/ (γ √n_k)``: the O(1)
        modulator ``‖ε‖² h_k`` stands for ``γ √n_k ∂f/∂h_k`` (B&P's pseudo-gradient scale)."""
        rates = super().layer_rates(name)
        if self.params.parameterization == "standard":
            return rates
        gamma, sizes = self.richness(), self.layer_sizes()
        return tuple(rate / (gamma * np.sqrt(sizes[k])) for k, rate in enumerate(rates, start=1))

    def _extra_initial_state(
        self, rng: np.random.Generator, sizes: list[int], state: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        if not self.params.synaptic_scaling:
            return {}
        return {f"row_norm_{k}": np.linalg.norm(state[f"weight_{k}"], axis=-1) for k in range(1, len(sizes) - 1)}

    def _hidden_signals(self, layers: list[np.ndarray], error: np.ndarray) -> dict[str, np.ndarray]:
        """``error_power`` ‖ε‖² (K, B, 1): the global scalar error every hidden synapse reads."""
        return {"error_power": rules.error_power(error)}

    def _hidden_bindings(self) -> list[RuleBinding]:
        """Layer k by :data:`~bioplausible.rules.supervised.ERROR_MODULATED_HEBBIAN` (pre h_{k−1}, post h_k)."""
        names, rates = self._population_names(), self.layer_rates()
        bindings = []
        for k in range(1, self.n_layers):
            signals = {"h": names[k], "error_power": "error_power"}
            bindings.append(RuleBinding(f"weight_{k}", rules.ERROR_MODULATED_HEBBIAN, names[k - 1], names[k],
                                        {"x": names[k - 1], **signals},
                                        {"learning_rate": rates[k - 1], "weight_decay": self.params.weight_decay}))
            if self.params.bias:
                bindings.append(RuleBinding(f"bias_{k}", rules.ERROR_MODULATED_HEBBIAN_BIAS, names[k], names[k],
                                            signals, {"learning_rate": rates[k - 1]}))
        return bindings

    def _declared_steps(self) -> list[StateStep]:
        """``synaptic-scaling`` (on by default): each hidden neuron's incoming weights with its
        bias rescaled to their initial norm ``row_norm_k`` after the rules; the bias first
        (:func:`_scaled_bias`), then the weights (:func:`_scaled_weights`)."""
        if not self.params.synaptic_scaling:
            return []
        steps = []
        for k in range(1, self.n_layers):
            if self.params.bias:
                steps.append(StateStep("synaptic-scaling", f"bias_{k}", _scaled_bias,
                                       reads=(f"weight_{k}", f"row_norm_{k}"),
                                       description="b_i ‖(W_i, b_i)‖ → the initial norm"))
            steps.append(StateStep("synaptic-scaling", f"weight_{k}", _scaled_weights,
                                   reads=(f"bias_{k}", f"row_norm_{k}"),
                                   description="W_i rescaled so that ‖(W_i, b_i)‖ is the initial norm"))
        return steps


def _scaling_factor(weights: np.ndarray, bias: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """``norm / ‖(W_i, b_i)‖`` per neuron (K, n)."""
    return norm / np.maximum(np.sqrt(np.sum(weights**2, axis=-1) + bias**2), 1e-300)


def _scaled_bias(bias: np.ndarray, weights: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """The bias times the synaptic-scaling factor of its neuron (weights not yet rescaled)."""
    return bias * _scaling_factor(weights, bias, norm)


def _scaled_weights(weights: np.ndarray, bias: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """The weights rescaled so that ``‖(W_i, b_i)‖ = norm_i``, with ``bias`` already rescaled
    (:func:`_scaled_bias`): ``W_i ← W_i √(norm_i² − b_i²) / ‖W_i‖`` (with a zero bias, bit for
    bit the factor of :func:`_scaling_factor`: ``√(norm²) = norm``)."""
    remaining = np.sqrt(np.maximum(norm**2 - bias**2, 0.0))
    return weights * (remaining / np.maximum(np.sqrt(np.sum(weights**2, axis=-1)), 1e-300))[..., None]
