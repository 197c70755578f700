"""CorInfoMax: correlative information maximisation for source separation (Bozkurt,
Erdogan & Pehlevan, ICLR 2023; theory: :ref:`theory-separation-corinfomax`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.agreement import AgreementCase
from ...core.domains import BOX_DOMAINS, OUTPUT_DOMAINS, POLYTOPE_KEYS
from ...rules import separation as rules
from ...rules.declaration import RuleBinding
from ...validation import check_choice, check_integer, check_positive, check_real
from ..base import Batch, Connection, Population, RuleCircuit, ensemble_inputs, register_circuit
from .domains import DOMAIN_CODES, DomainParameters, polytope_masks, polytope_options, threshold_units
from .presets import CORINFOMAX_PRESETS, fill_presets, from_preset
from .solvers import corinfomax_coupling, corinfomax_settle, numba_available, off_diagonal, raise_at_divergence

__all__ = ["CorInfoMaxParameters", "CorInfoMax"]


@dataclass(frozen=True)
class CorInfoMaxParameters(DomainParameters):
    """CorInfoMax settings; ``None`` takes the per-domain default of :data:`CORINFOMAX_PRESETS`.

    ``forgetting_y``/``forgetting_e`` λ_y, λ_e (γ = (1−λ)/λ); ``initial_lateral`` c of
    ``B_y(0) = cI``; ``error_lateral`` b of the fixed ``B_e = bI``; ``learning_rate`` μ_W;
    ``neural_lr_start``/``neural_lr_stop`` the settling step schedule; ``threshold_rate`` η_λ;
    ``weight_decay`` δ of ``W ← (1 − δ)W + μ_W e xᵀ`` (the authors' batch scripts use 1e-6;
    the paper's update has none, our default);
    ``fast_path``: ``"auto"`` (compiled numba kernel when installed), ``"numba"`` or
    ``"reference"`` (respond + learn through the rule functions);
    ``spike_threshold_time_constant`` τ_λ (s) of the spiking threshold units (ℓ1, simplex and
    polytope domains, :mod:`~bioplausible.substrates.spiking.threshold`);
    ``lateral_update`` the B_y rule (:func:`~bioplausible.rules.separation.corinfomax_lateral`):
    ``"authors"`` (default, the authors' code and the paper's numbers: Sherman–Morrison
    without its normaliser, which can make B_y indefinite when ``γ_y yᵀB_y y > 1``) or
    ``"sherman-morrison"`` (ours: the exact step ``γ_y → γ_y/(1 + γ_y yᵀB_y y)``, which keeps
    B_y positive definite).
    """

    domain: str = "nonnegative-antisparse"
    n_sources: int = 5
    forgetting_y: float = from_preset()
    forgetting_e: float = from_preset()
    initial_lateral: float = from_preset()
    error_lateral: float = from_preset()
    learning_rate: float = from_preset()
    neural_lr_start: float = from_preset()
    neural_lr_stop: float = from_preset()
    threshold_rate: float = from_preset()
    max_iterations: int = 500
    tolerance: float = 1e-6
    weight_decay: float = 0.0
    fast_path: str = "auto"
    spike_threshold_time_constant: float = 0.005
    lateral_update: str = "authors"

    def __post_init__(self) -> None:
        check_choice("domain", self.domain, OUTPUT_DOMAINS)
        fill_presets(self, CORINFOMAX_PRESETS)
        super().__post_init__()

    def validate(self) -> None:
        check_integer("n_sources", self.n_sources, 1)
        check_real("forgetting_y", self.forgetting_y, 0.0, 1.0, inclusive=False)
        check_real("forgetting_e", self.forgetting_e, 0.0, 1.0, inclusive=False)
        for name in ("initial_lateral", "error_lateral", "learning_rate", "neural_lr_start", "neural_lr_stop",
                     "tolerance", "spike_threshold_time_constant"):
            check_positive(name, getattr(self, name))
        check_real("threshold_rate", self.threshold_rate, 0.0)
        check_real("weight_decay", self.weight_decay, 0.0, 1.0)
        check_integer("max_iterations", self.max_iterations, 1)
        check_choice("fast_path", self.fast_path, ["auto", "numba", "reference"])
        check_choice("lateral_update", self.lateral_update, sorted(rules.CORINFOMAX_LATERAL_FORMS))
        if self.fast_path == "numba" and not numba_available():
            raise ValueError("fast_path='numba' needs numba installed (pip install numba); use 'auto' or 'reference'")


@register_circuit
class CorInfoMax(RuleCircuit):
    """Correlative information maximisation for (correlated) source separation.

    Domains: :data:`~bioplausible.core.domains.OUTPUT_DOMAINS`; ``"polytope"`` is the mixed polytope of ``signed_dims``,
    ``nonnegative_dims`` and ``sparse_groups`` (see :func:`project_domain`).

    Per sample (batch size 1): the outputs settle by the projected recurrent dynamics
    ``y ← P_dom(y + μ_j [γ_y B_y y + γ_e B_e (ŷ − y)])``, ``ŷ = W x`` (:func:`corinfomax_settle`),
    then ``W += μ_W (y − ŷ) xᵀ`` (:func:`~rules.separation.corinfomax_feedforward`) and
    ``B_y ← (B_y − γ_y z zᵀ)/λ_y``, ``z = B_y y`` (:func:`~rules.separation.corinfomax_lateral`);
    ``B_e`` stays fixed (the authors' runs). Linear separator (unprojected fixed point):
    ``W_f = (γ_e B_e − γ_y B_y)⁻¹ γ_e B_e W``. Bozkurt, Erdogan & Pehlevan (2023), ICLR,
    arXiv 2210.04222 (dynamics and updates verified in the authors' code).

    State: ``feedforward`` W (n × m), ``lateral`` B_y (n × n), ``error_lateral`` B_e (n × n).

    Rate substrate fast path: with batch size 1, :meth:`learn_stream` runs the whole chunk in
    a compiled kernel (numba) implementing the same equations; ``fast_path="reference"``
    uses :meth:`respond` + :meth:`learn` (the rule functions) sample by sample.

    Spiking (box domains, generic integrate-and-fire route): the projected dynamics settle
    to the coordinate-wise box condition ``y_i = clip((c_i − Σ_{j≠i} A_ij y_j)/A_ii, lo, 1)``
    with ``A = γ_e B_e − γ_y B_y`` and ``c = γ_e B_e W x`` (the KKT conditions of
    ``argmin_{lo≤y≤1} ½yᵀAy − cᵀy``; A is symmetric positive definite). The outputs are IF
    units with threshold ``A_ii``, lateral jumps ``−A_ij``, drive ``γ_e B_e W x`` straight
    from the mixtures (the dendritic prediction ŷ = Wx is a compartment of the output
    neuron, declared as a non-simulated readout, not a spiking population), offset
    ``y0 = −lo`` (1 for antisparse: rates ``r0 (1 + y) ∈ [0, 2 r0]``; 0 for nonnegative
    antisparse) and ceiling 1 (a rate cap, see :mod:`bioplausible.substrates.spiking`).
    Learning per presentation calls the same :meth:`learn` on the decoded counts: ŷ is
    the readout W x of the presented x, and ``z = B_y y`` from the decoded y (:ref:`rate-to-spikes-learning`:
    ``z_i`` is the lateral input neuron i receives, a linear function of its partners'
    counts; IF count noise on ``z zᵀ`` is O(1/(r0T)²), no bias correction needed).
    ℓ1 and simplex domains: nonnegative IF outputs (offset 0, no ceiling) plus a graded
    inhibitory threshold unit, an integral controller of ``‖y‖₁ − 1`` driven by the output
    spikes (:mod:`~bioplausible.substrates.spiking.threshold`, kind
    ``"threshold-unit"``); the signed sparse domain splits each output
    into an ON/OFF pair so that the unit can sense ``|y|``. Mixed polytope (kind
    ``"polytope-groups"``): one such unit per sparse group, sensing and inhibiting only its own
    coordinates (a coordinate in several groups takes the sum of their levels), the signed
    coordinates as ON/OFF pairs, the nonnegative ones as one unit, every unit capped at 1 (the
    box). The network realises the KKT point of the QP over the polytope; with overlapping
    groups the rate loop (the authors' sequential order) stops off that point by an amount set by
    its final step size (measured 0.007 at the preset, 0.20 at ``neural_lr_stop=0.05``), so the
    substrates agree to that plus the count error (tests/features/test_polytope_spiking.py; the
    ``"polytope"`` agreement case: the paper's polytope, 1000 presentations, measured 1.7 % apart).
    """

    name = "corinfomax"
    agreement = (AgreementCase(
        "separation", {"sinr_db": (0.10, 0.0)},
        params={"n_sources": 3, "learning_rate": 0.1, "error_lateral": 200.0},
        task_options={"domain": "nonnegative-antisparse", "n_sources": 3, "n_mixtures": 6, "evaluation_samples": 1000},
        steps=500, eval_every=500, seeds=(2,),
        substrate_options={"spiking": {"rate_unit": 500.0, "presentation": 0.1, "dt": 1e-3}},
        learns={"sinr_db": ("absolute", 8.0)}, same_start=True,
        note="nonnegative antisparse, r0 T = 50: measured 23.47 (spiking) vs 25.08 dB (rate), from 10.46"),
        AgreementCase(
            "separation", {"sinr_db": (0.05, 0.0)}, name="polytope",
            params={"domain": "polytope", "n_sources": 5},
            task_options={"domain": "polytope", "n_sources": 5, "n_mixtures": 10, "evaluation_samples": 1000},
            steps=1000, eval_every=250, seeds=(1,), tail=4,
            substrate_options={"spiking": {"rate_unit": 500.0, "presentation": 0.1, "dt": 1e-3}},
            learns={"sinr_db": ("absolute", 4.0)}, same_start=True,
            note="the paper's polytope and preset, one threshold unit per group, r0 T = 50: SINR every 250 "
                 "presentations, measured 8.12 / 8.84 / 8.61 / 8.38 dB (spiking) vs 8.23 / 8.78 / 8.43 / 7.94 "
                 "(rate), from 3.36: tail means 8.49 vs 8.35 dB (1.7 %); ≈ 18 s. Seed 1: at this preset the "
                 "rate model's seeds 0 and 2 do not rise within 1000 samples (6.28 → 3.47, 2.63 → 4.62)"),
    )
    family = "separation"
    default_task = "separation"
    description = "CorInfoMax BSS: projected recurrent dynamics, prediction-error W, anti-Hebbian B_y (ICLR 2023)"
    Parameters = CorInfoMaxParameters
    # quick comparison: the fused kernel learns ~10^5 samples/s per member, so the quick run
    # affords 200k samples (measured at ρ = 0.6, 3 seeds: 26.9 ± 1.1 dB in ≈ 3 s; 10k gave 13 dB)
    quick_steps = 200_000 if numba_available() else None
    params: CorInfoMaxParameters
    task_keys = ("domain", "n_sources", *POLYTOPE_KEYS)

    def __init__(self, **parameters: Any) -> None:
        super().__init__(**parameters)
        self.last_settling_steps: np.ndarray | None = None

    # --------------------------------------------------------------- declaration
    @property
    def kind(self) -> str:
        """The dynamics a substrate builds: box domains the declared fixed point
        (``"fixed-point"``), ℓ1 and simplex domains the fixed point with one graded threshold
        unit (``"threshold-unit"``, described by :meth:`soft_threshold`), the mixed polytope
        one threshold per sparse group (``"polytope-groups"``, described by the same method)."""
        if self.params.domain == "polytope":
            return "polytope-groups"
        return "fixed-point" if self.params.domain in BOX_DOMAINS else "threshold-unit"

    def soft_threshold(self) -> dict[str, Any]:
        """The threshold units of the ℓ1-type domains and the polytope, for the spiking builder
        (:func:`~bioplausible.circuits.separation.domains.threshold_units`)."""
        return threshold_units(self.params, self.params.spike_threshold_time_constant)

    @property
    def gamma_y(self) -> float:
        return (1.0 - self.params.forgetting_y) / self.params.forgetting_y

    @property
    def gamma_e(self) -> float:
        return (1.0 - self.params.forgetting_e) / self.params.forgetting_e

    def initial_state(self, rng: np.random.Generator, n_inputs: int, n_targets: int) -> dict[str, np.ndarray]:
        n = self.params.n_sources
        if n_inputs < n:
            raise ValueError(f"CorInfoMax needs n_inputs >= n_sources={n}, got {n_inputs}")
        return {
            "feedforward": np.eye(n, n_inputs),
            "lateral": self.params.initial_lateral * np.eye(n),
            "error_lateral": self.params.error_lateral * np.eye(n),
        }

    def populations(self) -> list[Population]:
        m = self.state["feedforward"].shape[-1] if self.state else 0
        n = self.params.n_sources
        low, high = BOX_DOMAINS.get(self.params.domain, (None, None))
        return [
            Population("mixtures", m, role="input", description="mixtures x"),
            Population("prediction", n, role="readout",
                       description="dendritic prediction ŷ = W x (a compartment of the output neurons)"),
            Population("output", n, offset=-low if low is not None else 0.0, ceiling=high,
                       description=f"somatic output y, projected onto the {self.params.domain} domain"),
        ]

    def connections(self) -> list[Connection]:
        return [
            Connection("mixtures", "prediction", rules.corinfomax_feedforward, kind="dendritic",
                       description="W: post y − ŷ, pre x"),
            Connection("mixtures", "output", kind="drive",
                       description="γ_e B_e W: the dendritic prediction times the fixed error gain"),
            Connection("output", "output", rules.corinfomax_lateral, kind="lateral",
                       description="−A_ij = γ_y B_y,ij − γ_e B_e,ij (i ≠ j); A_ii in the threshold"),
        ]

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        """Couplings of the fixed point ``A y = c`` (before projection), ``A = γ_e B_e − γ_y B_y``."""
        error = self.gamma_e * self.state["error_lateral"]
        return {
            ("mixtures", "prediction"): self.state["feedforward"],
            ("mixtures", "output"): error @ self.state["feedforward"],
            ("output", "output"): -off_diagonal(corinfomax_coupling(error, self.state["lateral"], self.gamma_y)),
        }

    def thresholds(self) -> dict[str, np.ndarray]:
        """``A_ii = γ_e B_e,ii − γ_y B_y,ii`` of the outputs."""
        matrix = corinfomax_coupling(self.gamma_e * self.state["error_lateral"], self.state["lateral"], self.gamma_y)
        return {"output": np.diagonal(matrix, axis1=-2, axis2=-1).copy()}

    def separator(self) -> np.ndarray:
        """``W_f = (γ_e B_e − γ_y B_y)⁻¹ γ_e B_e W``, shape (K, n, m)."""
        error = self.gamma_e * self.state["error_lateral"]
        return np.linalg.solve(corinfomax_coupling(error, self.state["lateral"], self.gamma_y),
                               error @ self.state["feedforward"])

    # --------------------------------------------------------------- dynamics
    def respond(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        x = ensemble_inputs(inputs, self.ensemble_size, self.state["feedforward"].shape[-1])
        prediction = np.matmul(x, np.swapaxes(self.state["feedforward"], -1, -2))
        p = self.params
        output, steps, _ = corinfomax_settle(
            prediction, self.gamma_y * self.state["lateral"], self.gamma_e * self.state["error_lateral"],
            p.domain, p.neural_lr_start, p.neural_lr_stop, p.max_iterations, p.tolerance, p.threshold_rate,
            **polytope_options(p),
        )
        self.last_settling_steps = steps
        return {"mixtures": x, "prediction": prediction, "output": output}

    def rule_bindings(self) -> list[RuleBinding]:
        """W by :data:`~bioplausible.rules.separation.CORINFOMAX_FEEDFORWARD` (post y − ŷ, pre x),
        B_y by :data:`~bioplausible.rules.separation.CORINFOMAX_LATERAL` (or its Sherman–Morrison
        form, ``lateral_update``); B_e is fixed. ``learn`` is derived from these
        (:class:`~bioplausible.circuits.base.RuleCircuit`): the prediction ŷ = W x is the
        ``prediction`` readout of the activities (the rate substrate's :meth:`respond`, or the
        spiking substrate's readout of the decoded counts through :meth:`weights`)."""
        p = self.params
        return [
            RuleBinding("feedforward", rules.CORINFOMAX_FEEDFORWARD, "mixtures", "output",
                        {"x": "mixtures", "y": "output", "yhat": "prediction"},
                        {"learning_rate": p.learning_rate, "decay": p.weight_decay}),
            RuleBinding("lateral", rules.CORINFOMAX_LATERAL_FORMS[p.lateral_update], "output", "output",
                        {"y": "output"},
                        {"gamma_y": self.gamma_y, "forgetting_y": p.forgetting_y}),
        ]

    def learn_stream(self, batch: Batch) -> dict[str, np.ndarray] | None:
        """Fused per-sample settle + learn over a chunk (K, S, m), compiled with numba.

        Same equations as :meth:`respond` + :meth:`learn`; returns the activities of the
        last sample, or None when the fast path is off (the substrate then loops itself).
        The per-sample inputs and outputs of the chunk are kept in ``stream_activities``
        (the prediction ``W x`` is not kept per sample).
        """
        mode = self.params.fast_path
        if mode == "reference" or (mode == "auto" and not numba_available()):
            return None
        from .kernels import corinfomax_stream

        x = np.ascontiguousarray(
            ensemble_inputs(batch.inputs, self.ensemble_size, self.state["feedforward"].shape[-1])
        )
        if x.shape[0] != self.ensemble_size:
            x = np.ascontiguousarray(np.broadcast_to(x, (self.ensemble_size, *x.shape[1:])))
        p = self.params
        feedforward = np.ascontiguousarray(self.state["feedforward"], dtype=float)
        lateral = np.ascontiguousarray(self.state["lateral"], dtype=float)
        error_gain = np.ascontiguousarray(self.gamma_e * self.state["error_lateral"], dtype=float)
        outputs = np.zeros((x.shape[0], x.shape[1], p.n_sources))
        steps = np.zeros((x.shape[0], x.shape[1]), dtype=np.int64)
        if p.domain == "polytope":
            nonnegative, members = polytope_masks(p.n_sources, p.nonnegative_dims, p.sparse_groups)
        else:
            nonnegative, members = np.zeros(p.n_sources, dtype=bool), np.zeros((0, p.n_sources), dtype=bool)
        diverged = np.full(x.shape[0], -1, dtype=np.int64)
        corinfomax_stream(
            feedforward, lateral, error_gain, x, self.gamma_y, p.forgetting_y, p.learning_rate, p.weight_decay,
            DOMAIN_CODES[p.domain], p.neural_lr_start, p.neural_lr_stop, p.max_iterations, p.tolerance,
            p.threshold_rate, outputs, steps, nonnegative, members, diverged,
            p.lateral_update == "sherman-morrison",
        )
        self.state["feedforward"], self.state["lateral"] = feedforward, lateral
        raise_at_divergence(self, diverged)
        self.steps += x.shape[1]
        self.last_settling_steps = steps
        #: Per-sample activities of the chunk that the kernel computed (observers read them).
        self.stream_activities = {"mixtures": x, "output": outputs}
        last = x[:, -1:, :]
        return {
            "mixtures": last,
            "prediction": np.matmul(last, np.swapaxes(feedforward, -1, -2)),
            "output": outputs[:, -1:, :],
        }

