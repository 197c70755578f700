"""Convolutional and locally connected networks trained by EBD, DFA or backprop (theory:
:ref:`theory-supervised-ebd`); the network itself is
:mod:`bioplausible.circuits.supervised.conv_network`.

Each hidden layer is ReLU channels on the patches of the layer below, the output a dense
linear readout, ``ε = h_L − y`` (the equations and layouts:
:mod:`~bioplausible.circuits.supervised.conv_network`).

The output layer learns by the delta rule; every hidden unit ``(l, c)`` learns by the same
three-factor rule as the MLPs (:func:`~bioplausible.rules.supervised.three_factor`), its
modulator ``q_k[l, c]`` depending on the circuit:

=================  =========================================================================
``ebd-cnn``        ``q_k = R_k ε`` with one row of error synapses per channel *and* location,
                   ``R_k ← λ_d R_k + (1−λ_d)⟨h_k εᵀ⟩`` (R first, then the projection; EBD paper,
                   Erdogan, Pehlevan & Erdogan, NeurIPS 2025, Algorithm 1 and §2.8: "decorrelating
                   per channel and location")
``dfa-cnn``        the same with R frozen at its random init (Nøkland 2016)
``backprop-cnn``   ``q_k`` = the transposed layer above applied to ``δ_{k+1} = f'(u_{k+1}) ⊙ q_{k+1}``
                   (col2im of ``δ_{k+1} W_{k+1}``; ``W_Lᵀ ε`` under the readout)
=================  =========================================================================

A shared kernel collects the rule over its locations (``ΔW_k[c] = Σ_l ΔW_k[l, c]``, the
exact gradient for backprop); a locally connected kernel keeps one update per location.

``learn`` is derived from the declaration (:class:`~bioplausible.circuits.base.RuleCircuit`):
W_k, b_k change by :data:`~bioplausible.rules.supervised.THREE_FACTOR` (and its bias twin)
with the patches as presynaptic activity — for shared kernels the B·L (sample, location)
pairs are the rule's samples and its rate is ``L μ`` (a sum over locations), for
per-location kernels the locations are an extra leading axis; the readout by
:data:`~bioplausible.rules.supervised.DELTA_RULE`; EBD's R_k by
:data:`~bioplausible.rules.supervised.RUNNING_CORRELATION`. The patches, gains and
modulators are computed once per batch from the state before the update
(:meth:`ConvNetwork.local_signals`).
Plain SGD; the paper's CNN/LC runs also use Adam, a λ schedule and weight-entropy terms
whose form we do not know (spec supervised §2.8, §9): not implemented.

Layouts: the task's inputs are flat images, channel-first ``(C, H, W)`` (``image_shape``, or
inferred: a square single-channel image, else three square channels); hidden populations are
flat channel-last ``(y, x, c)``. The layers are batched over the ensemble axis K: im2col is
one ``np.take`` of a precomputed index map, each layer one matmul per member.

**Spiking.** Kind ``"convolutional"``: the layered integrate-and-fire network
(:mod:`bioplausible.substrates.spiking.layered`) realises it from the declaration — ReLU
units as IF units on the synapses :meth:`~.conv_network.ConvNetwork.synapses` lists, the
expanded kernels :meth:`~.conv_network.ConvNetwork.weights` on them, per-unit
:meth:`~.conv_network.ConvNetwork.biases` as constant drives, the dense readout not
simulated — and the declared rules learn from the decoded counts (``plasticity="python"``;
per-synapse plasticity is refused: a shared kernel entry is one weight on many synapses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.agreement import AgreementCase
from ...rules import supervised as rules
from ...rules.declaration import RuleBinding
from ..base import Connection, register_circuit
from .backward import weight_transport_connections
from .conv_network import ConvNetwork, ConvParameters
from .ebd import check_frozen_projection, check_projection

__all__ = ["ConvEBDParameters", "ConvDFAParameters", "ConvEBD", "ConvDFA", "ConvBackprop"]


def _agreement(note: str, **params: Any) -> tuple[AgreementCase, ...]:
    """Rate vs spikes on 400 digits (360 held out), a 4- and 8-channel network, two seeds, 120
    mini-batches of 20 presented at once (``parallel_batch``) in 50 ms windows at r0 = 500 Hz
    (r0 T = 25: the layers' activities are small, ~0.1, and the gate 1[n > 0] needs a few
    spikes per unit), scored by the rate forward pass of the learned weights."""
    return (AgreementCase(
        "classification", {"test_loss": (0.03, 0.0), "test_accuracy": (0.0, 0.05)},
        params={"channels": (4, 8), **params}, task_options={"n_train": 400, "n_test": 360},
        steps=120, eval_every=120, seeds=(0, 1), learns={"test_accuracy": ("absolute", 0.2)},
        substrate_options={"spiking": {"rate_unit": 500.0, "presentation": 0.05, "dt": 1e-3,
                                       "parallel_batch": True}},
        note=note),)


# ============================================================================ EBD / DFA
@dataclass(frozen=True)
class ConvEBDParameters(ConvParameters):
    """EBD on patch-connected layers: ``learning_rate`` μ_d, ``forgetting`` λ_d of R,
    ``projection_gain`` Xavier-uniform gain of R₀ (one row per channel and location),
    ``sign`` "descent" (paper) or "ascent" (ablation), ``freeze_projection`` (R = R₀: DFA)."""

    learning_rate: Any = 0.3
    forgetting: float = 0.9999
    projection_gain: float = 0.1
    sign: str = "descent"
    freeze_projection: bool = False

    def validate(self) -> None:
        super().validate()
        check_projection(self)


@register_circuit
class ConvEBD(ConvNetwork):
    """Error broadcast and decorrelation on a convolutional (or, with
    ``connectivity="locally-connected"``, locally connected) network, decorrelating every
    channel at every location from the output error (Erdogan, Pehlevan & Erdogan, NeurIPS
    2025, §2.8, Tables 1, 4–7)::

        R_k ← λ_d R_k + (1−λ_d)⟨h_k εᵀ⟩     (R_k: (L_k C_k) × n_L, one row per unit)
        q_k = R_k ε,   ΔW_k = −μ_d Σ_l ⟨(f'(u_k) ⊙ q_k)[l] P_k[l]ᵀ⟩

    State adds ``projection_k`` (K, L_k C_k, n_L). See the module docstring.
    """

    name = "ebd-cnn"
    agreement = _agreement("measured (seeds 0, 1): test loss rate 0.330 / 0.411, spikes 0.327 / 0.416; "
                           "accuracy rate 0.722 / 0.428, spikes 0.719 / 0.394")
    description = "error broadcast and decorrelation, convolutional / locally connected (Erdogan et al., NeurIPS 2025)"
    Parameters = ConvEBDParameters
    params: ConvEBDParameters

    def _extra_initial_state(self, rng: np.random.Generator, n_targets: int) -> dict[str, np.ndarray]:
        extra = {}
        for k, layer in enumerate(self.geometry(), start=1):
            bound = self.params.projection_gain * np.sqrt(6.0 / (layer.size + n_targets))
            extra[f"projection_{k}"] = rng.uniform(-bound, bound, (layer.size, n_targets))
        return extra

    def _sign(self) -> float:
        return -1.0 if self.params.sign == "descent" else 1.0

    def connections(self) -> list[Connection]:
        conns = super().connections()
        frozen = self.params.freeze_projection
        note = ("fixed random error broadcast R_k[0] (DFA)" if frozen else
                "error synapses R_k per channel and location: broadcast ε, Hebbian with forgetting")
        for name in self._hidden_names():
            conns.append(Connection("output", name, None if frozen else rules.RUNNING_CORRELATION,
                                    kind="modulatory", description=note))
        return conns

    def _modulators(self, layers: list[np.ndarray], error: np.ndarray) -> list[np.ndarray]:
        """``q_k = R_k ε`` with R_k after this batch's step of its declared rule (R first)."""
        modulators = []
        for k in range(1, self.n_layers):
            projection = self.state[f"projection_{k}"]
            if not self.params.freeze_projection:
                projection = projection + rules.decorrelation_correlation(layers[k], error, projection,
                                                                          self.params.forgetting)
            modulators.append(rules.broadcast_error(projection, error))
        return modulators

    def _declared_bindings(self) -> list[RuleBinding]:
        """The network's rules, and R_k by :data:`~bioplausible.rules.supervised.RUNNING_CORRELATION`
        (post h_k, pre ε) unless the projection is frozen."""
        bindings = super()._declared_bindings()
        if not self.params.freeze_projection:
            for name, k in zip(self._hidden_names(), range(1, self.n_layers)):
                bindings.append(RuleBinding(f"projection_{k}", rules.RUNNING_CORRELATION, "output", name,
                                            {"y": name, "x": "error"}, {"forgetting": self.params.forgetting}))
        return bindings


@dataclass(frozen=True)
class ConvDFAParameters(ConvEBDParameters):
    """DFA = :class:`ConvEBD` with ``freeze_projection=True``."""

    learning_rate: Any = 0.1
    output_rate: float = 0.05
    freeze_projection: bool = True

    def validate(self) -> None:
        super().validate()
        check_frozen_projection(self, "dfa-cnn", "ebd-cnn")


@register_circuit
class ConvDFA(ConvEBD):
    """Direct feedback alignment (Nøkland 2016) on a convolutional or locally connected
    network: :class:`ConvEBD` with the projection frozen at its random init."""

    name = "dfa-cnn"
    agreement = _agreement("μ = 0.3, μ_L = 0.1 (the defaults learn too little in 120 updates to compare); measured "
                           "(seeds 0, 1): test loss rate 0.327 / 0.410, spikes 0.324 / 0.413; accuracy rate "
                           "0.719 / 0.428, spikes 0.714 / 0.406", learning_rate=0.3, output_rate=0.1)
    description = "direct feedback alignment, convolutional / locally connected (Nøkland 2016)"
    Parameters = ConvDFAParameters
    params: ConvDFAParameters


# ============================================================================ BP
@register_circuit
class ConvBackprop(ConvNetwork):
    """Backpropagation of the squared error through the same network, plain SGD (the
    reference): ``q_{L−1} = W_Lᵀ ε``, ``q_k = col2im(δ_{k+1} W_{k+1})`` with
    ``δ_{k+1} = f'(u_{k+1}) ⊙ q_{k+1}`` (needs weight transport)."""

    name = "backprop-cnn"
    agreement = _agreement("locally connected; measured (seeds 0, 1): test loss rate 0.342 / 0.321, spikes "
                           "0.346 / 0.324; accuracy rate 0.744 / 0.764, spikes 0.722 / 0.764",
                           connectivity="locally-connected")
    description = "backpropagation, convolutional / locally connected, plain SGD (reference)"

    def connections(self) -> list[Connection]:
        return [*super().connections(), *weight_transport_connections(self.n_layers)]

    def _modulators(self, layers: list[np.ndarray], error: np.ndarray) -> list[np.ndarray]:
        """From the readout down, with the weights before the update (non-local: weight transport)."""
        L = self.n_layers
        modulators: list[np.ndarray] = [np.empty(0)] * (L - 1)
        modulator = rules.backpropagated_error(np.swapaxes(self.state[f"weight_{L}"], -1, -2), error)
        for k in range(L - 1, 0, -1):
            modulators[k - 1] = modulator
            if k > 1:
                modulator = self.transposed(k, rules.relu_gain(layers[k]) * modulator)
        return modulators
