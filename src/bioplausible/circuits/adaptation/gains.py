"""Whitening by gain-modulating interneurons over a fixed frame (Duong, Lipshutz, Heeger,
Chklovskii & Simoncelli, ICML 2023), the form both gain circuits share
(:class:`GainModulatedWhitening`, ``M = αI + W diag(g) Wᵀ``) and the frame and gain helpers."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ...core.whitening import covariance_root
from ...rules import adaptation as rules
from ...rules.declaration import RuleBinding, StateStep
from ...validation import check_array, check_choice, check_positive, check_real
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

if TYPE_CHECKING:
    from .multi_timescale import MultiTimescaleWhiteningParameters

__all__ = ["GainModulatedWhitening", "GainWhitening", "GainWhiteningParameters", "optimal_gains", "make_frame",
           "default_frame_size", "check_initial_gains", "initial_gains"]


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
            *stimulus_and_principal(n, offset, self._principal_note),
            Population("interneuron", k, offset=offset, description="z = Wᵀy (input); output n = g∘z"),
        ]

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        frame, gains = self.state[self._frame_key], self.state["gains"]
        return {
            ("stimulus", "principal"): identity_drive(self.ensemble_size, self.n_inputs),
            ("principal", "interneuron"): np.swapaxes(frame, -1, -2),
            ("interneuron", "principal"): -frame * gains[..., None, :],
        }

    def thresholds(self) -> dict[str, np.ndarray]:
        return interneuron_thresholds(self.ensemble_size, self.state[self._frame_key], self.leak)

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
        check_sizes(self)
        if isinstance(self.frame, str):
            check_choice("frame", self.frame, ["gaussian", "mercedes"])
        else:
            frame = check_array("frame", self.frame, finite=False)
            if frame.ndim != 2 or not np.allclose(np.linalg.norm(frame, axis=0), 1.0, atol=1e-6):
                raise ValueError("frame must be 'gaussian', 'mercedes' or an N × K array with unit-norm columns")
        check_real("learning_rate", self.learning_rate, 0.0, 1.0, inclusive=False)
        if not isinstance(self.clamp_gains, bool):
            raise TypeError(f"clamp_gains must be a bool, got {self.clamp_gains!r}")
        check_initial_gains(self.initial_gains)
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
    agreement = agreement_cases({"learning_rate": 0.02, "n_interneurons": 6})
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
        gains = initial_gains(self.params.initial_gains, k)
        return {"frame": frame, "gains": gains}

    def connections(self) -> list[Connection]:
        return interneuron_connections((None, "fixed frame Wᵀ"),
                                       (rules.gain_homeostasis, "−W diag(g): the gain g_j is plastic"))

    def rule_bindings(self) -> list[RuleBinding]:
        """g is plastic by :data:`~bioplausible.rules.adaptation.GAIN_HOMEOSTASIS` toward
        ``⟨z²⟩ = 1`` (unit-norm frame); the frame W is fixed."""
        return [RuleBinding("gains", rules.GAIN_HOMEOSTASIS, "interneuron", "interneuron", {"z": "interneuron"},
                            {"learning_rate": self.params.learning_rate}, states={"target": 1.0})]

    def state_steps(self) -> list[StateStep]:
        """With ``clamp_gains``: the projection g ≥ 0 after each update."""
        if not self.params.clamp_gains:
            return []
        return [StateStep("nonnegative-gains", "gains", nonnegative, "projection onto g >= 0")]


def optimal_gains(frame: np.ndarray, covariance: np.ndarray, leak: float = 1.0) -> np.ndarray:
    """``g* = ((WᵀW)∘(WᵀW))⁻¹ diag(Wᵀ(C^{1/2} − αI)W)`` (authors' code, ``get_g_opt``).

    Least squares over the gains when K > N(N+1)/2 makes the Hadamard Gram singular.
    """
    target = covariance_root(covariance) - leak * np.eye(covariance.shape[-1])
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


def nonnegative(gains: np.ndarray) -> np.ndarray:
    return np.maximum(gains, 0.0)


def check_initial_gains(value: Any) -> None:
    gains = check_array("initial_gains", value, finite=False)
    if not np.all(np.isfinite(gains)) or gains.ndim > 1:
        raise ValueError(f"initial_gains must be a finite scalar or 1-D array, got {value!r}")


def initial_gains(value: Any, k: int) -> np.ndarray:
    """``initial_gains`` as K values: a scalar is repeated; otherwise exactly K values."""
    gains = np.asarray(value, dtype=float)
    if gains.ndim == 1 and gains.size not in (1, k):
        raise ValueError(f"initial_gains must be a scalar or {k} values (one per interneuron), got {gains.size}")
    return np.broadcast_to(gains, (k,)).copy()
