"""Supervised CorInfoMax networks (theory: :ref:`theory-supervised-corinfomax`).

Layers of clipped-ReLU three-compartment units ``h_k = clip(u_k, 0, 1)`` with a basal input
``W_f,k h_{k−1}``, an apical input ``W_b,k h_{k+1}`` and lateral weights ``B_k``, settled from
``u = 0`` by a fixed number of Euler steps of size η (layers in sequence inside each step;
Bozkurt, Pehlevan & Erdogan, NeurIPS 2023, authors' code ``ContrastiveCorInfoMaxHopfield``)::

    hidden: u_k += η[−g u_k + (W_f h_{k−1} − u_k)/ε + (ε(2γ B_k h_k + g h_k) + W_b h_{k+1} − u_k)/ε]
    output: u_L += η[−g u_L + (W_f h_{L−1} − u_L)/ε + (γ B_L h_L + g h_L − β(h_L − y) − u_L)]

(γ = (1−λ)/λ). :func:`corinfomax_settle` is the one loop both circuits use; the label enters
only through the nudge β. Two ways to train the network (one module each,
:mod:`.corinfomax_ebd` and :mod:`.corinfomax_ep`; the old path
``bioplausible.circuits.supervised_corinfomax`` re-exports all three modules' names):

=====================  ====================================================================
``corinfomax-ep``      two phases (free β = 0, then nudged β = ±1 with a random sign);
                       W_f, W_b learn from the contrast of their prediction errors across the
                       phases; B anti-Hebbian (Bozkurt et al., NeurIPS 2023)
``corinfomax-ebd``     free phase only; the EBD term Φ_k = 1[0 < u_k < 1] ⊙ R_k E enters the
                       forward, backward and lateral updates (Erdogan, Pehlevan & Erdogan,
                       NeurIPS 2025, Algorithm 3)
=====================  ====================================================================

**Declared learning.** Both are :class:`~bioplausible.circuits.base.RuleCircuit` s: every
plastic array changes only through the rule bound to it (the rules of
:mod:`bioplausible.rules.supervised_corinfomax`, built from the CorInfoMax prediction-error
and lateral rules of :mod:`bioplausible.rules.separation` and the supervised three-factor and
running-correlation rules). ``rule_activities`` hands the rules the settled phases' rates, the
dendrites' predictions (:func:`basal_input`, the apical ``W_b h_{k+1}``) and the broadcast
signals (the error ε, EBD's ``R_k ε``, EP's nudge β), all read from the state before the update.

**Spiking.** Both declare ``kind = "clipped-settling"``, which the spiking substrate refuses
(``substrate.supports(circuit)`` gives the reason). The clip itself has a spiking form (capped
integrate-and-fire units, ``Population.ceiling``), but those are known to reach the clipped
fixed point only as the minimum of a box-constrained quadratic energy, i.e. for a symmetric
coupling; here layer k drives k+1 through ``W_f,k+1`` and receives from it through ``W_b,k``,
two independently learned matrices (≈90° apart at initialisation, as the refusal test measures), so no energy
exists whose minimum a spike count would estimate. And the prediction is the state after a
fixed number of Euler steps (``free_steps`` from ``u = 0``; EP adds ``nudged_steps`` from
``u = h⁰``), which a window's spike counts do not reproduce step by step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...rules.declaration import Rule
from ...rules.supervised_corinfomax import lateral_gamma
from ...validation import check_integer, check_real, check_widths
from ..base import Connection, Parameters, Population, RuleCircuit, ensemble_inputs

__all__ = [
    "apply_weights",
    "basal_input",
    "corinfomax_settle",
    "output_potential",
    "CorInfoMaxParameters",
    "CorInfoMaxNetwork",
]


def apply_weights(matrix: np.ndarray, activity: np.ndarray) -> np.ndarray:
    """``matrix`` (K, n, m) applied to every sample of ``activity`` (K, B, m): (K, B, n)."""
    return np.matmul(activity, np.swapaxes(matrix, -1, -2))


def basal_input(state: Mapping[str, np.ndarray], k: int, below: np.ndarray) -> np.ndarray:
    """Layer k's basal input ``W_f,k h_{k−1} (+ b_k)`` (K, B, n_k): the dendrite's prediction of
    the soma that the prediction-error rules compare it with (``bias_k`` where the state has one)."""
    basal = apply_weights(state[f"forward_{k}"], below)
    if f"bias_{k}" in state:
        basal = basal + state[f"bias_{k}"][..., None, :]
    return basal


def corinfomax_settle(
    state: Mapping[str, np.ndarray],
    potentials: list[np.ndarray],
    activities: list[np.ndarray],
    steps: int,
    leak: float,
    epsilon: float,
    forgetting: float,
    step: float,
    beta: np.ndarray | float = 0.0,
    targets: np.ndarray | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``steps`` Euler steps of the CorInfoMax dynamics (module docstring), layers in sequence.

    ``potentials`` ``[None, u_1, …, u_L]`` and ``activities`` ``[x, h_1, …, h_L]`` (K, B, n_k) are
    the starting point (zeros for a free phase, the free phase's end for a nudged one); new
    lists are returned. ``beta`` (scalar or one per member, (K,)) nudges the output towards
    ``targets`` (K, B, n_L); β = 0 is the free phase. State keys ``forward_k``, ``backward_k``,
    ``lateral_k`` as in :class:`CorInfoMaxEBD`.
    """
    gamma = lateral_gamma(forgetting)
    L = len(potentials) - 1
    u, h = list(potentials), list(activities)
    beta_k = np.asarray(beta, dtype=float).reshape(-1, 1, 1)
    nudged = bool(np.any(beta_k != 0))
    if nudged and targets is None:
        raise ValueError("a nudged phase (beta != 0) needs targets")
    for _ in range(steps):
        for k in range(1, L + 1):
            basal = basal_input(state, k, h[k - 1])
            lateral = apply_weights(state[f"lateral_{k}"], h[k])
            if k < L:
                apical = epsilon * (2 * gamma * lateral + leak * h[k]) + apply_weights(state[f"backward_{k}"], h[k + 1])
                change = -leak * u[k] + (basal - u[k]) / epsilon + (apical - u[k]) / epsilon
            else:
                apical = gamma * lateral + leak * h[k]
                if nudged:
                    apical = apical - beta_k * (h[k] - targets)
                change = -leak * u[k] + (basal - u[k]) / epsilon + (apical - u[k])
            u[k] = u[k] + step * change
            h[k] = np.clip(u[k], 0.0, 1.0)
    return u, h


def output_potential(
    state: Mapping[str, np.ndarray],
    below: np.ndarray,
    output: np.ndarray,
    leak: float,
    epsilon: float,
    forgetting: float,
    beta: np.ndarray | float = 0.0,
    targets: np.ndarray | None = None,
) -> np.ndarray:
    """The output layer's somatic potential ``u_L`` at which its equation in
    :func:`corinfomax_settle` is at rest given the settled rates (``du_L = 0``)::

        u_L = ((W_f,L h_{L−1} + b_L)/ε + γ B_L h_L + g h_L − β(h_L − y)) / (g + 1/ε + 1)

    ``below`` h_{L−1}, ``output`` h_L (K, B, n); unlike the rate ``h_L = clip(u_L, 0, 1)`` it
    keeps moving with the nudge where the rate is clipped."""
    gamma = lateral_gamma(forgetting)
    L = max(int(key.split("_")[1]) for key in state if key.startswith("forward_"))
    lateral = apply_weights(state[f"lateral_{L}"], output)
    drive = basal_input(state, L, below) / epsilon + gamma * lateral + leak * output
    beta_k = np.asarray(beta, dtype=float).reshape(-1, 1, 1)
    if targets is not None and np.any(beta_k != 0):
        drive = drive - beta_k * (output - targets)
    return drive / (leak + 1.0 / epsilon + 1.0)


# ============================================================================ shared network
@dataclass(frozen=True)
class CorInfoMaxParameters(Parameters):
    """The network: ``hidden_sizes``; dynamics ``leak`` g, ``epsilon`` ε, ``forgetting`` λ
    (γ = (1−λ)/λ), Euler ``step`` η, ``free_steps`` (authors' defaults, spec supervised §4.5)."""

    hidden_sizes: tuple[int, ...] = (100,)
    leak: float = 0.5
    epsilon: float = 0.15
    forgetting: float = 0.99999
    step: float = 0.05
    free_steps: int = 30

    def validate(self) -> None:
        object.__setattr__(self, "hidden_sizes", check_widths("hidden_sizes", self.hidden_sizes))
        check_real("leak", self.leak, 0.0)
        check_real("epsilon", self.epsilon, 0.0, inclusive=False)
        check_real("forgetting", self.forgetting, 0.0, 1.0, inclusive=False)
        check_real("step", self.step, 0.0, 1.0, inclusive=False)
        check_integer("free_steps", self.free_steps, 1)


class CorInfoMaxNetwork(RuleCircuit):
    """The layered CorInfoMax network; subclasses supply the learning rule.

    State: ``forward_k`` W_f,k (K, n_k, n_{k−1}), ``backward_k`` W_b,k (K, n_k, n_{k+1}) for
    k < L, ``lateral_k`` B_k (K, n_k, n_k). Init (authors' code): W_f, W_b Xavier-uniform,
    ``B = J Jᵀ`` with J Xavier-uniform.
    """

    family = "supervised"
    default_task = "classification"
    params: CorInfoMaxParameters
    #: Clipped units settled by a fixed number of Euler steps with positive lateral feedback.
    kind = "clipped-settling"

    @property
    def n_layers(self) -> int:
        return len(self.params.hidden_sizes) + 1

    def _check_sizes(self, n_inputs: int, n_targets: int) -> None:
        if n_inputs < 1 or n_targets < 1:
            raise ValueError(f"{self.name} needs n_inputs >= 1 and n_targets >= 1, got {n_inputs}, {n_targets}")

    def initial_state(self, rng: np.random.Generator, n_inputs: int, n_targets: int) -> dict[str, np.ndarray]:
        sizes = [n_inputs, *self.params.hidden_sizes, n_targets]

        def xavier(rows: int, cols: int, gain: float = 1.0) -> np.ndarray:
            bound = gain * np.sqrt(6.0 / (rows + cols))
            return rng.uniform(-bound, bound, (rows, cols))

        state = {}
        for k in range(1, len(sizes)):
            state[f"forward_{k}"] = xavier(sizes[k], sizes[k - 1])
            if k < len(sizes) - 1:
                state[f"backward_{k}"] = xavier(sizes[k], sizes[k + 1])
            root = xavier(sizes[k], sizes[k])
            state[f"lateral_{k}"] = root @ root.T
        state.update(self._extra_initial_state(rng, sizes, xavier))
        return state

    def _extra_initial_state(self, rng: np.random.Generator, sizes: list[int], xavier: Any) -> dict[str, np.ndarray]:
        return {}

    def _names(self) -> list[str]:
        return ["input", *[f"hidden_{k}" for k in range(1, self.n_layers)], "output"]

    def populations(self) -> list[Population]:
        if self.state:
            sizes = [int(self.state["forward_1"].shape[-1])]
            sizes += [int(self.state[f"forward_{k}"].shape[-2]) for k in range(1, self.n_layers + 1)]
        else:
            sizes = [0, *self.params.hidden_sizes, 0]
        names = self._names()
        pops = [Population("input", sizes[0], role="input")]
        pops += [Population(name, sizes[k], description="clipped-ReLU CorInfoMax layer h = clip(u, 0, 1)")
                 for k, name in enumerate(names[1:], 1)]
        return pops

    def _rules(self) -> tuple[Rule, Rule, Rule]:
        """The rules of the forward, backward and lateral connections (the ones bound to their
        arrays); each circuit of the family names its own."""
        raise NotImplementedError(f"{type(self).__name__} must name its forward, backward and lateral rules")

    def _extra_connections(self) -> list[Connection]:
        """Plastic connections besides the layers' own (EBD's error synapses); none by default.
        Listed first: where one joins the same pair of populations as a layer's connection (the
        output's error synapses beside the apical ``W_b,L−1``), the graph keeps the layer's."""
        return []

    def connections(self) -> list[Connection]:
        names = self._names()
        forward, backward, lateral = self._rules()
        conns = self._extra_connections()
        for k in range(1, self.n_layers + 1):
            conns.append(Connection(names[k - 1], names[k], forward, kind="feedforward", description=f"basal W_f,{k}"))
            if k < self.n_layers:
                conns.append(Connection(names[k + 1], names[k], backward, kind="feedback",
                                        description=f"apical W_b,{k}"))
            conns.append(Connection(names[k], names[k], lateral, kind="lateral", description=f"lateral B_{k}"))
        return conns

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        names = self._names()
        out = {}
        for k in range(1, self.n_layers + 1):
            out[(names[k - 1], names[k])] = self.state[f"forward_{k}"]
            if k < self.n_layers:
                out[(names[k + 1], names[k])] = self.state[f"backward_{k}"]
            out[(names[k], names[k])] = self.state[f"lateral_{k}"]
        return out

    def _settle(
        self,
        potentials: list[np.ndarray],
        activities: list[np.ndarray],
        steps: int,
        beta: np.ndarray | float = 0.0,
        targets: np.ndarray | None = None,
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        p = self.params
        return corinfomax_settle(self.state, potentials, activities, steps, p.leak, p.epsilon, p.forgetting,
                                 p.step, beta, targets)

    def free_phase(self, inputs: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``free_steps`` steps from ``u = 0`` (β = 0): ``([None, u_1..u_L], [x, h_1..h_L])``."""
        # contiguous: a broadcast (stride-0) ensemble axis sends np.matmul off its BLAS path (10× slower)
        x = np.ascontiguousarray(ensemble_inputs(inputs, self.ensemble_size, int(self.state["forward_1"].shape[-1])))
        shape = x.shape[:-1]
        u: list[Any] = [None] + [np.zeros((*shape, self.state[f"forward_{k}"].shape[-2]))
                                 for k in range(1, self.n_layers + 1)]
        h = [x] + [np.zeros_like(v) for v in u[1:]]
        return self._settle(u, h, self.params.free_steps)

    def respond(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(self._names(), self.free_phase(inputs)[1]))

    # ------------------------------------------------------------------ what the rules read
    def rates(self, activities: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """``[x, h_1, …, h_L]`` (K, B, n_k) from a substrate's activities."""
        return [np.asarray(activities[name], dtype=float) for name in self._names()]

    def predictions(self, rates: list[np.ndarray], phase: str = "") -> dict[str, np.ndarray]:
        """The dendrites' predictions of each layer's soma from ``rates`` ``[x, h_1, …, h_L]``, by the
        state before the update: ``basal_k`` (:func:`basal_input`) and ``apical_k`` ``W_b,k h_{k+1}``
        (k < L), each name followed by ``phase``."""
        out = {}
        for k in range(1, self.n_layers + 1):
            out[f"basal_{k}{phase}"] = basal_input(self.state, k, rates[k - 1])
            if k < self.n_layers:
                out[f"apical_{k}{phase}"] = apply_weights(self.state[f"backward_{k}"], rates[k + 1])
        return out

    def feedback_paths(self) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """Hidden layer k: ``W_f,k+1`` against ``W_b,kᵀ`` (the CorInfoMax forward/backward angle)."""
        return [
            (self.state[f"forward_{k + 1}"], np.swapaxes(self.state[f"backward_{k}"], -1, -2))
            for k in range(1, self.n_layers)
        ]


