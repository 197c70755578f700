"""Whitening through a population of Hebbian interneurons (Lipshutz, Pehlevan & Chklovskii,
ICLR 2023, Algorithm 2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...rules import adaptation as rules
from ...rules.declaration import RuleBinding
from ...validation import check_positive, check_real
from ..base import Connection, Parameters, Population, register_circuit
from .base import (
    WhiteningCircuit,
    agreement_cases,
    check_sizes,
    identity_drive,
    interneuron_connections,
    interneuron_thresholds,
    stimulus_and_principal,
)

__all__ = ["InterneuronWhitening", "InterneuronWhiteningParameters"]


@dataclass(frozen=True)
class InterneuronWhiteningParameters(Parameters):
    """``n_interneurons`` k ≥ n (default n); ``initial_scale`` c with ``W₀W₀ᵀ = cI``;
    ``leak`` α of the primary neurons (``M = αI + WWᵀ``). The default α = 0.1 runs on both
    substrates; the paper's circuit has α = 0 (perfect integrators, rate substrate only), which
    reproductions pass explicitly (``leak=0.0``)."""

    n_inputs: int | None = None
    n_interneurons: int | None = None
    learning_rate: float = 2e-3
    initial_scale: float = 1.0
    leak: float = 0.1
    spike_offset: float = 4.0

    def validate(self) -> None:
        check_sizes(self)
        if self.n_interneurons is not None and self.n_inputs is not None and self.n_interneurons < self.n_inputs:
            raise ValueError(
                f"n_interneurons must be >= n_inputs={self.n_inputs} (W Wᵀ must be full rank), "
                f"got {self.n_interneurons}"
            )
        check_real("learning_rate", self.learning_rate, 0.0, 1.0, inclusive=False)
        check_positive("initial_scale", self.initial_scale)
        check_real("leak", self.leak, 0.0)
        check_positive("spike_offset", self.spike_offset)


@register_circuit
class InterneuronWhitening(WhiteningCircuit):
    """Whitening through a population of interneurons.

    ``y = x − W n``, ``n = Wᵀ y`` settle to ``y = (W Wᵀ)⁻¹ x``; per sample
    ``ΔW = η (y nᵀ − W)`` (:func:`bioplausible.rules.adaptation.interneuron_whitening`),
    the same change on both directions. The averaged flow is the direct flow preconditioned
    by M, so convergence time grows only *logarithmically* in the initial spectrum.
    Lipshutz, Pehlevan & Chklovskii (2023), ICLR, Algorithm 2 (derived).
    State: ``synapses`` = W (n × k), ``W₀ = √c [I 0] R`` with R a random rotation.

    The paper's primary neurons are perfect integrators (``leak = 0``): their steady state
    is not the rate of an integrate-and-fire unit, so the spiking substrate needs a leak
    α > 0 (``M = αI + WWᵀ``, threshold α), which whitens inputs with ``C^{1/2} ⪰ αI``.
    The default is α = 0.1, so the default circuit runs on both substrates; pass
    ``leak=0.0`` for the paper's circuit (rate only).
    """

    name = "interneuron-whitening"
    agreement = agreement_cases({"learning_rate": 0.02, "leak": 0.25})
    description = "whitening via Hebbian interneurons, ΔW = η(ynᵀ − W) (Lipshutz et al., ICLR 2023)"
    Parameters = InterneuronWhiteningParameters
    params: InterneuronWhiteningParameters
    # quick comparison (measured, 8 seeds: 0.26 ± 0.08, every context recovered; at 0.03, 0.84 ± 0.55)
    quick_params = {"learning_rate": 0.004}

    def _check_sizes(self, n_inputs: int, n_targets: int) -> None:
        super()._check_sizes(n_inputs, n_targets)
        k = self.params.n_interneurons
        if k is not None and k < n_inputs:
            raise ValueError(f"n_interneurons must be >= n_inputs={n_inputs}, got {k}")

    def initial_state(self, rng: np.random.Generator, n_inputs: int, n_targets: int) -> dict[str, np.ndarray]:
        k = self.params.n_interneurons or n_inputs
        rotation, _ = np.linalg.qr(rng.standard_normal((k, k)))
        embedding = np.eye(n_inputs, k)
        return {"synapses": np.sqrt(self.params.initial_scale) * embedding @ rotation}

    def effective_matrix(self) -> np.ndarray:
        synapses = self.state["synapses"]
        return self.params.leak * np.eye(synapses.shape[-2]) + synapses @ np.swapaxes(synapses, -1, -2)

    def thresholds(self) -> dict[str, np.ndarray]:
        return interneuron_thresholds(self.ensemble_size, self.state["synapses"], self.params.leak)

    def _interneuron_activity(self, principal: np.ndarray) -> dict[str, np.ndarray]:
        return {"interneuron": principal @ self.state["synapses"]}

    def populations(self) -> list[Population]:
        n = self.n_inputs if self.state else (self.params.n_inputs or 0)
        k = self.state["synapses"].shape[-1] if self.state else (self.params.n_interneurons or n)
        return [
            *stimulus_and_principal(n, self.params.spike_offset, "whitened output y = (WWᵀ)⁻¹x"),
            Population("interneuron", k, offset=self.params.spike_offset, description="n = Wᵀy"),
        ]

    def connections(self) -> list[Connection]:
        return interneuron_connections((rules.interneuron_whitening, "excitatory Wᵀ, Hebbian with decay"),
                                       (rules.interneuron_whitening, "inhibitory −W, tied to the forward synapses"))

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        synapses = self.state["synapses"]
        return {
            ("stimulus", "principal"): identity_drive(self.ensemble_size, self.n_inputs),
            ("principal", "interneuron"): np.swapaxes(synapses, -1, -2),
            ("interneuron", "principal"): -synapses,
        }

    def rule_bindings(self) -> list[RuleBinding]:
        """W (stored primary × interneuron) is plastic by
        :data:`~bioplausible.rules.adaptation.INTERNEURON_WHITENING` (declared on Wᵀ)."""
        return [RuleBinding("synapses", rules.INTERNEURON_WHITENING, "principal", "interneuron",
                            {"y": "principal", "n": "interneuron"}, {"learning_rate": self.params.learning_rate},
                            transposed=True)]
