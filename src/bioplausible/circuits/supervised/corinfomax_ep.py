"""CorInfoMax-EP: the CorInfoMax network (:mod:`.corinfomax_network`) trained by equilibrium
propagation, a free and a nudged phase (Bozkurt, Pehlevan & Erdogan, NeurIPS 2023)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.agreement import AgreementCase
from ...core.trials import TrialBatch
from ...rules import separation as separation_rules
from ...rules import supervised_corinfomax as rules
from ...rules.declaration import Rule, RuleBinding
from ...rules.supervised_corinfomax import lateral_gamma
from ...validation import check_choice, check_integer, check_rates, check_real
from ..base import Batch, ensemble_inputs, register_circuit
from .corinfomax_network import CorInfoMaxNetwork, CorInfoMaxParameters, output_potential

__all__ = ["CorInfoMaxEPParameters", "CorInfoMaxEP"]


@dataclass(frozen=True)
class CorInfoMaxEPParameters(CorInfoMaxParameters):
    """CorInfoMax-EP (spec supervised §4.5, authors' MNIST 2-layer script; the 64-100-10 digits
    network takes the MNIST rates except the output's). ``forward_rate`` μ_f (one value or one
    per layer, hidden layers then output; default (1.0, 0.3): the authors' hidden rate, an
    output rate below their 0.7, see :class:`CorInfoMaxEP`), ``backward_rate`` μ_b (one per
    backward matrix, i.e. per hidden layer), ``rate_decay`` per-epoch factor of both
    (μ = μ₀ · decay^epoch), ``decay_every`` updates per epoch (70: digits' 1400 training
    samples at B = 20), ``beta`` the magnitude of the nudge (its sign is drawn per batch and
    member when ``random_sign``), ``nudged_steps``; ``output_contrast`` what the output layer's
    prediction error contrasts across the phases: "potential" (the default: the somatic
    potential at rest, :func:`output_potential`) or "rate" (the authors' clipped rate ``h_L``);
    ``bias`` a learned bias on every basal input, initialised to 0 and updated by the same
    contrast with a constant presynaptic 1 (the authors' code has one; the spec's "no biases"
    is not what their ``ContrastiveCorInfoMaxHopfield`` does)."""

    forward_rate: Any = (1.0, 0.3)
    backward_rate: Any = 0.15
    rate_decay: float = 0.99
    decay_every: int = 70
    beta: float = 1.0
    random_sign: bool = True
    nudged_steps: int = 10
    output_contrast: str = "potential"
    bias: bool = True

    def validate(self) -> None:
        super().validate()
        n = len(self.hidden_sizes)
        check_rates("forward_rate", self.forward_rate, n + 1)
        check_rates("backward_rate", self.backward_rate, n)
        check_real("rate_decay", self.rate_decay, 0.0, 1.0)
        check_integer("decay_every", self.decay_every, 1)
        check_real("beta", self.beta, 0.0, inclusive=False)
        if not isinstance(self.random_sign, bool):
            raise TypeError(f"random_sign must be a bool, got {self.random_sign!r}")
        check_integer("nudged_steps", self.nudged_steps, 1)
        check_choice("output_contrast", self.output_contrast, ["potential", "rate"])
        if not isinstance(self.bias, bool):
            raise TypeError(f"bias must be a bool, got {self.bias!r}")


@register_circuit
class CorInfoMaxEP(CorInfoMaxNetwork):
    """CorInfoMax trained by equilibrium propagation (Bozkurt, Pehlevan & Erdogan, NeurIPS
    2023; authors' code ``ContrastiveCorInfoMaxHopfield``; spec supervised §4).

    Per batch: free phase (β = 0, ``free_steps`` from u = 0) → ``h⁰``; nudged phase from
    ``u = h⁰`` (β = ±``beta``, sign drawn per batch, ``nudged_steps``) → ``h^β``; then, with
    ``e_f = h_k − W_f,k h_{k−1}`` and ``e_b = h_k − W_b,k h_{k+1}`` in each phase::

        W_f,k += (μ_f,k/β)[⟨e_f h_{k−1}ᵀ⟩_β − ⟨e_f h_{k−1}ᵀ⟩_0]
        W_b,k += (μ_b,k/β)[⟨e_b h_{k+1}ᵀ⟩_β − ⟨e_b h_{k+1}ᵀ⟩_0]
        B_k   ← (B_k − γ⟨z zᵀ⟩)/λ,  z = B_k h_k^β            (every layer, output included)

    rates ``μ₀ · rate_decay^⌊steps / decay_every⌋``. Prediction: ``argmax h_L`` of the free
    phase.

    Declared (:meth:`rule_bindings`): W_f,k and W_b,k by
    :data:`~bioplausible.rules.supervised_corinfomax.CORINFOMAX_EP_CONTRAST`, the bias b_k by
    its twin :data:`~bioplausible.rules.supervised_corinfomax.CORINFOMAX_EP_CONTRAST_BIAS`, B_k
    by :data:`~bioplausible.rules.separation.CORINFOMAX_LATERAL` on the nudged rates;
    :meth:`rule_activities` runs the nudged phase and hands the rules both phases' rates and
    predictions, :meth:`rule_states` the nudge β of this update (``nudge``, one per member).

    **Output contrast (the dead output units).** With the authors' rule the output's ``e_f``
    uses the clipped rate ``h_L``: the contrast is then the EP estimate of the gradient of
    ½‖clip(u_L) − y‖², zero wherever the clip is flat. An output unit whose drive on its own
    class is below −εβ (the most a nudge of β can lift it, at rest) is clipped at 0 in both
    phases, so its contrast is zero whatever the label and it never learns again: on digits
    (Xavier rows with a negative sum meet nonnegative hidden rates) seed 1 has unit 6 silent
    on its own class from initialisation and unit 1 silenced during epoch 1 (20 epochs,
    seeds 0–2: 98.0, 78.3, 96.2 %; 60 epochs: 0.982 / 0.788 / 0.980 as the earlier default). A bias (the
    authors' network has one) does not change this (20 epochs, seed 1: 2 classes never
    predicted with or without it).
    ``output_contrast="potential"`` (default) contrasts the output's somatic potential at
    rest instead (:func:`output_potential`; equal to ``h_L`` inside (0, 1)), which a nudge
    moves by ``β(y − h)/(g + 1/ε + 1)`` even where the rate is clipped: the EP form of the
    matching loss of the clip, as ``output_rule="matching"`` is for :class:`CorInfoMaxEBD`.

    **Output rate.** Without the clip's gating the output step must be stable: one update
    moves a unit's free-phase rate by about ``s (y − h)``, ``s = μ_L ⟨‖h_{L−1}‖²⟩ / ((1 + ε)(g
    + 1/ε + 1))``. At the authors' μ_L = 0.7, s = 0.17 on digits (100 hidden units,
    ⟨‖h‖²⟩ = 2.3 at init) but 1.25 on Fashion-MNIST (500 units, ⟨‖h‖²⟩ = 16.8): the output
    units overshoot, flipping between active on every input and silent on every input within
    ~10 updates (1 epoch on 2000 images, seed 0: 37.2 %, 3 classes never predicted). With the rate
    contrast the clip gates the overshooting units out (59.2 %) at the price of the dead
    units above. μ_L = 0.3 (s = 0.54 on Fashion-MNIST) is the default: Fashion-MNIST 63.8 %
    (same run), digits seeds 0–2: 98.2, 97.2, 96.0 % at 20 epochs, 98.2, 99.0, 98.2 % at 60 (the
    default run; top-layer angle 87.4→63.8°, 89.4→65.7°, 86.3→66.3°). The authors' own Fashion-MNIST
    script lowers the output rate too (μ_f = (0.3, 0.22), μ_b = 0.07, g = 0.3: 65.0 % in the
    same run with the potential contrast, 55.2 % and one class never predicted with the rate
    contrast; ``benchmarks/supervised_accuracy.py`` uses it).

    State adds ``sign_seed`` (one integer per member: the β signs are a function of it and the
    step count, so a saved state resumes exactly). Spiking: refused (:mod:`.corinfomax_network`).
    """

    name = "corinfomax-ep"
    agreement = (AgreementCase("classification", {}, unsupported=("spiking",),
                               note="no spiking realisation of its clipped two-phase Euler settling"),)
    description = "CorInfoMax network, two-phase contrastive (EP) learning (Bozkurt, Pehlevan & Erdogan, NeurIPS 2023)"
    Parameters = CorInfoMaxEPParameters
    params: CorInfoMaxEPParameters

    def _extra_initial_state(self, rng: np.random.Generator, sizes: list[int], xavier: Any) -> dict[str, np.ndarray]:
        extra = {"sign_seed": np.array([float(rng.integers(2**31))])}
        if self.params.bias:
            extra |= {f"bias_{k}": np.zeros(sizes[k]) for k in range(1, len(sizes))}
        return extra

    def _rules(self) -> tuple[Rule, Rule, Rule]:
        return rules.CORINFOMAX_EP_CONTRAST, rules.CORINFOMAX_EP_CONTRAST, separation_rules.CORINFOMAX_LATERAL

    def nudge(self) -> np.ndarray:
        """β of the next update, one per member (K,)."""
        p = self.params
        if not p.random_sign:
            return np.full(self.ensemble_size, p.beta)
        seeds = self.state["sign_seed"][:, 0].astype(np.int64)
        signs = [1.0 if np.random.default_rng([int(s), self.steps]).random() < 0.5 else -1.0 for s in seeds]
        return p.beta * np.array(signs)

    def nudged_phase(
        self, activities: Sequence[np.ndarray], targets: np.ndarray, beta: np.ndarray | float
    ) -> list[np.ndarray]:
        """``nudged_steps`` steps with the output nudged towards ``targets``, starting from the
        free phase's activities ``[x, h⁰_1, …, h⁰_L]`` as potentials (``u = h⁰``, as the authors'
        code re-initialises its intermediate state from the neurons): a unit clipped at 0 in the
        free phase starts the nudged phase at the edge of its range, so the nudge can move it."""
        targets = ensemble_inputs(targets, self.ensemble_size, int(self.state[f"forward_{self.n_layers}"].shape[-2]),
                                  "targets")
        start = [np.array(a, dtype=float) for a in activities]
        potentials: list[Any] = [None, *[a.copy() for a in start[1:]]]
        return self._settle(potentials, start, self.params.nudged_steps, beta, targets)[1]

    def rule_activities(self, activities: Mapping[str, np.ndarray], batch: Batch | TrialBatch | None
                        ) -> dict[str, np.ndarray]:
        """Both phases, from the state before the update: the free phase's rates (``activities``,
        by population name) and the nudged phase's (:meth:`nudged_phase` at this update's β,
        names followed by ``_nudged``); the dendrites' predictions in each
        (:meth:`~.CorInfoMaxNetwork.predictions`); and ``soma``/``soma_nudged``, what the output's
        basal prediction error contrasts: the potential at rest (:func:`.output_potential`,
        ``output_contrast="potential"``) or the rate h_L ("rate")."""
        if batch is None or batch.targets is None:
            raise ValueError("corinfomax-ep.learn needs a batch with targets")
        p, L = self.params, self.n_layers
        free = self.rates(activities)
        beta = self.nudge()
        nudged = self.nudged_phase(free, batch.targets, beta)
        out = {**dict(zip(self._names(), free)), **self.predictions(free)}
        out.update({f"{name}_nudged": h for name, h in zip(self._names(), nudged)})
        out.update(self.predictions(nudged, "_nudged"))
        if p.output_contrast == "potential":
            targets = ensemble_inputs(batch.targets, self.ensemble_size, int(free[L].shape[-1]), "targets")
            out["soma"] = output_potential(self.state, free[L - 1], free[L], p.leak, p.epsilon, p.forgetting)
            out["soma_nudged"] = output_potential(self.state, nudged[L - 1], nudged[L], p.leak, p.epsilon,
                                                  p.forgetting, beta, targets)
        else:
            out["soma"], out["soma_nudged"] = free[L], nudged[L]
        return out

    def rule_states(self) -> Mapping[str, np.ndarray]:
        """The state arrays and ``nudge``: this update's β (K, 1), the broadcast strength of the
        teaching signal, the same for every neuron of a member."""
        return {**self.state, "nudge": self.nudge()[:, None]}

    def rule_bindings(self) -> list[RuleBinding]:
        p, L, names = self.params, self.n_layers, self._names()
        scale = p.rate_decay ** (self.steps // p.decay_every)
        forward_rates = check_rates("forward_rate", p.forward_rate, L)
        backward_rates = check_rates("backward_rate", p.backward_rate, L - 1)
        nudge = {"beta": "nudge"}

        def phases(pre: str | None, post: str, prediction: str) -> dict[str, str]:
            both = {"y_free": post, "y_nudged": f"{post}_nudged",
                    "yhat_free": prediction, "yhat_nudged": f"{prediction}_nudged"}
            return both if pre is None else {**both, "x_free": pre, "x_nudged": f"{pre}_nudged"}

        bindings = []
        for k in range(1, L + 1):
            soma = "soma" if k == L else names[k]
            rate = {"learning_rate": scale * forward_rates[k - 1]}
            bindings.append(RuleBinding(f"forward_{k}", rules.CORINFOMAX_EP_CONTRAST, names[k - 1], names[k],
                                        phases(names[k - 1], soma, f"basal_{k}"), rate, states=nudge))
            if p.bias:
                bindings.append(RuleBinding(f"bias_{k}", rules.CORINFOMAX_EP_CONTRAST_BIAS, names[k], names[k],
                                            phases(None, soma, f"basal_{k}"), rate, states=nudge))
            if k < L:
                bindings.append(RuleBinding(f"backward_{k}", rules.CORINFOMAX_EP_CONTRAST, names[k + 1], names[k],
                                            phases(names[k + 1], names[k], f"apical_{k}"),
                                            {"learning_rate": scale * backward_rates[k - 1]}, states=nudge))
            bindings.append(RuleBinding(f"lateral_{k}", separation_rules.CORINFOMAX_LATERAL, names[k], names[k],
                                        {"y": f"{names[k]}_nudged"},
                                        {"gamma_y": lateral_gamma(p.forgetting), "forgetting_y": p.forgetting}))
        return bindings
