"""Online nonnegative similarity matching on prewhitened mixtures (Pehlevan, Mohan &
Chklovskii 2017, as run in CIM-BSS ``NSMBSS.py``)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ...core.agreement import AgreementCase
from ...core.trials import TrialBatch
from ...rules import separation as rules
from ...rules.declaration import RuleBinding, StateStep
from ...validation import check_integer, check_positive, check_real
from ..base import Batch, Connection, Parameters, Population, RuleCircuit, ensemble_inputs, register_circuit
from .solvers import nonnegative_fixed_point

__all__ = ["NSMParameters", "NonnegativeSimilarityMatching"]


@dataclass(frozen=True)
class NSMParameters(Parameters):
    """``n_sources`` n; ``prewhitening_samples``: samples whose covariance sets the fixed
    prewhitening (the authors whiten with all N samples in a batch step); ``rate_decay`` 0.94
    and ``rate_cap`` 3000 of the per-neuron inverse rates D (D₀ = ``initial_rate``);
    ``silent_samples``/``silent_window``: during the first ``silent_window`` learning
    samples, a neuron silent for more than ``silent_samples`` samples in a row has its
    feedforward row negated (CIM-BSS heuristic)."""

    n_sources: int = 5
    prewhitening_samples: int = 5000
    rate_decay: float = 0.94
    rate_cap: float = 3000.0
    initial_rate: float = 0.1
    silent_samples: int = 50
    silent_window: int = 1500

    def validate(self) -> None:
        check_integer("n_sources", self.n_sources, 1)
        check_integer("prewhitening_samples", self.prewhitening_samples, 2)
        check_real("rate_decay", self.rate_decay, 0.0, 1.0, inclusive=False)
        check_positive("rate_cap", self.rate_cap)
        check_positive("initial_rate", self.initial_rate)
        check_integer("silent_samples", self.silent_samples, 1)
        check_integer("silent_window", self.silent_window, 0)


@register_circuit
class NonnegativeSimilarityMatching(RuleCircuit):
    """Online nonnegative similarity matching (NSM) on prewhitened mixtures.

    ``h = W_pre x`` (noncentred application of the centred-covariance whitening of the
    first ``prewhitening_samples`` samples; no learning meanwhile), outputs at the fixed
    point ``y = [W₁ h − W₂ y]₊`` (:func:`nonnegative_fixed_point`; the authors iterate 250
    random coordinate updates), then ``D ← min(3000, 0.94 D + y²)``,
    ``W₁ += diag(1/D)(y hᵀ − diag(y²)W₁)``, ``W₂ += diag(1/D)(y yᵀ − diag(y²)W₂)``, diag W₂ = 0
    (:mod:`~rules.separation` ``nsm_*``). Separator ``(I + W₂)⁻¹ W₁ W_pre``. Pehlevan, Mohan &
    Chklovskii (2017), Neural Comput.; settings of CIM-BSS ``NSMBSS.py``.

    Spiking: the generic integrate-and-fire route realises it directly: threshold
    ``(I + W₂)_ii = 1``, lateral jumps ``−W₂,ij``, drive ``W₁ W_pre x``, offset 0.
    """

    name = "nsm"
    agreement = (AgreementCase(
        "separation", {"sinr_db": (0.05, 0.0)}, params={"n_sources": 3, "prewhitening_samples": 100},
        task_options={"domain": "nonnegative-bernoulli", "n_sources": 3, "n_mixtures": 3, "evaluation_samples": 1000},
        steps=300, eval_every=300,
        substrate_options={"spiking": {"rate_unit": 100.0, "presentation": 0.1, "dt": 1e-3}},
        learns={"sinr_db": ("absolute", 8.0)}, note="measured 20.03 (spiking) vs 19.99 dB (rate), from 5.45"),)
    family = "separation"
    default_task = "separation"
    description = "nonnegative similarity matching on prewhitened mixtures (Pehlevan et al. 2017)"
    Parameters = NSMParameters
    params: NSMParameters
    #: Full spiking runs: its whitened outputs reach 2–5 early in learning, beyond the
    #: ``1 / (r0 dt) = 2`` the task's setting codes (one spike per time step): ``r0 = 2000`` Hz,
    #: ``dt = 0.125`` ms code up to 4, at ``r0 T = 200``. Measured (n = 5, m = 10, seed 0,
    #: 20,000 presentations): 28.87 dB against 29.38 on rate; at the task's setting 5.4 dB
    #: (50,000), at r0 T = 50 or 100 with ``dt = 0.25`` ms 27.2 and 27.7 dB.
    spiking_options = {"rate_unit": 2000.0, "dt": 1.25e-4}
    task_keys = ("n_sources",)

    def initial_state(self, rng: np.random.Generator, n_inputs: int, n_targets: int) -> dict[str, np.ndarray]:
        n = self.params.n_sources
        if n_inputs < n:
            raise ValueError(f"NSM needs n_inputs >= n_sources={n}, got {n_inputs}")
        return {
            "prewhitening": np.eye(n, n_inputs),
            "feedforward": np.eye(n),
            "lateral": np.zeros((n, n)),
            "rates": np.full(n, self.params.initial_rate),
            "input_sum": np.zeros(n_inputs),
            "input_moment": np.zeros((n_inputs, n_inputs)),
            "seen": np.zeros(1),
            "silent": np.zeros(n),
        }

    @property
    def whitened(self) -> bool:
        return bool(self.state["seen"][0, 0] >= self.params.prewhitening_samples)

    def populations(self) -> list[Population]:
        m = self.state["prewhitening"].shape[-1] if self.state else 0
        return [
            Population("mixtures", m, role="input", description="mixtures x"),
            Population("output", self.params.n_sources, description="nonnegative outputs y"),
        ]

    def connections(self) -> list[Connection]:
        return [
            Connection("mixtures", "output", rules.nsm_feedforward, kind="feedforward",
                       description="W₁ W_pre (W_pre fixed after the prewhitening phase)"),
            Connection("output", "output", rules.nsm_lateral, kind="lateral", description="−W₂ (anti-Hebbian)"),
        ]

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        return {
            ("mixtures", "output"): self.state["feedforward"] @ self.state["prewhitening"],
            ("output", "output"): -self.state["lateral"],
        }

    def thresholds(self) -> dict[str, np.ndarray]:
        return {"output": np.ones((self.ensemble_size, self.params.n_sources))}

    def separator(self) -> np.ndarray:
        n = self.params.n_sources
        feedforward = self.state["feedforward"] @ self.state["prewhitening"]
        return np.linalg.solve(np.eye(n) + self.state["lateral"], feedforward)

    def respond(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        x = ensemble_inputs(inputs, self.ensemble_size, self.state["prewhitening"].shape[-1])
        drive = np.matmul(x, np.swapaxes(self.state["feedforward"] @ self.state["prewhitening"], -1, -2))
        matrix = np.eye(self.params.n_sources) + self.state["lateral"]
        return {"mixtures": x, "output": nonnegative_fixed_point(matrix, np.ascontiguousarray(drive))}

    def rule_bindings(self) -> list[RuleBinding]:
        """Phase 0: the per-neuron rates ``D`` (:data:`~rules.separation.NSM_LEARNING_RATES`);
        phase 1: ``W₁`` and ``W₂`` at the rates just updated (CIM-BSS order). Gated off during
        the prewhitening phase."""
        p = self.params
        return [
            RuleBinding("rates", rules.NSM_LEARNING_RATES, "output", "output", {"y": "output"},
                        {"decay": p.rate_decay, "cap": p.rate_cap}, gate="learning"),
            RuleBinding("feedforward", rules.NSM_FEEDFORWARD, "mixtures", "output", {"x": "whitened", "y": "output"},
                        {}, states={"D": "rates"}, phase=1, gate="learning"),
            RuleBinding("lateral", rules.NSM_LATERAL, "output", "output", {"y": "output"}, {},
                        states={"D": "rates"}, phase=1, gate="learning"),
        ]

    def rule_activities(self, activities: Mapping[str, np.ndarray], batch: Batch | TrialBatch | None
                        ) -> Mapping[str, np.ndarray]:
        """The mixtures of the batch and their prewhitened form ``h = W_pre x`` (the feedforward rule's pre)."""
        if not isinstance(batch, Batch):
            raise TypeError(f"{self.name} learns from a Batch of samples, got {type(batch).__name__}")
        x = ensemble_inputs(batch.inputs, self.ensemble_size, self.state["prewhitening"].shape[-1])
        whitened = np.matmul(x, np.swapaxes(self.state["prewhitening"], -1, -2))
        return {**activities, "mixtures": x, "whitened": whitened}

    def rule_states(self) -> Mapping[str, np.ndarray]:
        """The state, plus the gate ``learning`` (1 once the prewhitening phase is over)."""
        return {**self.state, "learning": np.full(self.ensemble_size, float(self.whitened))}

    def state_steps(self) -> list[StateStep]:
        """After the rules (phase 1): the silent-row heuristic (count, flip, reset), the
        prewhitening moments, the sample count, and at the end of the prewhitening phase
        ``W_pre`` from the moments."""
        p = self.params
        # where each step changes the state: the heuristic in its window, the whitening before it
        window = ("seen", p.prewhitening_samples, p.prewhitening_samples + p.silent_window)
        prewhitening = ("seen", float("-inf"), p.prewhitening_samples)
        return [
            StateStep("silent-count", "silent", functools.partial(_silent_count, params=p),
                      "samples in a row each output has been silent (during the silent window)", reads=("seen",),
                      activities=("output",), phase=1, active=window),
            StateStep("silent-row-flip", "feedforward", functools.partial(_silent_flip, params=p),
                      "negate the W1 row of an output silent for more than silent_samples (CIM-BSS heuristic)",
                      reads=("silent", "seen"), phase=1, active=window),
            StateStep("silent-reset", "silent", functools.partial(_silent_reset, params=p),
                      "restart the count of a flipped row", reads=("seen",), phase=1, active=window),
            StateStep("prewhitening-sum", "input_sum", functools.partial(_moment, samples=p.prewhitening_samples,
                                                                         order=1),
                      "Σ x during the prewhitening phase", reads=("seen",), activities=("mixtures",), phase=1,
                      active=prewhitening),
            StateStep("prewhitening-moment", "input_moment",
                      functools.partial(_moment, samples=p.prewhitening_samples, order=2),
                      "Σ x xᵀ during the prewhitening phase", reads=("seen",), activities=("mixtures",), phase=1,
                      active=prewhitening),
            StateStep("sample-count", "seen", _count, "samples seen", activities=("mixtures",), phase=1,
                      samplewise=True),
            StateStep("prewhitening", "prewhitening", functools.partial(_prewhitening, params=p),
                      "W_pre = Λ^{-1/2} Vᵀ of the top n eigenpairs of the centred covariance, once, at the end "
                      "of the prewhitening phase (CIM-BSS whiten_input)",
                      reads=("seen", "input_sum", "input_moment"), activities=("mixtures",), phase=1,
                      active=prewhitening),
        ]


def _silent_count(silent: np.ndarray, seen: np.ndarray, output: np.ndarray, params: NSMParameters) -> np.ndarray:
    """Counted during the silent window only (the flips read it there and nowhere else)."""
    if not _flipping(seen, params):
        return silent
    now = np.all(output == 0.0, axis=-2)
    return (silent + now) * now


def _flipping(seen: np.ndarray, params: NSMParameters) -> bool:
    learned = seen[0, 0] - params.prewhitening_samples
    return bool(learned >= 0 and learned < params.silent_window)


def _silent_flip(feedforward: np.ndarray, silent: np.ndarray, seen: np.ndarray, params: NSMParameters) -> np.ndarray:
    if not _flipping(seen, params):
        return feedforward
    flip = silent > params.silent_samples
    return np.where(flip[..., None], -feedforward, feedforward)


def _silent_reset(silent: np.ndarray, seen: np.ndarray, params: NSMParameters) -> np.ndarray:
    if not _flipping(seen, params):
        return silent
    return np.where(silent > params.silent_samples, 0.0, silent)


def _moment(total: np.ndarray, seen: np.ndarray, x: np.ndarray, samples: int, order: int) -> np.ndarray:
    if seen[0, 0] >= samples:
        return total
    return total + (x.sum(axis=-2) if order == 1 else np.matmul(np.swapaxes(x, -1, -2), x))


def _count(seen: np.ndarray, x: np.ndarray) -> np.ndarray:
    return seen + x.shape[-2]


def _prewhitening(prewhitening: np.ndarray, seen: np.ndarray, input_sum: np.ndarray, input_moment: np.ndarray,
                  x: np.ndarray, params: NSMParameters) -> np.ndarray:
    """At the end of the prewhitening phase, ``W_pre = Λ^{-1/2} Vᵀ`` from the top n eigenpairs
    of the centred covariance of the samples seen (CIM-BSS ``whiten_input``)."""
    if not seen[0, 0] - x.shape[-2] < params.prewhitening_samples <= seen[0, 0]:
        return prewhitening
    count = seen[:, :1, None]
    mean = input_sum[..., None] / count
    covariance = input_moment / count - mean @ np.swapaxes(mean, -1, -2)
    values, vectors = np.linalg.eigh(covariance)
    n = params.n_sources
    top_values, top_vectors = values[..., ::-1][..., :n], vectors[..., ::-1][..., :n]
    return np.swapaxes(top_vectors, -1, -2) / np.sqrt(top_values)[..., None]
