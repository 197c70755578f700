"""Recurrent adaptation: statistical whitening circuits (theory: :ref:`theory-adaptation`).

All four circuits descend one objective, ``f(M) = Tr(M⁻¹C) + Tr(M)``, minimised by
``M = C^{1/2}``; at the optimum the steady-state output ``y = M⁻¹x`` is white (``C_yy = I``).
They differ only in how the recurrent matrix M is built from synapses:

=============================  ==========================  =====================================
circuit                        M                           plastic elements (rule)
=============================  ==========================  =====================================
``DirectWhitening``            M (leak + lateral)          M (:func:`~rules.adaptation.recurrent_whitening`)
``InterneuronWhitening``       W Wᵀ                        W (:func:`~rules.adaptation.interneuron_whitening`)
``GainWhitening``              I + W diag(g) Wᵀ, W fixed   g (:func:`~rules.adaptation.gain_homeostasis`)
``MultiTimescaleWhitening``    αI + W diag(g) Wᵀ           g fast, W slow (+ column normalisation)
=============================  ==========================  =====================================

Papers: Lipshutz, Pehlevan & Chklovskii, ICLR 2023 (direct, interneurons); Duong, Lipshutz,
Heeger, Chklovskii & Simoncelli, ICML 2023 (gains); Duong, Simoncelli, Chklovskii &
Lipshutz, NeurIPS 2023 (gains + synapses).
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..core.agreement import AgreementCase
from ..core.whitening import whitening_error
from ..rules import adaptation as rules
from ..rules.declaration import RuleBinding, StateStep
from ..validation import check_array, check_choice, check_integer, check_positive, check_real
from .base import (
    Batch,
    Connection,
    Parameters,
    Population,
    RuleCircuit,
    ensemble_inputs,
    register_circuit,
)

__all__ = [
    "DirectWhitening",
    "InterneuronWhitening",
    "GainWhitening",
    "MultiTimescaleWhitening",
    "WhiteningCircuit",
    "GainModulatedWhitening",
    "optimal_gains",
    "make_frame",
    "default_frame_size",
]


class WhiteningCircuit(RuleCircuit):
    """Shared machinery: steady state ``y = M⁻¹x``, expected (offline) updates, PD check.
    ``learn`` is derived from each circuit's declared rules (:meth:`rule_bindings`)."""

    family = "adaptation"
    default_task = "adaptation"

    @abstractmethod
    def effective_matrix(self) -> np.ndarray:
        """The recurrent matrix M (K, n, n) of the steady state ``M y = x``."""

    #: The state array whose second-to-last axis has the input dimension.
    _input_axis_array: str = "synapses"

    @property
    def n_inputs(self) -> int:
        return int(self.state[self._input_axis_array].shape[-2])

    def respond(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        x = ensemble_inputs(inputs, self.ensemble_size, self.n_inputs)
        y = np.swapaxes(np.linalg.solve(self.effective_matrix(), np.swapaxes(x, -1, -2)), -1, -2)
        return {"stimulus": x, "principal": y, **self._interneuron_activity(y)}

    def _interneuron_activity(self, principal: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def expected_update(self, covariance: np.ndarray) -> None:
        """One offline step: the expectation of the online update under input covariance C.

        Every rule here is quadratic in the activities, so its batch mean over the ``n``
        pseudo-samples ``x_b = √n S[:, b]`` (``S Sᵀ = C``) is exactly its expectation.
        """
        covariance = np.asarray(covariance, dtype=float)
        factor = np.linalg.cholesky(covariance)
        pseudo = np.sqrt(self.n_inputs) * np.swapaxes(factor, -1, -2)
        if pseudo.ndim == 2:
            pseudo = np.broadcast_to(pseudo, (self.ensemble_size, *pseudo.shape))
        batch = Batch(np.ascontiguousarray(pseudo))
        self.learn(self.respond(batch.inputs), batch)

    def steps_to_whiten(self, covariance: np.ndarray, threshold: float = 0.1, max_steps: int = 1_000_000) -> np.ndarray:
        """Offline (expected) updates until ``‖C_yy − I‖₂ < threshold``; steps per member, (K,).

        Members that never reach the threshold get ``max_steps + 1``. Used for the
        linear-versus-logarithmic convergence result (Lipshutz et al., ICLR 2023; see
        :ref:`theory-adaptation-interneurons`).
        """
        steps = np.full(self.ensemble_size, max_steps + 1)
        for step in range(max_steps + 1):
            done = (self.whitening_error(covariance) < threshold) & (steps > max_steps)
            steps[done] = step
            if np.all(steps <= max_steps) or step == max_steps:
                break
            self.expected_update(covariance)
            self.check_finite(step + 1)
        return steps

    def whitening_error(self, covariance: np.ndarray) -> np.ndarray:
        """``‖C_yy − I‖₂`` with ``C_yy = M⁻¹ C M⁻¹`` (exact, per member), shape (K,)."""
        return whitening_error(self.effective_matrix(), covariance)

    invariant = ("effective_matrix", "no longer positive definite")

    def invariant_values(self) -> np.ndarray:
        matrix = self.effective_matrix()
        return 0.5 * (matrix + np.swapaxes(matrix, -1, -2))

    def first_invalid(self, stacked: np.ndarray) -> int | None:
        """First update whose (symmetrised) M is not positive definite (Cholesky fails)."""
        try:
            np.linalg.cholesky(stacked)
            return None
        except np.linalg.LinAlgError:
            pass
        for index, matrices in enumerate(stacked):
            try:
                np.linalg.cholesky(matrices)
            except np.linalg.LinAlgError:
                return index
        return None

    def _check_sizes(self, n_inputs: int, n_targets: int) -> None:
        super()._check_sizes(n_inputs, n_targets)
        if n_inputs < 1:
            raise ValueError(f"n_inputs must be >= 1, got {n_inputs}")


def _agreement(params: dict[str, Any]) -> tuple[AgreementCase, ...]:
    """The family's agreement case: 300 online updates of one context (N = 3) on each
    substrate, whitening error of the last 100 updates within 25 %, and halved by learning."""
    return (AgreementCase(
        "adaptation", {"whitening_error": (0.25, 0.0)}, params=params,
        task_options={"n_inputs": 3, "n_contexts": 1, "samples_per_context": 300}, eval_every=25, tail=4,
        substrate_options={"spiking": {"rate_unit": 50.0, "presentation": 0.1, "dt": 5e-4}},
        learns={"whitening_error": ("relative", -0.5)}, same_start=True,
        note="300 online updates, r0 T = 5, mean of the last 100 updates; was test_adaptation_spiking"),)


def _stimulus_and_principal(n: int, offset: float, principal_note: str) -> list[Population]:
    return [
        Population("stimulus", n, role="input", description="input x (the task's samples)"),
        Population("principal", n, offset=offset, description=principal_note),
    ]


# ============================================================================ direct
@dataclass(frozen=True)
class DirectWhiteningParameters(Parameters):
    """``learning_rate`` η; ``initial_scale`` c of ``M₀ = cI``; ``spike_offset`` y0 of offset coding."""

    n_inputs: int | None = None
    learning_rate: float = 3e-3
    initial_scale: float = 1.0
    spike_offset: float = 4.0

    def validate(self) -> None:
        if self.n_inputs is not None:
            check_integer("n_inputs", self.n_inputs, 1)
        check_real("learning_rate", self.learning_rate, 0.0, 1.0, inclusive=False)
        check_positive("initial_scale", self.initial_scale)
        check_positive("spike_offset", self.spike_offset)


@register_circuit
class DirectWhitening(WhiteningCircuit):
    """Whitening by direct recurrent (lateral + leak) weights.

    Fast dynamics ``dy/dτ = x − M y`` settle to ``y = M⁻¹x``; per sample
    ``ΔM = η (y yᵀ − I)`` (:func:`bioplausible.rules.adaptation.recurrent_whitening`).
    Averaged flow ``dM/dt = −∇f``: from a large initial spectrum c, convergence time grows
    *linearly* in c. Lipshutz, Pehlevan & Chklovskii (2023), ICLR, Algorithm 1 (derived).
    State: ``recurrent`` = M.
    """

    name = "direct-whitening"
    agreement = _agreement({"learning_rate": 0.02})
    description = "whitening with direct recurrent weights, ΔM = η(yyᵀ − I) (Lipshutz et al., ICLR 2023)"
    Parameters = DirectWhiteningParameters
    params: DirectWhiteningParameters
    # quick comparison (3 inputs, 2 contexts of 600 samples; measured, 8 seeds, rate: final error
    # 0.22 ± 0.05, every context recovered below 0.5; at the former 0.03, 0.59 ± 0.28)
    quick_params = {"learning_rate": 0.005}
    _input_axis_array = "recurrent"

    def initial_state(self, rng: np.random.Generator, n_inputs: int, n_targets: int) -> dict[str, np.ndarray]:
        return {"recurrent": self.params.initial_scale * np.eye(n_inputs)}

    def effective_matrix(self) -> np.ndarray:
        return self.state["recurrent"]

    def populations(self) -> list[Population]:
        n = self.n_inputs if self.state else (self.params.n_inputs or 0)
        return _stimulus_and_principal(n, self.params.spike_offset, "whitened output y = M⁻¹x")

    def connections(self) -> list[Connection]:
        return [
            Connection("stimulus", "principal", kind="drive", description="one-to-one input"),
            Connection("principal", "principal", rules.recurrent_whitening, kind="lateral",
                       description="anti-Hebbian lateral inhibition −M_ij (i ≠ j); leak M_ii"),
        ]

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        recurrent = self.state["recurrent"]
        lateral = -(recurrent - _diagonal_matrix(recurrent))
        return {
            ("stimulus", "principal"): _identity(self.ensemble_size, self.n_inputs),
            ("principal", "principal"): lateral,
        }

    def thresholds(self) -> dict[str, np.ndarray]:
        return {"principal": np.diagonal(self.state["recurrent"], axis1=-2, axis2=-1).copy()}

    def rule_bindings(self) -> list[RuleBinding]:
        """M (leak and lateral) is plastic by :data:`~bioplausible.rules.adaptation.RECURRENT_WHITENING`."""
        return [RuleBinding("recurrent", rules.RECURRENT_WHITENING, "principal", "principal", {"y": "principal"},
                            {"learning_rate": self.params.learning_rate})]


# ============================================================================ interneurons
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
        if self.n_inputs is not None:
            check_integer("n_inputs", self.n_inputs, 1)
        if self.n_interneurons is not None:
            check_integer("n_interneurons", self.n_interneurons, 1)
            if self.n_inputs is not None and self.n_interneurons < self.n_inputs:
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
    agreement = _agreement({"learning_rate": 0.02, "leak": 0.25})
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
        n, k = self.state["synapses"].shape[-2:]
        return {
            "principal": np.full((self.ensemble_size, n), self.params.leak),
            "interneuron": np.ones((self.ensemble_size, k)),
        }

    def _interneuron_activity(self, principal: np.ndarray) -> dict[str, np.ndarray]:
        return {"interneuron": principal @ self.state["synapses"]}

    def populations(self) -> list[Population]:
        n = self.n_inputs if self.state else (self.params.n_inputs or 0)
        k = self.state["synapses"].shape[-1] if self.state else (self.params.n_interneurons or n)
        return [
            *_stimulus_and_principal(n, self.params.spike_offset, "whitened output y = (WWᵀ)⁻¹x"),
            Population("interneuron", k, offset=self.params.spike_offset, description="n = Wᵀy"),
        ]

    def connections(self) -> list[Connection]:
        return [
            Connection("stimulus", "principal", kind="drive"),
            Connection("principal", "interneuron", rules.interneuron_whitening, kind="feedforward",
                       description="excitatory Wᵀ, Hebbian with decay"),
            Connection("interneuron", "principal", rules.interneuron_whitening, kind="feedback",
                       description="inhibitory −W, tied to the forward synapses"),
        ]

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        synapses = self.state["synapses"]
        return {
            ("stimulus", "principal"): _identity(self.ensemble_size, self.n_inputs),
            ("principal", "interneuron"): np.swapaxes(synapses, -1, -2),
            ("interneuron", "principal"): -synapses,
        }

    def rule_bindings(self) -> list[RuleBinding]:
        """W (stored primary × interneuron) is plastic by
        :data:`~bioplausible.rules.adaptation.INTERNEURON_WHITENING` (declared on Wᵀ)."""
        return [RuleBinding("synapses", rules.INTERNEURON_WHITENING, "principal", "interneuron",
                            {"y": "principal", "n": "interneuron"}, {"learning_rate": self.params.learning_rate},
                            transposed=True)]


# ============================================================================ gains
class GainModulatedWhitening(WhiteningCircuit):
    """Shared form of the two gain circuits: ``M = αI + W diag(g) Wᵀ`` over N primary neurons
    and K interneurons, ``z = Wᵀy`` the interneurons' input and ``g∘z`` their output. The
    subclass names the state array holding W (:attr:`_frame_key`) and the leak α."""

    #: The state array holding W (N × K) (also the array whose rows are the inputs).
    _frame_key: ClassVar[str]
    params: GainWhiteningParameters | MultiTimescaleWhiteningParameters
    #: The principal population's description.
    _principal_note: ClassVar[str]

    @property
    def leak(self) -> float:
        """α of ``M = αI + W diag(g) Wᵀ``."""
        return 1.0

    def effective_matrix(self) -> np.ndarray:
        frame, gains = self.state[self._frame_key], self.state["gains"]
        return self.leak * np.eye(frame.shape[-2]) + (frame * gains[..., None, :]) @ np.swapaxes(frame, -1, -2)

    def _interneuron_activity(self, principal: np.ndarray) -> dict[str, np.ndarray]:
        return {"interneuron": principal @ self.state[self._frame_key]}

    def populations(self) -> list[Population]:
        n = self.n_inputs if self.state else (self.params.n_inputs or 0)
        k = (self.state[self._frame_key].shape[-1] if self.state
             else (self.params.n_interneurons or default_frame_size(n)))
        offset = self.params.spike_offset
        return [
            *_stimulus_and_principal(n, offset, self._principal_note),
            Population("interneuron", k, offset=offset, description="z = Wᵀy (input); output n = g∘z"),
        ]

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        frame, gains = self.state[self._frame_key], self.state["gains"]
        return {
            ("stimulus", "principal"): _identity(self.ensemble_size, self.n_inputs),
            ("principal", "interneuron"): np.swapaxes(frame, -1, -2),
            ("interneuron", "principal"): -frame * gains[..., None, :],
        }

    def thresholds(self) -> dict[str, np.ndarray]:
        n, k = self.state[self._frame_key].shape[-2:]
        return {
            "principal": np.full((self.ensemble_size, n), self.leak),
            "interneuron": np.ones((self.ensemble_size, k)),
        }

    def optimal_gains(self, covariance: np.ndarray) -> np.ndarray:
        """``g*(W, C)`` whitening ``covariance`` exactly with the current W, (K, k)."""
        return optimal_gains(self.state[self._frame_key], covariance, leak=self.leak)


@dataclass(frozen=True)
class GainWhiteningParameters(Parameters):
    """``frame``: "gaussian" (normalised Gaussian), "mercedes" (N = 2, K = 3) or an explicit
    N × K array with unit-norm columns; ``n_interneurons`` K (default ``2N(N+1)``, four times
    the minimum N(N+1)/2: with K = N(N+1)/2 a Gaussian frame's Hadamard Gram is ill-conditioned
    and one-sample gain updates whiten the default task's contexts in 1 of 4; pass
    ``n_interneurons=N(N+1)//2`` for the paper's minimal frame);
    ``clamp_gains`` projects g ≥ 0 after each step; ``initial_gains`` g₀ (scalar or K values)."""

    n_inputs: int | None = None
    n_interneurons: int | None = None
    frame: Any = "gaussian"
    learning_rate: float = 1e-3
    clamp_gains: bool = False
    initial_gains: Any = 0.0
    spike_offset: float = 4.0

    def validate(self) -> None:
        if self.n_inputs is not None:
            check_integer("n_inputs", self.n_inputs, 1)
        if self.n_interneurons is not None:
            check_integer("n_interneurons", self.n_interneurons, 1)
        if isinstance(self.frame, str):
            check_choice("frame", self.frame, ["gaussian", "mercedes"])
        else:
            frame = check_array("frame", self.frame, finite=False)
            if frame.ndim != 2 or not np.allclose(np.linalg.norm(frame, axis=0), 1.0, atol=1e-6):
                raise ValueError("frame must be 'gaussian', 'mercedes' or an N × K array with unit-norm columns")
        check_real("learning_rate", self.learning_rate, 0.0, 1.0, inclusive=False)
        if not isinstance(self.clamp_gains, bool):
            raise TypeError(f"clamp_gains must be a bool, got {self.clamp_gains!r}")
        _check_initial_gains(self.initial_gains)
        check_positive("spike_offset", self.spike_offset)


@register_circuit
class GainWhitening(GainModulatedWhitening):
    """Whitening by gain-modulating interneurons over a fixed overcomplete frame.

    ``M = I + W diag(g) Wᵀ`` with W (N × K) fixed and unit-norm; ``z = Wᵀy``; per sample
    ``Δg = η (z∘z − 1)`` (:func:`bioplausible.rules.adaptation.gain_homeostasis`), optionally
    projected to g ≥ 0. Exact whitening when ``{w_i w_iᵀ}`` spans the symmetric matrices
    (K ≥ N(N+1)/2). Duong, Lipshutz, Heeger, Chklovskii & Simoncelli (2023), ICML, Alg. 1.
    State: ``frame`` = W (fixed), ``gains`` = g.
    """

    name = "gain-whitening"
    agreement = _agreement({"learning_rate": 0.02, "n_interneurons": 6})
    description = "whitening by gain-modulating interneurons, Δg = η(z² − 1) (Duong et al., ICML 2023)"
    Parameters = GainWhiteningParameters
    params: GainWhiteningParameters
    # quick comparison (measured, 8 seeds: 0.31 ± 0.08, every context recovered; at 0.01, 0.80 ± 0.42)
    quick_params = {"learning_rate": 0.002}
    _frame_key = _input_axis_array = "frame"
    _principal_note = "whitened output y = (I + WGWᵀ)⁻¹x"

    def initial_state(self, rng: np.random.Generator, n_inputs: int, n_targets: int) -> dict[str, np.ndarray]:
        frame = make_frame(self.params.frame, n_inputs, self.params.n_interneurons, rng)
        k = frame.shape[1]
        if k < n_inputs * (n_inputs + 1) // 2:
            warnings.warn(
                f"GainWhitening with K={k} < N(N+1)/2={n_inputs * (n_inputs + 1) // 2} interneurons "
                "cannot whiten every covariance exactly", stacklevel=3,
            )
        gains = _initial_gains(self.params.initial_gains, k)
        return {"frame": frame, "gains": gains}

    def connections(self) -> list[Connection]:
        return [
            Connection("stimulus", "principal", kind="drive"),
            Connection("principal", "interneuron", kind="feedforward", description="fixed frame Wᵀ"),
            Connection("interneuron", "principal", rules.gain_homeostasis, kind="feedback",
                       description="−W diag(g): the gain g_j is plastic"),
        ]

    def rule_bindings(self) -> list[RuleBinding]:
        """g is plastic by :data:`~bioplausible.rules.adaptation.GAIN_HOMEOSTASIS` toward
        ``⟨z²⟩ = 1`` (unit-norm frame); the frame W is fixed."""
        return [RuleBinding("gains", rules.GAIN_HOMEOSTASIS, "interneuron", "interneuron", {"z": "interneuron"},
                            {"learning_rate": self.params.learning_rate}, states={"target": 1.0})]

    def state_steps(self) -> list[StateStep]:
        """With ``clamp_gains``: the projection g ≥ 0 after each update."""
        if not self.params.clamp_gains:
            return []
        return [StateStep("nonnegative-gains", "gains", _nonnegative, "projection onto g >= 0")]


# ============================================================================ gains + synapses
@dataclass(frozen=True)
class MultiTimescaleWhiteningParameters(Parameters):
    """``gain_rate`` η_g (fast), ``synapse_rate`` η_w (slow, ≪ η_g), ``leak`` α,
    ``renormalize`` columns of W after each step; ``n_interneurons`` K (default ``2N(N+1)``,
    an overcomplete set on which gains alone can whiten any context, as in gain whitening;
    the NeurIPS synthetic setting has K = N with a context-invariant basis to learn: pass
    ``n_interneurons=N`` and ``contexts="basis"`` for it)."""

    n_inputs: int | None = None
    n_interneurons: int | None = None
    gain_rate: float = 1e-3
    synapse_rate: float = 1e-4
    leak: float = 1.0
    renormalize: bool = True
    initial_gains: Any = 0.0
    spike_offset: float = 4.0

    def validate(self) -> None:
        if self.n_inputs is not None:
            check_integer("n_inputs", self.n_inputs, 1)
        if self.n_interneurons is not None:
            check_integer("n_interneurons", self.n_interneurons, 1)
        check_real("gain_rate", self.gain_rate, 0.0, 1.0, inclusive=False)
        check_real("synapse_rate", self.synapse_rate, 0.0, 1.0)
        check_positive("leak", self.leak)
        if not isinstance(self.renormalize, bool):
            raise TypeError(f"renormalize must be a bool, got {self.renormalize!r}")
        _check_initial_gains(self.initial_gains)
        check_positive("spike_offset", self.spike_offset)


@register_circuit
class MultiTimescaleWhitening(GainModulatedWhitening):
    """Fast gain modulation and slow synaptic plasticity.

    ``r = (αI + W diag(g) Wᵀ)⁻¹ s``, ``z = Wᵀr``, ``n = g∘z``; fast
    ``Δg = η_g (z∘z − ‖w_i‖²)`` (:func:`~bioplausible.rules.adaptation.gain_homeostasis`),
    slow ``ΔW = η_w (r nᵀ − W diag(g))``
    (:func:`~bioplausible.rules.adaptation.gain_modulated_hebbian`), columns renormalised.
    The synapses drift toward a context-invariant basis so that gains alone adapt.
    Duong, Simoncelli, Chklovskii & Lipshutz (2023), NeurIPS.
    State: ``synapses`` = W (N × K), ``gains`` = g.
    """

    name = "multi-timescale-whitening"
    agreement = _agreement({"gain_rate": 0.02, "synapse_rate": 5e-3, "n_interneurons": 3})
    description = "fast gains + slow synapses, Δg = η_g(z² − ‖w‖²), ΔW = η_w(rnᵀ − WG) (Duong et al., NeurIPS 2023)"
    Parameters = MultiTimescaleWhiteningParameters
    params: MultiTimescaleWhiteningParameters
    # quick comparison (measured, 8 seeds: 0.30 ± 0.08, every context recovered; at 0.01 / 2e-3, 0.80 ± 0.42)
    quick_params = {"gain_rate": 0.002, "synapse_rate": 4e-4}
    _frame_key = _input_axis_array = "synapses"
    _principal_note = "whitened output r = (αI + WGWᵀ)⁻¹s"

    @property
    def leak(self) -> float:
        return self.params.leak

    def initial_state(self, rng: np.random.Generator, n_inputs: int, n_targets: int) -> dict[str, np.ndarray]:
        k = self.params.n_interneurons or default_frame_size(n_inputs)
        synapses = rules.normalize_columns(rng.standard_normal((n_inputs, k)))
        gains = _initial_gains(self.params.initial_gains, k)
        return {"synapses": synapses, "gains": gains}

    def connections(self) -> list[Connection]:
        return [
            Connection("stimulus", "principal", kind="drive"),
            Connection("principal", "interneuron", rules.gain_modulated_hebbian, kind="feedforward",
                       description="Wᵀ, slow Hebbian with gain-scaled decay"),
            Connection("interneuron", "principal", rules.gain_homeostasis, kind="feedback",
                       description="−W diag(g): fast gains, slow W (tied)"),
        ]

    def rule_bindings(self) -> list[RuleBinding]:
        """Fast g by :data:`~bioplausible.rules.adaptation.GAIN_HOMEOSTASIS` toward each
        interneuron's synaptic norm ``‖w_j‖²``; slow W (stored primary × interneuron) by
        :data:`~bioplausible.rules.adaptation.GAIN_MODULATED_HEBBIAN` (declared on Wᵀ)."""
        return [
            RuleBinding("gains", rules.GAIN_HOMEOSTASIS, "interneuron", "interneuron", {"z": "interneuron"},
                        {"learning_rate": self.params.gain_rate}, states={"target": "synaptic_norms"}),
            RuleBinding("synapses", rules.GAIN_MODULATED_HEBBIAN, "principal", "interneuron",
                        {"r": "principal", "z": "interneuron"}, {"learning_rate": self.params.synapse_rate},
                        transposed=True, states={"g": "gains"}),
        ]

    def rule_states(self) -> dict[str, np.ndarray]:
        """The state arrays and each interneuron's squared synaptic norm ``‖w_j‖²`` (K, k)."""
        return {**self.state, "synaptic_norms": np.sum(self.state["synapses"] ** 2, axis=-2)}

    def state_steps(self) -> list[StateStep]:
        """With ``renormalize``: each column of W rescaled to unit norm after each update."""
        if not self.params.renormalize:
            return []
        return [StateStep("unit-norm-columns", "synapses", rules.normalize_columns,
                          "per-interneuron synaptic scaling to ‖w_j‖ = 1")]

    def interneuron_basis(self) -> np.ndarray:
        """The learned synaptic basis W (K, N, K_int), compared with a generative basis."""
        return self.state["synapses"]


# ============================================================================ helpers
def optimal_gains(frame: np.ndarray, covariance: np.ndarray, leak: float = 1.0) -> np.ndarray:
    """``g* = ((WᵀW)∘(WᵀW))⁻¹ diag(Wᵀ(C^{1/2} − αI)W)`` (authors' code, ``get_g_opt``).

    Least squares over the gains when K > N(N+1)/2 makes the Hadamard Gram singular.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    root = (eigenvectors * np.sqrt(eigenvalues)[..., None, :]) @ np.swapaxes(eigenvectors, -1, -2)
    target = root - leak * np.eye(covariance.shape[-1])
    gram = np.swapaxes(frame, -1, -2) @ frame
    projections = np.einsum("...ik,...ij,...jk->...k", frame, target, frame)
    hadamard = gram * gram
    return np.linalg.lstsq(hadamard, projections[..., None], rcond=None)[0][..., 0] if hadamard.ndim == 2 else \
        np.stack([np.linalg.lstsq(h, p, rcond=None)[0] for h, p in zip(hadamard, projections)])


def default_frame_size(n_inputs: int) -> int:
    """Default number of frame interneurons K = 2N(N+1), four times the minimum N(N+1)/2."""
    return 2 * n_inputs * (n_inputs + 1)


def make_frame(kind: Any, n_inputs: int, n_interneurons: int | None, rng: np.random.Generator) -> np.ndarray:
    """A unit-norm frame W (N × K): "gaussian", "mercedes" (N = 2, K = 3) or an explicit array."""
    if isinstance(kind, str) and kind == "mercedes":
        if n_inputs != 2:
            raise ValueError(f"frame='mercedes' needs n_inputs=2, got {n_inputs}")
        angles = np.pi / 2 + np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3])
        return np.stack([np.cos(angles), np.sin(angles)])
    if isinstance(kind, str):
        k = n_interneurons or default_frame_size(n_inputs)
        return rules.normalize_columns(rng.standard_normal((n_inputs, k)))
    frame = np.asarray(kind, dtype=float)
    if frame.shape[0] != n_inputs:
        raise ValueError(f"frame must have n_inputs={n_inputs} rows, got shape {frame.shape}")
    return frame.copy()


def _identity(ensemble_size: int, n: int) -> np.ndarray:
    return np.broadcast_to(np.eye(n), (ensemble_size, n, n)).copy()


def _diagonal_matrix(matrices: np.ndarray) -> np.ndarray:
    return np.eye(matrices.shape[-1]) * np.diagonal(matrices, axis1=-2, axis2=-1)[..., None, :]


def _nonnegative(gains: np.ndarray) -> np.ndarray:
    return np.maximum(gains, 0.0)


def _check_initial_gains(value: Any) -> None:
    gains = check_array("initial_gains", value, finite=False)
    if not np.all(np.isfinite(gains)) or gains.ndim > 1:
        raise ValueError(f"initial_gains must be a finite scalar or 1-D array, got {value!r}")


def _initial_gains(value: Any, k: int) -> np.ndarray:
    """``initial_gains`` as K values: a scalar is repeated; otherwise exactly K values."""
    gains = np.asarray(value, dtype=float)
    if gains.ndim == 1 and gains.size not in (1, k):
        raise ValueError(f"initial_gains must be a scalar or {k} values (one per interneuron), got {gains.size}")
    return np.broadcast_to(gains, (k,)).copy()
