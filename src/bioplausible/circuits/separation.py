"""Blind source separation circuits (theory: :ref:`theory-separation`).

=================================  ===========================================================
circuit                            network
=================================  ===========================================================
``CorInfoMax``                     x → y with a dendritic prediction ŷ = Wx, lateral B_y and an
                                   output projection onto the source domain (Bozkurt, Erdogan &
                                   Pehlevan, ICLR 2023)
``NonnegativeSimilarityMatching``  prewhitening, then y = [W₁h − W₂y]₊ (Pehlevan et al. 2017,
                                   as run in CIM-BSS ``NSMBSS.py``)
``DetMaxWSM``                      two layers x → h → y, lateral M_H, M_Y, gains D1, D2 (Bozkurt,
                                   Pehlevan & Erdogan, NeurIPS 2022)
``NonnegativeICA``                 Bio-NICA: y = argmin_{y≥0} ½yᵀMy − (Wx)ᵀy with direct lateral M
                                   or M = PPᵀ through interneurons (Lipshutz, Pehlevan &
                                   Chklovskii, Biol. Cybern. 2022)
=================================  ===========================================================

Every circuit exposes ``separator()`` → (K, n, m), its overall *linear* map from mixtures to
outputs, which the task scores with SINR.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.agreement import AgreementCase
from ..core.domains import BOX_DOMAINS, DOMAINS, OUTPUT_DOMAINS, POLYTOPE_KEYS
from ..rules import separation as rules
from ..rules.declaration import RuleBinding
from ..validation import (
    check_choice,
    check_integer,
    check_pair,
    check_polytope_structure,
    check_positive,
    check_real,
)
from .base import (
    Batch,
    Circuit,
    Connection,
    Parameters,
    Population,
    ensemble_inputs,
    register_circuit,
)

__all__ = [
    "DOMAINS",
    "OUTPUT_DOMAINS",
    "CorInfoMax",
    "NonnegativeSimilarityMatching",
    "NonnegativeICA",
    "DetMaxWSM",
    "CORINFOMAX_PRESETS",
    "DETMAX_PRESETS",
    "project_domain",
    "threshold_shape",
    "corinfomax_settle",
    "nonnegative_fixed_point",
    "numba_available",
]

_DOMAIN_CODE = {name: code for code, name in enumerate(OUTPUT_DOMAINS)}
_BOX_DOMAINS = BOX_DOMAINS

#: Per-domain defaults (the authors' simulation scripts): λ_y, λ_e, B_y(0) scale,
#: B_e scale, μ_W, neural lr_start, lr_stop, threshold rate η_λ.
CORINFOMAX_PRESETS: dict[str, dict[str, float]] = {
    "antisparse": dict(forgetting_y=0.99, forgetting_e=0.99, initial_lateral=5.0, error_lateral=1e4,
                       learning_rate=0.03, neural_lr_start=0.9, neural_lr_stop=1e-3, threshold_rate=0.0),
    "nonnegative-antisparse": dict(forgetting_y=0.99, forgetting_e=1 - 0.1 / 3, initial_lateral=5.0,
                                   error_lateral=2000.0, learning_rate=0.03, neural_lr_start=0.9,
                                   neural_lr_stop=1e-3, threshold_rate=0.0),
    "sparse": dict(forgetting_y=0.99, forgetting_e=0.99, initial_lateral=1.0, error_lateral=1000.0,
                   learning_rate=0.03, neural_lr_start=0.1, neural_lr_stop=1e-3, threshold_rate=1.0),
    "nonnegative-sparse": dict(forgetting_y=0.99, forgetting_e=0.99, initial_lateral=5.0, error_lateral=1000.0,
                               learning_rate=0.03, neural_lr_start=0.1, neural_lr_stop=1e-3, threshold_rate=1.0),
    "simplex": dict(forgetting_y=0.99, forgetting_e=0.99, initial_lateral=5.0, error_lateral=1000.0,
                    learning_rate=0.03, neural_lr_start=0.1, neural_lr_stop=1e-3, threshold_rate=0.05),
    # CIM-BSS Simulations/General_Polytope/CorInfoMax_GeneralPolytope5dimV4.py, setup 1 (setup 2:
    # B_e = 2500 I). η_λ: the script leaves fit_batch_general_polytope's default stlambd_lr = 0.05
    # (the paper's table says 1); in our runs (3 seeds, 60k samples) η_λ = 1 gave the same SINR
    # within 0.2 dB at every evaluation.
    "polytope": dict(forgetting_y=0.99, forgetting_e=0.99, initial_lateral=5.0, error_lateral=1000.0,
                     learning_rate=0.05, neural_lr_start=0.1, neural_lr_stop=1e-10, threshold_rate=0.05),
}


def numba_available() -> bool:
    """Whether the compiled fast paths (CorInfoMax, Det-Max) can be used."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


# ============================================================================ projections
def project_domain(
    values: np.ndarray,
    threshold: np.ndarray,
    domain: str,
    threshold_rate: float,
    *,
    nonnegative_dims: tuple[int, ...] | None = None,
    sparse_groups: tuple[tuple[int, ...], ...] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One step of the output nonlinearity ``P_dom`` (:ref:`theory-separation-domains`), vectorised over rows.

    Boxes: clipping. ℓ1 and simplex domains: soft threshold by the inhibitory unit's
    ``λ`` (``threshold``, one per row), then ``λ ← max(λ + η_λ(‖y‖₁ − 1), 0)`` (simplex:
    ``λ ← λ + η_λ(Σy − 1)``, unclipped). Returns the projected values and the new λ.

    ``"polytope"`` (the mixed polytope of ``nonnegative_dims`` and ``sparse_groups``; ``None``
    takes the paper's 5-dim one): one inhibitory unit per group, ``threshold`` (..., G). Group
    by group in order, ``y_J ← sign(y_J) max(|y_J| − λ_k, 0)`` on its signed coordinates and
    ``max(y_J − λ_k, 0)`` on its nonnegative ones, then ``λ_k ← max(λ_k + η_λ(‖y_J‖₁ − 1), 0)``;
    finally signed coordinates are clipped to [−1, 1], nonnegative ones to [0, 1]. Verified
    in the authors' code (CIM-BSS ``OnlineCorInfoMax.run_neural_dynamics_general_polytope``):
    groups are processed sequentially on the already-shrunk y, so a coordinate in two groups
    is shrunk by the sum of their λ's (soft thresholds compose: S_b ∘ S_a = S_{a+b}). With one
    group the loop's fixed point is the Euclidean projection (tested against SLSQP). With
    overlapping groups it ends feasible but not at the projection: λ_k is driven by the norm
    seen after group k's own shrink, before the later groups' (measured on the paper's
    polytope: 17 of 30 random points off the SLSQP projection, by up to 0.17 per coordinate).
    """
    if domain == "polytope":
        return _project_polytope(values, threshold, threshold_rate, *_polytope_masks(
            values.shape[-1], nonnegative_dims, sparse_groups))
    if domain == "antisparse":
        return np.clip(values, -1.0, 1.0), threshold
    if domain == "nonnegative-antisparse":
        return np.clip(values, 0.0, 1.0), threshold
    if domain == "sparse":
        shrunk = np.sign(values) * np.maximum(np.abs(values) - threshold[..., None], 0.0)
        return shrunk, np.maximum(threshold + threshold_rate * (np.abs(shrunk).sum(axis=-1) - 1.0), 0.0)
    shrunk = np.maximum(values - threshold[..., None], 0.0)
    excess = shrunk.sum(axis=-1) - 1.0
    if domain == "nonnegative-sparse":
        return shrunk, np.maximum(threshold + threshold_rate * excess, 0.0)
    return shrunk, threshold + threshold_rate * excess


def threshold_shape(domain: str, sparse_groups: tuple[tuple[int, ...], ...] | None = None) -> tuple[int, ...]:
    """Trailing shape of the inhibitory threshold state per row: ``(G,)`` for the polytope
    (one unit per sparse group; ``None``: the paper's two), ``()`` otherwise."""
    if domain != "polytope":
        return ()
    return (len(_default_groups(sparse_groups)),)


def polytope_options(params: Any) -> dict[str, Any]:
    """The keyword arguments :func:`project_domain` needs for a circuit's ``params``."""
    if params.domain != "polytope":
        return {}
    return {"nonnegative_dims": params.nonnegative_dims, "sparse_groups": params.sparse_groups}


def _default_groups(sparse_groups: tuple[tuple[int, ...], ...] | None) -> tuple[tuple[int, ...], ...]:
    return check_polytope_structure(5)[2] if sparse_groups is None else sparse_groups


def _polytope_masks(
    n: int, nonnegative_dims: tuple[int, ...] | None, sparse_groups: tuple[tuple[int, ...], ...] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks: nonnegative coordinates (n,) and group membership (G, n)."""
    if nonnegative_dims is None:
        nonnegative_dims = check_polytope_structure(n)[1]
    groups = _default_groups(sparse_groups)
    nonnegative = np.zeros(n, dtype=bool)
    nonnegative[list(nonnegative_dims)] = True
    members = np.zeros((len(groups), n), dtype=bool)
    for k, group in enumerate(groups):
        members[k, list(group)] = True
    return nonnegative, members


def _project_polytope(
    values: np.ndarray, threshold: np.ndarray, threshold_rate: float, nonnegative: np.ndarray, members: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The polytope branch of :func:`project_domain` (masks from :func:`_polytope_masks`)."""
    shrunk = np.array(values, dtype=float)
    new_threshold = np.array(threshold, dtype=float)
    for k, member in enumerate(members):
        level = new_threshold[..., k : k + 1]
        part = shrunk[..., member]
        part = np.where(nonnegative[member], np.maximum(part - level, 0.0),
                        np.sign(part) * np.maximum(np.abs(part) - level, 0.0))
        shrunk[..., member] = part
        new_threshold[..., k] = np.maximum(level[..., 0] + threshold_rate * (np.abs(part).sum(axis=-1) - 1.0), 0.0)
    return np.clip(shrunk, np.where(nonnegative, 0.0, -1.0), 1.0), new_threshold


def corinfomax_settle(
    prediction: np.ndarray,
    lateral_gain: np.ndarray,
    error_gain: np.ndarray,
    domain: str,
    lr_start: float = 0.9,
    lr_stop: float = 1e-3,
    max_iterations: int = 500,
    tolerance: float = 1e-6,
    threshold_rate: float = 0.0,
    *,
    nonnegative_dims: tuple[int, ...] | None = None,
    sparse_groups: tuple[tuple[int, ...], ...] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CorInfoMax neural dynamics (:ref:`theory-separation-corinfomax`), vectorised over members and samples.

    ``y ← P_dom(y + μ_j [γ_y B_y y + γ_e B_e (ŷ − y)])``, ``μ_j = max(lr_start/(j+1), lr_stop)``,
    from ``y = 0``, ``λ = 0``, until ``‖y − y_old‖ < tolerance ‖y‖`` or ``max_iterations``
    (polytope: and every group's ``|λ_k − λ_k,old| ≤ tolerance``; the authors test y alone,
    but there the box clip can hold y fixed for a step while a threshold is still rising,
    which stopped the loop outside the polytope in our tests).
    ``prediction`` ŷ (K, B, n); ``lateral_gain`` γ_y B_y and ``error_gain`` γ_e B_e (K, n, n).
    Converged rows are frozen (masked) while the others iterate. ``nonnegative_dims`` and
    ``sparse_groups`` describe the ``"polytope"`` domain (see :func:`project_domain`).
    Returns y (K, B, n), the steps each row took (K, B) and the final threshold λ (K, B),
    or (K, B, G) for the polytope's G inhibitory units.
    """
    members, samples, n = prediction.shape
    polytope = {}
    if domain == "polytope":
        polytope = dict(zip(("nonnegative", "members"), _polytope_masks(n, nonnegative_dims, sparse_groups)))
    recurrent = lateral_gain - error_gain  # y ← y + μ (G y + γ_e B_e ŷ)
    drive = np.matmul(prediction, np.swapaxes(error_gain, -1, -2))
    output = np.zeros_like(prediction)
    threshold = np.zeros((members, samples, len(polytope["members"]))) if polytope else np.zeros((members, samples))
    steps = np.full((members, samples), max_iterations, dtype=np.int64)
    member_index, sample_index = np.meshgrid(np.arange(members), np.arange(samples), indexing="ij")
    member_index, sample_index = member_index.ravel(), sample_index.ravel()
    for j in range(max_iterations):
        rate = max(lr_start / (j + 1), lr_stop)
        old = output[member_index, sample_index]
        step = np.einsum("aij,aj->ai", recurrent[member_index], old) + drive[member_index, sample_index]
        if polytope:
            new, new_threshold = _project_polytope(old + rate * step, threshold[member_index, sample_index],
                                                   threshold_rate, polytope["nonnegative"], polytope["members"])
        else:
            new, new_threshold = project_domain(
                old + rate * step, threshold[member_index, sample_index], domain, threshold_rate
            )
        output[member_index, sample_index] = new
        previous_threshold = threshold[member_index, sample_index]
        threshold[member_index, sample_index] = new_threshold
        done = np.linalg.norm(new - old, axis=-1) < tolerance * np.linalg.norm(new, axis=-1)
        if polytope:  # the box clip can hold y still while an inhibitory unit is still rising
            done &= np.abs(new_threshold - previous_threshold).max(axis=-1, initial=0.0) <= tolerance
        steps[member_index[done], sample_index[done]] = j + 1
        member_index, sample_index = member_index[~done], sample_index[~done]
        if member_index.size == 0:
            break
    return output, steps, threshold


# ============================================================================ CorInfoMax
@dataclass(frozen=True)
class DomainParameters(Parameters):
    """The mixed polytope's structure for circuits that project onto a source domain.

    ``signed_dims``, ``nonnegative_dims`` (give one; the other is its complement) and
    ``sparse_groups`` (index tuples J with ``‖y_J‖₁ ≤ 1``) apply to ``domain="polytope"``;
    ``None`` takes the paper's 5-dim polytope. The subclass declares ``domain`` and ``n_sources``.
    """

    signed_dims: tuple[int, ...] | None = None
    nonnegative_dims: tuple[int, ...] | None = None
    sparse_groups: tuple[tuple[int, ...], ...] | None = None

    def __post_init__(self) -> None:
        structure = tuple(getattr(self, key) for key in POLYTOPE_KEYS)
        if self.domain == "polytope":
            structure = check_polytope_structure(check_integer("n_sources", self.n_sources, 1), *structure)
        elif any(item is not None for item in structure):
            raise ValueError(f"signed_dims, nonnegative_dims and sparse_groups apply to domain='polytope', "
                             f"not {self.domain!r}")
        for key, value in zip(POLYTOPE_KEYS, structure):
            object.__setattr__(self, key, value)
        super().__post_init__()


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
    ``spike_threshold_time_constant`` τ_λ (s) of the spiking threshold unit (nonnegative
    sparse and simplex domains, :mod:`~bioplausible.substrates.spiking.threshold`);
    ``lateral_update`` the B_y rule (:func:`~bioplausible.rules.separation.corinfomax_lateral`):
    ``"authors"`` (default, the authors' code and the paper's numbers: Sherman–Morrison
    without its normaliser, which can make B_y indefinite when ``γ_y yᵀB_y y > 1``) or
    ``"sherman-morrison"`` (ours: the exact step ``γ_y → γ_y/(1 + γ_y yᵀB_y y)``, which keeps
    B_y positive definite).
    """

    domain: str = "nonnegative-antisparse"
    n_sources: int = 5
    forgetting_y: float | None = None
    forgetting_e: float | None = None
    initial_lateral: float | None = None
    error_lateral: float | None = None
    learning_rate: float | None = None
    neural_lr_start: float | None = None
    neural_lr_stop: float | None = None
    threshold_rate: float | None = None
    max_iterations: int = 500
    tolerance: float = 1e-6
    weight_decay: float = 0.0
    fast_path: str = "auto"
    spike_threshold_time_constant: float = 0.005
    lateral_update: str = "authors"

    def __post_init__(self) -> None:
        check_choice("domain", self.domain, OUTPUT_DOMAINS)
        for key, value in CORINFOMAX_PRESETS[self.domain].items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, value)
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
class CorInfoMax(Circuit):
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
    recomputed from x and W, and ``z = B_y y`` from the decoded y (:ref:`rate-to-spikes-learning`:
    ``z_i`` is the lateral input neuron i receives, a linear function of its partners'
    counts; IF count noise on ``z zᵀ`` is O(1/(r0T)²), no bias correction needed).
    ℓ1 and simplex domains: nonnegative IF outputs (offset 0, no ceiling) plus a graded
    inhibitory threshold unit, an integral controller of ``‖y‖₁ − 1`` driven by the output
    spikes (:mod:`~bioplausible.substrates.spiking.threshold`, kind
    ``"threshold-unit"``); the signed sparse domain splits each output
    into an ON/OFF pair so that the unit can sense ``|y|``.
    """

    name = "corinfomax"
    agreement = (AgreementCase(
        "separation", {"sinr_db": (0.10, 0.0)},
        params={"n_sources": 3, "learning_rate": 0.1, "error_lateral": 200.0},
        task_options={"domain": "nonnegative-antisparse", "n_sources": 3, "n_mixtures": 6, "evaluation_samples": 1000},
        steps=500, eval_every=500, seeds=(2,),
        substrate_options={"spiking": {"rate_unit": 500.0, "presentation": 0.1, "dt": 1e-3}},
        learns={"sinr_db": ("absolute", 8.0)}, same_start=True,
        note="nonnegative antisparse, r0 T = 50: measured 23.47 (spiking) vs 25.08 dB (rate), from 10.46"),)
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
        one threshold per sparse group (``"polytope-groups"``)."""
        if self.params.domain == "polytope":
            return "polytope-groups"
        return "fixed-point" if self.params.domain in _BOX_DOMAINS else "threshold-unit"

    def soft_threshold(self) -> dict[str, Any]:
        """The threshold unit of the ℓ1-type domains, for the spiking builder: the population
        it inhibits, the lower bound of its level (0, or None for the simplex), τ_λ (s), and
        whether the outputs are signed (then realised as ON/OFF pairs)."""
        return {"population": "output", "lower": None if self.params.domain == "simplex" else 0.0,
                "time_constant": self.params.spike_threshold_time_constant,
                "signed": self.params.domain == "sparse"}

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
        low, high = _BOX_DOMAINS.get(self.params.domain, (None, None))
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
            ("output", "output"): -_off_diagonal(error - self.gamma_y * self.state["lateral"]),
        }

    def thresholds(self) -> dict[str, np.ndarray]:
        """``A_ii = γ_e B_e,ii − γ_y B_y,ii`` of the outputs."""
        matrix = self.gamma_e * self.state["error_lateral"] - self.gamma_y * self.state["lateral"]
        return {"output": np.diagonal(matrix, axis1=-2, axis2=-1).copy()}

    def separator(self) -> np.ndarray:
        """``W_f = (γ_e B_e − γ_y B_y)⁻¹ γ_e B_e W``, shape (K, n, m)."""
        error = self.gamma_e * self.state["error_lateral"]
        return np.linalg.solve(error - self.gamma_y * self.state["lateral"], error @ self.state["feedforward"])

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
        """W by :data:`~bioplausible.rules.separation.CORINFOMAX_FEEDFORWARD`, B_y by
        :data:`~bioplausible.rules.separation.CORINFOMAX_LATERAL` (B_e is fixed)."""
        p = self.params
        return [
            RuleBinding("feedforward", rules.CORINFOMAX_FEEDFORWARD, "mixtures", "output",
                        {"x": "mixtures", "y": "output", "yhat": "prediction"},
                        {"learning_rate": p.learning_rate, "decay": p.weight_decay}),
            RuleBinding("lateral", rules.CORINFOMAX_LATERAL_FORMS[p.lateral_update], "output", "output",
                        {"y": "output"},
                        {"gamma_y": self.gamma_y, "forgetting_y": p.forgetting_y}),
        ]

    def learn(self, activities: Mapping[str, np.ndarray], batch: Batch) -> None:
        x = ensemble_inputs(batch.inputs, self.ensemble_size, self.state["feedforward"].shape[-1])
        prediction = np.matmul(x, np.swapaxes(self.state["feedforward"], -1, -2))
        output = activities["output"]
        self.state["feedforward"] = self.state["feedforward"] + rules.corinfomax_feedforward(
            x, output, prediction, self.params.learning_rate, self.state["feedforward"], self.params.weight_decay
        )
        self.state["lateral"] = self.state["lateral"] + rules.corinfomax_lateral(
            output, self.state["lateral"], self.gamma_y, self.params.forgetting_y, self.params.lateral_update
        )
        self.steps += 1

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
        from ._separation_kernels import corinfomax_stream

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
            nonnegative, members = _polytope_masks(p.n_sources, p.nonnegative_dims, p.sparse_groups)
        else:
            nonnegative, members = np.zeros(p.n_sources, dtype=bool), np.zeros((0, p.n_sources), dtype=bool)
        diverged = np.full(x.shape[0], -1, dtype=np.int64)
        corinfomax_stream(
            feedforward, lateral, error_gain, x, self.gamma_y, p.forgetting_y, p.learning_rate, p.weight_decay,
            _DOMAIN_CODE[p.domain], p.neural_lr_start, p.neural_lr_stop, p.max_iterations, p.tolerance,
            p.threshold_rate, outputs, steps, nonnegative, members, diverged,
            p.lateral_update == "sherman-morrison",
        )
        self.state["feedforward"], self.state["lateral"] = feedforward, lateral
        _raise_at_divergence(self, diverged)
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


# ============================================================================ nonnegative QP
def nonnegative_fixed_point(
    matrix: np.ndarray, drive: np.ndarray, tolerance: float = 1e-12, max_sweeps: int = 5000,
    max_enumerated: int = 6,
) -> np.ndarray:
    """Solve ``y ≥ 0``, ``M y ≥ c``, ``yᵀ(M y − c) = 0`` (a linear complementarity problem).

    For symmetric positive definite M this is ``argmin_{y≥0} ½ yᵀMy − cᵀy`` (the NSM /
    Bio-NICA output); for a positive-diagonal M it is the fixed point of the neural
    coordinate updates ``y_i = max(0, (c_i − Σ_{j≠i} M_ij y_j)/M_ii)``. ``matrix`` (K, n, n),
    ``drive`` c (K, B, n). For n ≤ ``max_enumerated`` the answer is exact: every active set
    is solved at once (2ⁿ small systems per member, shared by all samples) and the one that
    satisfies the complementarity conditions is kept; larger n use projected Gauss–Seidel
    sweeps until the largest change is below ``tolerance`` × the largest output.
    """
    n = drive.shape[-1]
    if n <= max_enumerated:
        return _enumerated_fixed_point(matrix, drive)
    output = np.zeros_like(drive)
    diagonal = np.diagonal(matrix, axis1=-2, axis2=-1)[:, None, :]
    for _ in range(max_sweeps):
        largest = 0.0
        for i in range(n):
            off = np.einsum("kbj,kj->kb", output, matrix[:, i, :]) - output[..., i] * matrix[:, i, i][:, None]
            new = np.maximum(0.0, (drive[..., i] - off) / diagonal[..., i])
            largest = max(largest, float(np.max(np.abs(new - output[..., i]), initial=0.0)))
            output[..., i] = new
        if largest <= tolerance * max(float(np.max(np.abs(output), initial=0.0)), 1e-300):
            break
    return output


def _enumerated_fixed_point(matrix: np.ndarray, drive: np.ndarray) -> np.ndarray:
    """Exact LCP solution by enumerating active sets (see :func:`nonnegative_fixed_point`)."""
    n = drive.shape[-1]
    masks = ((np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)  # (S, n)
    both = masks[:, :, None] & masks[:, None, :]
    eye = np.eye(n, dtype=bool)
    # restricted systems: M on the active block, identity elsewhere
    restricted = np.where(both[None], matrix[:, None], np.where(eye[None, None], 1.0, 0.0))
    inverse = np.linalg.inv(restricted)  # (K, S, n, n)
    masked = drive[:, :, None, :] * masks[None, None]  # (K, B, S, n)
    candidates = np.einsum("ksij,kbsj->kbsi", inverse, masked)
    residual = drive[:, :, None, :] - np.einsum("kij,kbsj->kbsi", matrix, candidates)
    scale = np.abs(drive).max(axis=-1, keepdims=True)[..., None] + 1e-300
    violation = np.maximum(
        np.where(masks[None, None], -candidates, residual), 0.0
    ).max(axis=-1) / scale[..., 0]
    best = np.argmin(violation, axis=-1)  # (K, B)
    return np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]


# ============================================================================ NSM
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
class NonnegativeSimilarityMatching(Circuit):
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

    def learn(self, activities: Mapping[str, np.ndarray], batch: Batch) -> None:
        x = ensemble_inputs(batch.inputs, self.ensemble_size, self.state["prewhitening"].shape[-1])
        if not self.whitened:
            self._accumulate(x)
            self.steps += 1
            return
        output = activities["output"]
        whitened = np.matmul(x, np.swapaxes(self.state["prewhitening"], -1, -2))
        p = self.params
        self.state["rates"] = self.state["rates"] + rules.nsm_learning_rates(output, self.state["rates"],
                                                                             p.rate_decay, p.rate_cap)
        self.state["feedforward"] = self.state["feedforward"] + rules.nsm_feedforward(
            whitened, output, self.state["feedforward"], self.state["rates"]
        )
        self.state["lateral"] = self.state["lateral"] + rules.nsm_lateral(output, self.state["lateral"],
                                                                          self.state["rates"])
        learned = self.state["seen"][:, 0] - p.prewhitening_samples
        silent = np.all(output == 0.0, axis=-2)
        self.state["silent"] = (self.state["silent"] + silent) * silent
        if learned[0] < p.silent_window:
            flip = self.state["silent"] > p.silent_samples
            self.state["feedforward"] = np.where(flip[..., None], -self.state["feedforward"], self.state["feedforward"])
            self.state["silent"] = np.where(flip, 0.0, self.state["silent"])
        self.state["seen"] = self.state["seen"] + x.shape[-2]
        self.steps += 1

    def _accumulate(self, x: np.ndarray) -> None:
        """Prewhitening phase: accumulate moments; at the end set ``W_pre = Λ^{-1/2} Vᵀ``
        from the top n eigenpairs of the centred covariance (CIM-BSS ``whiten_input``)."""
        self.state["input_sum"] = self.state["input_sum"] + x.sum(axis=-2)
        self.state["input_moment"] = self.state["input_moment"] + np.matmul(np.swapaxes(x, -1, -2), x)
        self.state["seen"] = self.state["seen"] + x.shape[-2]
        if self.whitened:
            count = self.state["seen"][:, :1, None]
            mean = self.state["input_sum"][..., None] / count
            covariance = self.state["input_moment"] / count - mean @ np.swapaxes(mean, -1, -2)
            values, vectors = np.linalg.eigh(covariance)
            n = self.params.n_sources
            top_values, top_vectors = values[..., ::-1][..., :n], vectors[..., ::-1][..., :n]
            self.state["prewhitening"] = np.swapaxes(top_vectors, -1, -2) / np.sqrt(top_values)[..., None]


# ============================================================================ Bio-NICA
@dataclass(frozen=True)
class NonnegativeICAParameters(Parameters):
    """``variant``: ``"direct"`` (lateral M) or ``"interneuron"`` (M = PPᵀ); ``learning_rate``
    η₀, ``learning_rate_decay`` (η_t = η₀/(1 + decay·t)), ``time_constant`` τ of M
    (direct); ``n_interneurons`` k (default n); ``flip_window``: samples during which silent
    outputs have their feedforward row negated (direct variant heuristic); ``leak`` ε of the
    interneuron variant's outputs (``M = PPᵀ + εI``; the paper's circuit has ε = 0, which the
    spiking substrate cannot realise); ``spike_offset`` y0 of the interneurons' offset code."""

    n_sources: int = 5
    variant: str = "direct"
    learning_rate: float = 1e-3
    learning_rate_decay: float = 0.0
    time_constant: float = 0.5
    n_interneurons: int | None = None
    flip_window: int = 100
    spike_offset: float = 1.5
    leak: float = 0.0

    def validate(self) -> None:
        check_integer("n_sources", self.n_sources, 1)
        check_choice("variant", self.variant, ["direct", "interneuron"])
        check_positive("learning_rate", self.learning_rate)
        check_real("learning_rate_decay", self.learning_rate_decay, 0.0)
        check_positive("time_constant", self.time_constant)
        if self.n_interneurons is not None:
            check_integer("n_interneurons", self.n_interneurons, self.n_sources)
        check_integer("flip_window", self.flip_window, 0)
        check_positive("spike_offset", self.spike_offset)
        check_real("leak", self.leak, 0.0)
        if self.leak and self.variant != "interneuron":
            raise ValueError(f"leak applies to variant='interneuron' only (the direct variant's self-term is M_ii), "
                             f"got leak={self.leak} with variant={self.variant!r}")


@register_circuit
class NonnegativeICA(Circuit):
    """Bio-NICA: single-layer nonnegative ICA with two-compartment neurons.

    Output ``y = argmin_{y≥0} ½yᵀMy − cᵀy``, ``c = W x`` (:func:`nonnegative_fixed_point`).
    Direct variant: ``W += 2η(y xᵀ − (c − c̄)(x − x̄)ᵀ)``, ``M += (η/τ)(y yᵀ − M)``, x̄ the
    cumulative mean, c̄ a running mean over 100 samples; every 100 samples eigenvalues of M
    below 1e-4 and singular values of W outside [1e-5, 1e5] are reset to 1; during the first
    ``flip_window`` samples the row of a never-active output is negated. Interneuron variant:
    ``M = PPᵀ``, ``n = Pᵀy``, ``W += η((y − ȳ)(x − x̄)ᵀ − W)``, ``P += η((y − ȳ)(n − n̄)ᵀ − P)``.
    Lipshutz, Pehlevan & Chklovskii (2022), Biol. Cybern., arXiv 2010.12632 (bio-nica code).
    Separator: ``M⁻¹ W`` (the unconstrained solution; exact on samples with all outputs active).

    Spiking (generic integrate-and-fire route): the direct variant has threshold ``M_ii``,
    lateral ``−M_ij``, drive ``W x``, offset 0. The interneuron variant has outputs with
    threshold ε (``leak``), drive ``W x`` and inhibition ``−P n`` from offset-coded
    interneurons ``n = Pᵀy`` (threshold 1): ``ε y = [Wx − PPᵀy]₊`` is the fixed point of
    ``y = argmin_{y≥0} ½yᵀ(PPᵀ + εI)y − cᵀy``, the paper's circuit at ε = 0 (as
    ``InterneuronWhitening`` does with its leak). At ε = 0 the outputs are perfect
    integrators with no IF rate, and the spiking substrate refuses it.
    """

    name = "nonnegative-ica"
    agreement = (AgreementCase(
        "separation", {"sinr_db": (0.05, 0.0)},
        params={"n_sources": 3, "variant": "interneuron", "leak": 0.25, "learning_rate": 0.03},
        task_options={"domain": "nonnegative-bernoulli", "n_sources": 3, "n_mixtures": 3, "evaluation_samples": 1000},
        steps=600, eval_every=600,
        substrate_options={"spiking": {"rate_unit": 100.0, "presentation": 0.1, "dt": 1e-3}},
        learns={"sinr_db": ("absolute", 2.5)},
        note="interneuron variant with leak 0.25: measured 9.32 (spiking) vs 9.37 dB (rate), from 5.87"),)
    family = "separation"
    default_task = "separation"
    description = "Bio-NICA nonnegative ICA, direct lateral or interneurons (Lipshutz et al. 2022)"
    Parameters = NonnegativeICAParameters
    params: NonnegativeICAParameters
    task_keys = ("n_sources",)

    def initial_state(self, rng: np.random.Generator, n_inputs: int, n_targets: int) -> dict[str, np.ndarray]:
        n = self.params.n_sources
        if n_inputs < n:
            raise ValueError(f"NonnegativeICA needs n_inputs >= n_sources={n}, got {n_inputs}")
        left = np.linalg.qr(rng.standard_normal((n, n)))[0]
        right = np.linalg.qr(rng.standard_normal((n_inputs, n_inputs)))[0]
        state = {
            "feedforward": left @ np.eye(n, n_inputs) @ right,
            "mean_inputs": np.zeros(n_inputs),
            "seen": np.zeros(1),
        }
        if self.params.variant == "direct":
            state["lateral"] = np.eye(n)
            state["mean_drive"] = np.zeros(n)
            state["fired"] = np.zeros(n)
        else:
            k = self.params.n_interneurons or n
            state["synapses"] = np.eye(n, k)
            state["mean_output"] = np.zeros(n)
            state["mean_interneuron"] = np.zeros(k)
            state["redraw_seed"] = np.array([float(rng.integers(2**31))])
        return state

    @property
    def kind(self) -> str:
        """The declared fixed point (``"fixed-point"``); the interneuron variant with leak=0
        has perfect-integrator outputs (zero self-term, ``"perfect-integrator"``)."""
        if self.params.variant == "interneuron" and self.params.leak <= 0:
            return "perfect-integrator"
        return "fixed-point"

    def _matrix(self) -> np.ndarray:
        if self.params.variant == "direct":
            return self.state["lateral"]
        synapses = self.state["synapses"]
        matrix = synapses @ np.swapaxes(synapses, -1, -2)
        if self.params.leak:
            matrix = matrix + self.params.leak * np.eye(matrix.shape[-1])
        return matrix

    def populations(self) -> list[Population]:
        m = self.state["feedforward"].shape[-1] if self.state else 0
        pops = [
            Population("mixtures", m, role="input", description="mixtures x"),
            Population("output", self.params.n_sources, description="nonnegative outputs y"),
        ]
        if self.params.variant == "interneuron":
            k = self.params.n_interneurons or self.params.n_sources
            pops.append(Population("interneuron", k, offset=self.params.spike_offset, description="n = Pᵀy"))
        return pops

    def connections(self) -> list[Connection]:
        if self.params.variant == "direct":
            return [
                Connection("mixtures", "output", rules.nica_feedforward, kind="feedforward", description="W"),
                Connection("output", "output", rules.nica_lateral, kind="lateral", description="−M_ij; M_ii threshold"),
            ]
        return [
            Connection("mixtures", "output", rules.nica_interneuron_feedforward, kind="feedforward"),
            Connection("output", "interneuron", rules.nica_interneuron_synapses, kind="feedforward", description="Pᵀ"),
            Connection("interneuron", "output", rules.nica_interneuron_synapses, kind="feedback", description="−P"),
        ]

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        if self.params.variant == "direct":
            lateral = self.state["lateral"]
            n = lateral.shape[-1]
            off = -lateral.copy()
            off[..., np.arange(n), np.arange(n)] = 0.0
            return {("mixtures", "output"): self.state["feedforward"], ("output", "output"): off}
        synapses = self.state["synapses"]
        return {
            ("mixtures", "output"): self.state["feedforward"],
            ("output", "interneuron"): np.swapaxes(synapses, -1, -2),
            ("interneuron", "output"): -synapses,
        }

    def thresholds(self) -> dict[str, np.ndarray]:
        if self.params.variant == "direct":
            return {"output": np.diagonal(self.state["lateral"], axis1=-2, axis2=-1).copy()}
        # the self-term PPᵀ_ii comes back through the interneuron loop; only the leak stays local
        k = self.state["synapses"].shape[-1]
        return {"output": np.full((self.ensemble_size, self.params.n_sources), float(self.params.leak)),
                "interneuron": np.ones((self.ensemble_size, k))}

    def separator(self) -> np.ndarray:
        return np.linalg.solve(self._matrix(), self.state["feedforward"])

    def respond(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        x = ensemble_inputs(inputs, self.ensemble_size, self.state["feedforward"].shape[-1])
        drive = np.ascontiguousarray(np.matmul(x, np.swapaxes(self.state["feedforward"], -1, -2)))
        output = nonnegative_fixed_point(self._matrix(), drive)
        result = {"mixtures": x, "output": output}
        if self.params.variant == "interneuron":
            result["interneuron"] = np.matmul(output, self.state["synapses"])
        return result

    def learn(self, activities: Mapping[str, np.ndarray], batch: Batch) -> None:
        x = ensemble_inputs(batch.inputs, self.ensemble_size, self.state["feedforward"].shape[-1])
        output = activities["output"]
        p = self.params
        t = float(self.state["seen"][0, 0])
        rate = p.learning_rate / (1.0 + p.learning_rate_decay * t)
        batch_mean = x.mean(axis=-2)
        if p.variant == "direct":
            self._learn_direct(x, output, batch_mean, rate, t)
        else:
            self._learn_interneuron(x, output, activities.get("interneuron"), batch_mean, rate, t)
        self.state["seen"] = self.state["seen"] + x.shape[-2]
        seen = int(self.state["seen"][0, 0])
        if seen // 100 > int(t) // 100:
            self._regularise()
        self.steps += 1

    def _learn_direct(self, x: np.ndarray, output: np.ndarray, batch_mean: np.ndarray, rate: float, t: float) -> None:
        drive = np.matmul(x, np.swapaxes(self.state["feedforward"], -1, -2))
        self.state["mean_inputs"] = self.state["mean_inputs"] + (batch_mean - self.state["mean_inputs"]) / (t + 1)
        self.state["mean_drive"] = self.state["mean_drive"] + (drive.mean(axis=-2) - self.state["mean_drive"]) / 100
        self.state["feedforward"] = self.state["feedforward"] + rules.nica_feedforward(
            x, output, drive, self.state["mean_inputs"], self.state["mean_drive"], rate
        )
        self.state["lateral"] = self.state["lateral"] + rules.nica_lateral(
            output, self.state["lateral"], rate, self.params.time_constant
        )
        self.state["fired"] = np.maximum(self.state["fired"], np.any(output > 0, axis=-2))
        if t < self.params.flip_window:
            silent = self.state["fired"] == 0
            self.state["feedforward"] = np.where(silent[..., None], -self.state["feedforward"],
                                                 self.state["feedforward"])

    def _learn_interneuron(
        self, x: np.ndarray, output: np.ndarray, interneuron: np.ndarray | None, batch_mean: np.ndarray,
        rate: float, t: float,
    ) -> None:
        if interneuron is None:
            interneuron = np.matmul(output, self.state["synapses"])
        window = min(t + 1.0, 100.0)
        self.state["mean_inputs"] = self.state["mean_inputs"] + (batch_mean - self.state["mean_inputs"]) / (t + 1)
        mean_output = self.state["mean_output"]
        self.state["mean_output"] = mean_output + (output.mean(axis=-2) - mean_output) / window
        self.state["mean_interneuron"] = self.state["mean_interneuron"] + (
            interneuron.mean(axis=-2) - self.state["mean_interneuron"]
        ) / window
        self.state["feedforward"] = self.state["feedforward"] + rules.nica_interneuron_feedforward(
            x, output, self.state["feedforward"], self.state["mean_inputs"], self.state["mean_output"], rate
        )
        self.state["synapses"] = self.state["synapses"] + rules.nica_interneuron_synapses(
            output, interneuron, self.state["synapses"], self.state["mean_output"],
            self.state["mean_interneuron"], rate,
        )

    def _regularise(self) -> None:
        """The every-100-samples safeguards of the authors' code (:ref:`theory-separation-nica`)."""
        if self.params.variant == "direct":
            values, vectors = np.linalg.eigh(0.5 * (self.state["lateral"] + np.swapaxes(self.state["lateral"], -1, -2)))
            values = np.where(values < 1e-4, 1.0, values)
            self.state["lateral"] = (vectors * values[..., None, :]) @ np.swapaxes(vectors, -1, -2)
            self.state["feedforward"] = _reset_singular_values(self.state["feedforward"], 1e-5, 1e5)
            return
        self.state["synapses"] = _reset_singular_values(self.state["synapses"], 1e-2, 1e2)
        norms = np.linalg.norm(self.state["feedforward"], axis=-1)
        weak = norms < 0.1
        if weak.any():
            rng = np.random.default_rng(int(self.state["redraw_seed"][0, 0]) + int(self.state["seen"][0, 0]))
            fresh = rng.standard_normal(self.state["feedforward"].shape)
            fresh /= np.linalg.norm(fresh, axis=-1, keepdims=True)
            self.state["feedforward"] = np.where(weak[..., None], fresh, self.state["feedforward"])


def _reset_singular_values(matrix: np.ndarray, low: float, high: float) -> np.ndarray:
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    s = np.where((s < low) | (s > high), 1.0, s)
    return (u * s[..., None, :]) @ vt


# ============================================================================ Det-Max / WSM
_DETMAX_COMMON = dict(beta=0.5, synaptic_schedule="log", gain_update="clipped", gain_rate_decay=0.99,
                      max_iterations=750)
#: Per-domain Det-Max / WSM defaults, each from the authors' scripts:
#: antisparse — DetMax-BSS ``NumericalExperiments/SimulationsForPaper/Antisparse/``
#: ``simulation_correlated_antisparseV4.py``
#: (n = 4, m = 8, Toeplitz ρ; for ρ > 0.4 the script uses ``gamma_start=0.25, gamma_stop=5e-4``);
#: nonnegative antisparse — ``NonnegativeAntisparse/simulation_correlated_nnantisparseV12.py``
#: (its capped/reverted gain steps and slow γ decay; for ρ > 0.4: ``gamma_start=0.05,
#: gamma_stop=5e-4``); sparse and nonnegative sparse — the WSM baseline run inside CIM-BSS
#: (``Simulations/SparseNoisy/WSM_Sparse_NoisyV1.py`` and its nonnegative twin, feeding
#: Table B); simplex — the CIM-BSS ``fit_batch_simplex`` defaults on the sparse WSM settings
#: (no simplex script was read: unverified).
DETMAX_PRESETS: dict[str, dict[str, Any]] = {
    "antisparse": dict(
        _DETMAX_COMMON, gamma_start=0.6, gamma_stop=1e-3, zeta=5e-5, gain_rates=(1.125, 0.2),
        initial_gains=(1.0, 1.0), min_gains=(0.2, 0.2), max_gains=(1e6, 5.0), lateral_scales=(2.0, 1.0),
        initial_weights="identity", initial_weight_scales=(1.0, 1.0), neural_lr_start=0.75,
        neural_lr_stop=0.05, neural_lr_decay=0.005, tolerance=1e-6, threshold_rate=0.0, hidden_clip=np.inf),
    "nonnegative-antisparse": dict(
        _DETMAX_COMMON, gamma_start=0.1, gamma_stop=1e-3, zeta=1e-5, gain_rates=(1.0, 1e-2),
        initial_gains=(1.0, 1.0), min_gains=(1e-3, 1e-3), max_gains=(1e6, 20.0), lateral_scales=(2.0, 1.0),
        initial_weights="identity", initial_weight_scales=(1.0, 1.0), neural_lr_start=0.75,
        neural_lr_stop=0.05, neural_lr_decay=0.005, tolerance=1e-7, threshold_rate=0.0, hidden_clip=np.inf,
        synaptic_schedule="slow-log", gain_update="capped-reverted", max_iterations=500),
    "sparse": dict(
        _DETMAX_COMMON, gamma_start=0.25, gamma_stop=1e-3, zeta=1e-4, gain_rates=(20.0, 1e-2),
        initial_gains=(8.0, 1.0), min_gains=(1e-6, 1.0), max_gains=(1e6, 1.001), lateral_scales=(0.02, 0.02),
        initial_weights="random-rows", initial_weight_scales=(0.0033, 0.0033), neural_lr_start=0.4,
        neural_lr_stop=0.4, neural_lr_decay=0.0, tolerance=1e-5, threshold_rate=1.0, hidden_clip=10.0),
    "nonnegative-sparse": dict(
        _DETMAX_COMMON, gamma_start=0.25, gamma_stop=1e-3, zeta=1e-4, gain_rates=(20.0, 1e-2),
        initial_gains=(8.0, 1.0), min_gains=(1e-6, 1.0), max_gains=(1e6, 1.001), lateral_scales=(0.02, 0.02),
        initial_weights="random-rows", initial_weight_scales=(0.0033, 0.0033), neural_lr_start=0.5,
        neural_lr_stop=0.2, neural_lr_decay=0.005, tolerance=1e-5, threshold_rate=0.2, hidden_clip=10.0),
    "simplex": dict(
        _DETMAX_COMMON, gamma_start=0.25, gamma_stop=1e-3, zeta=1e-4, gain_rates=(20.0, 1e-2),
        initial_gains=(8.0, 1.0), min_gains=(1e-6, 1.0), max_gains=(1e6, 1.001), lateral_scales=(0.02, 0.02),
        initial_weights="random-rows", initial_weight_scales=(0.0033, 0.0033), neural_lr_start=0.2,
        neural_lr_stop=0.05, neural_lr_decay=0.005, tolerance=1e-5, threshold_rate=0.05, hidden_clip=25.0),
}
# the mixed polytope has no Det-Max script: it takes the sparse WSM baseline's settings
DETMAX_PRESETS["polytope"] = dict(DETMAX_PRESETS["sparse"])
_GAIN_UPDATES = ("clipped", "capped-reverted")


@dataclass(frozen=True)
class DetMaxParameters(DomainParameters):
    """Det-Max / WSM settings; ``None`` takes the per-domain default of :data:`DETMAX_PRESETS`.

    ``gamma_start``/``gamma_stop`` and ``synaptic_schedule``: the synaptic rate γ_k of
    :func:`~rules.separation.wsm_synaptic_rate`; ``beta`` β weighs the two layers, ``zeta`` ζ
    the log-det regulariser of the gains; ``gain_rates`` (μ_D1, μ_D2), multiplied by
    ``gain_rate_decay`` every ``gain_rate_decay_interval`` samples
    (:func:`~rules.separation.decayed_gain_rate`); ``initial_gains``, ``min_gains``,
    ``max_gains`` for (D1, D2); ``gain_update``: ``"clipped"`` (clip to the bounds) or
    ``"capped-reverted"`` (the nonnegative-antisparse variant: a step of at most
    ``gain_step_cap`` × D, undone when a gain comes within ``gain_revert_margin`` of its
    minimum; :func:`~rules.separation.cap_gain_step`, :func:`~rules.separation.revert_gain_step`);
    ``lateral_scales`` (M_H(0), M_Y(0)) = (c_H I, c_Y I); ``initial_weights``: ``"identity"``
    (W_HX = I, W_YH = I) or ``"random-rows"`` (Gaussian rows rescaled to the norms
    ``initial_weight_scales``, the authors' default constructor); neural rate
    ``μ_t = max(neural_lr_start/(1 + neural_lr_decay · t), neural_lr_stop)``, t = 1, 2, … up to
    ``max_iterations`` or ``tolerance``; ``hidden_clip``: the hidden rates are clipped to
    ±hidden_clip (CIM-BSS ``hidden_layer_gain``; ∞ = none); ``threshold_rate`` η_λ of the
    ℓ1/simplex inhibitory unit; ``fast_path``: ``"auto"`` (compiled numba kernel when
    installed), ``"numba"`` or ``"reference"`` (respond + learn through the rule functions; the
    kernel covers every domain but ``"polytope"``); ``hidden_offset`` y0 of the hidden layer's
    offset code on spikes (rate ``r0 (y0 + h)``; None: 2 for nonnegative domains, 3 for signed
    ones, from the hidden activities measured in 300-sample runs of n = 3, m = 6:
    h ∈ [−0.68, 1.96] nonnegative antisparse, [−2.36, 2.35] antisparse).
    """

    domain: str = "nonnegative-antisparse"
    n_sources: int = 5
    gamma_start: float | None = None
    gamma_stop: float | None = None
    synaptic_schedule: str | None = None
    beta: float | None = None
    zeta: float | None = None
    gain_rates: tuple[float, float] | None = None
    gain_rate_decay: float | None = None
    gain_rate_decay_interval: int = 100_000
    gain_update: str | None = None
    gain_step_cap: float = 1.0
    gain_revert_margin: float = 0.1
    initial_gains: tuple[float, float] | None = None
    min_gains: tuple[float, float] | None = None
    max_gains: tuple[float, float] | None = None
    lateral_scales: tuple[float, float] | None = None
    initial_weights: str | None = None
    initial_weight_scales: tuple[float, float] | None = None
    neural_lr_start: float | None = None
    neural_lr_stop: float | None = None
    neural_lr_decay: float | None = None
    max_iterations: int | None = None
    tolerance: float | None = None
    threshold_rate: float | None = None
    hidden_clip: float | None = None
    fast_path: str = "auto"
    hidden_offset: float | None = None

    def __post_init__(self) -> None:
        check_choice("domain", self.domain, OUTPUT_DOMAINS)
        for key, value in DETMAX_PRESETS[self.domain].items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, value)
        super().__post_init__()

    def validate(self) -> None:
        check_integer("n_sources", self.n_sources, 1)
        if self.hidden_offset is not None:
            check_positive("hidden_offset", self.hidden_offset)
        check_positive("gamma_start", self.gamma_start)
        check_positive("gamma_stop", self.gamma_stop)
        check_choice("synaptic_schedule", self.synaptic_schedule, ["log", "slow-log"])
        check_real("beta", self.beta, 0.0, 1.0, inclusive=False)
        check_real("zeta", self.zeta, 0.0, 1.0)
        for name in ("gain_rates", "initial_gains", "min_gains", "max_gains", "lateral_scales",
                     "initial_weight_scales"):
            value = check_pair(name, getattr(self, name))
            for index, item in enumerate(value):
                check_positive(f"{name}[{index}]", item)
        for index in range(2):
            if not self.min_gains[index] <= self.initial_gains[index] <= self.max_gains[index]:
                raise ValueError(f"initial_gains[{index}] must lie in [min_gains, max_gains], got {self.initial_gains}")
        check_real("gain_rate_decay", self.gain_rate_decay, 0.0, 1.0)
        check_integer("gain_rate_decay_interval", self.gain_rate_decay_interval, 1)
        check_choice("gain_update", self.gain_update, _GAIN_UPDATES)
        check_positive("gain_step_cap", self.gain_step_cap)
        check_real("gain_revert_margin", self.gain_revert_margin, 0.0)
        check_choice("initial_weights", self.initial_weights, ["identity", "random-rows"])
        check_positive("neural_lr_start", self.neural_lr_start)
        check_positive("neural_lr_stop", self.neural_lr_stop)
        check_real("neural_lr_decay", self.neural_lr_decay, 0.0)
        check_integer("max_iterations", self.max_iterations, 1)
        check_positive("tolerance", self.tolerance)
        check_real("threshold_rate", self.threshold_rate, 0.0)
        if not (isinstance(self.hidden_clip, (int, float)) and self.hidden_clip > 0):  # ∞ allowed: no clip
            raise ValueError(f"hidden_clip must be a positive number (inf: no clip), got {self.hidden_clip!r}")
        check_choice("fast_path", self.fast_path, ["auto", "numba", "reference"])
        if self.fast_path == "numba" and not numba_available():
            raise ValueError("fast_path='numba' needs numba installed (pip install numba); use 'auto' or 'reference'")


@register_circuit
class DetMaxWSM(Circuit):
    """Determinant-maximisation BSS as a two-layer weighted-similarity-matching network.

    Voltages v (hidden h) and u (output y) follow the leaky dynamics of :ref:`theory-separation-detmax` with
    ``Γ = diag(M)``, ``M̂ = M − Γ``, for t = 1, 2, …::

        μ_t = max(μ_start/(1 + c t), μ_stop)
        dv = −v + (1−ζ)β D1 W_HX x − [(1−ζ)(1−β) M̂_H + (1−ζ)β D1 M̂_H D1] h + (1−ζ)(1−β) W_YHᵀ D2 y
        v ← v + μ_t dv,  h = clip(v / diag(Γ_H ((1−ζ)(1−β) + (1−ζ)β D1²)), ±hidden_clip)
        du = −u + W_YH h − M̂_Y D2 y   (with the new h, the old y)
        u ← u + μ_t du,  y = P_dom(u / diag(Γ_Y D2))

    from v = u = 0 (the authors' warm start from the stored h, y of the same sample, which is 0
    in their single pass), until both ``‖Δv‖ ≤ tol ‖v‖`` and ``‖Δu‖ ≤ tol ‖u‖``; ``P_dom``
    is :func:`project_domain` (clip; soft threshold with the inhibitory λ loop). Then every
    synapse follows one forgetting Hebbian rule with rate γ_k
    (:func:`~rules.separation.wsm_hebbian`, :func:`~rules.separation.wsm_synaptic_rate`):
    ``M_H ← (1−γ)M_H + γhhᵀ``, ``W_HX ← (1−γ)W_HX + γhxᵀ``, ``M_Y ← …yyᵀ``, ``W_YH ← …yhᵀ``;
    the gains take gradient steps (:func:`~rules.separation.wsm_gain`) with rate μ_D decayed
    ×0.99 every 100k samples, clipped to their bounds or, in the nonnegative-antisparse
    variant, capped and reverted. Linear separator (the authors' ``compute_overall_mapping``,
    and the unprojected fixed point, checked by a test):
    ``W_f = D2⁻¹ M_Y⁻¹ W_YH [(1−β)M_H + βD1M_HD1 − (1−β)W_YHᵀM_Y⁻¹W_YH]⁻¹ β D1 W_HX``.
    Bozkurt, Pehlevan & Erdogan (2022), NeurIPS, arXiv 2209.12894.

    Checked line by line against the authors' code (DetMax-BSS ``src/WSMBSS.py``/``WSMBSSv2.py``,
    class ``OnlineWSMBSS``, ``run_neural_dynamics_*_jit`` and ``fit_batch_*``; the WSM baseline
    in CIM-BSS ``src/WSMBSS.py``): dynamics, step schedule (the counter starts at 1), the
    projections, Hebbian updates, gain gradients and bounds, the variant's capped/reverted
    steps and slow γ decay, the μ_D decay, the initialisation and the separator. Known,
    deliberate differences: (i) the authors shuffle the N samples before their single pass
    (our stream is iid, so this is immaterial); (ii) CIM-BSS's sparse WSM run
    (``mixtures_power_normalized=True``) divides u by ``(1−ζ)Γ_Y((1−β) + βD2²)`` instead of
    ``Γ_Y D2``, a relative difference below 10⁻³ with its D2 ∈ [1, 1.001]; (iii) the Det-Max
    repository's own sparse dynamics (not the CIM-BSS baseline we follow) also clip y to
    [−1, 1]; (iv) ``ζ D⁻¹`` without the 5·10⁻⁸ of their ``dlogdet``. Per-domain settings:
    :data:`DETMAX_PRESETS`.

    State: ``hidden_input`` W_HX (n × m), ``hidden_lateral`` M_H, ``output_input`` W_YH,
    ``output_lateral`` M_Y (n × n), ``hidden_gains`` D1, ``output_gains`` D2 (n).

    Rate substrate fast path: with batch size 1, :meth:`learn_stream` runs the whole chunk in
    a compiled kernel (numba, :func:`~._separation_kernels.detmax_stream`) implementing the
    same equations; ``fast_path="reference"`` uses :meth:`respond` + :meth:`learn`. Measured
    (``benchmarks/separation_sinr.py``, N = 500k): 30.2 dB at ρ = 0 on the headline setup
    (n = 4, m = 8, Toeplitz, 30 dB; 4 trials), 17.9 dB at ρ = 0.7; the sparse preset reproduces
    the WSM column of Table B within 0.6 dB at every SNR (10 trials: 27.15 … 4.54 dB against the
    published 26.55 … 4.72).

    Spiking (box domains, generic integrate-and-fire route, couplings of :meth:`weights` and
    :meth:`thresholds`): the fixed point is ``Γ_H((1−β) + βD1²) h = βD1W_HX x −
    [(1−β)M̂_H + βD1M̂_HD1] h + (1−β)W_YHᵀD2 y`` (a linear, offset-coded hidden population,
    offset ``hidden_offset``: h must stay above −offset) and ``Γ_Y D2 y = clip(W_YH h −
    M̂_Y D2 y)`` (outputs with offset ``y0 = −lo`` and ceiling 1: zero-rate rectification and
    a rate cap realise the box clip, see :mod:`bioplausible.substrates.spiking`). Learning per
    presentation calls :meth:`learn` on the decoded counts. The hidden ↔ output loop
    amplifies count errors (≈ 2/(r0 T) on a fixed state) and the Hebbian ``M_H`` picks them
    up, so learning needs a long count window: with n = 3, m = 6, 300 presentations the
    spiking SINR tracks the rate run at r0 T = 100 (r0 = 250 Hz, T = 0.4 s, dt = 0.5 ms) but
    parts from it at r0 T = 40 (tests/features/test_separation_spiking.py). ℓ1, simplex and
    polytope domains are refused on spikes (the spiking substrate's ``supports`` says why: their threshold
    would have to act per output through the gains, which no builder realises yet).
    """

    name = "detmax-wsm"
    agreement = (AgreementCase(
        "separation", {"sinr_db": (0.05, 0.0)},
        params={"n_sources": 3, "domain": "nonnegative-antisparse", **DETMAX_PRESETS["antisparse"]},
        task_options={"domain": "nonnegative-antisparse", "n_sources": 3, "n_mixtures": 6, "evaluation_samples": 1000},
        steps=300, eval_every=100, tail=3, slow=True,
        substrate_options={"spiking": {"rate_unit": 250.0, "presentation": 0.4, "dt": 5e-4}},
        learns={"sinr_db": ("absolute", 3.0)},
        note="r0 T = 100, ≈ 3 min; measured 16.49 / 18.54 / 17.74 dB (spiking) vs 16.58 / 18.84 / 16.73"),)
    family = "separation"
    default_task = "separation"
    description = "Det-Max BSS: two-layer weighted similarity matching with gains (NeurIPS 2022)"
    Parameters = DetMaxParameters
    params: DetMaxParameters
    task_keys = ("domain", "n_sources", *POLYTOPE_KEYS)
    # quick runs: the task's own quick size with the compiled kernel; without numba the numpy
    # reference path (≈ 10 ms per sample) gets fewer samples and inner steps
    quick_params = {} if numba_available() else {"max_iterations": 200}
    quick_steps = None if numba_available() else 1000

    def __init__(self, **parameters: Any) -> None:
        super().__init__(**parameters)
        self.last_settling_steps: np.ndarray | None = None

    def initial_state(self, rng: np.random.Generator, n_inputs: int, n_targets: int) -> dict[str, np.ndarray]:
        n, p = self.params.n_sources, self.params
        if n_inputs < n:
            raise ValueError(f"DetMaxWSM needs n_inputs >= n_sources={n}, got {n_inputs}")
        if p.initial_weights == "identity":
            hidden_input, output_input = np.eye(n, n_inputs), np.eye(n)
        else:
            hidden_input = _random_rows(rng, n, n_inputs, p.initial_weight_scales[0])
            output_input = _random_rows(rng, n, n, p.initial_weight_scales[1])
        return {
            "hidden_input": hidden_input,
            "hidden_lateral": p.lateral_scales[0] * np.eye(n),
            "output_input": output_input,
            "output_lateral": p.lateral_scales[1] * np.eye(n),
            "hidden_gains": np.full(n, float(p.initial_gains[0])),
            "output_gains": np.full(n, float(p.initial_gains[1])),
        }

    @property
    def kind(self) -> str:
        """Box domains: the declared fixed point (``"fixed-point"``); ℓ1 and simplex domains
        soft-threshold u/(Γ_Y D2) by λ, a threshold scaled per output by its own gain
        (``"scaled-threshold-unit"``); the mixed polytope ``"polytope-groups"``."""
        if self.params.domain == "polytope":
            return "polytope-groups"
        return "fixed-point" if self.params.domain in _BOX_DOMAINS else "scaled-threshold-unit"

    @property
    def _hidden_offset(self) -> float:
        if self.params.hidden_offset is not None:
            return float(self.params.hidden_offset)
        return 2.0 if self.params.domain.startswith("nonnegative") else 3.0

    def populations(self) -> list[Population]:
        m = self.state["hidden_input"].shape[-1] if self.state else 0
        n = self.params.n_sources
        low, high = _BOX_DOMAINS.get(self.params.domain, (None, None))
        return [
            Population("mixtures", m, role="input", description="mixtures x"),
            Population("hidden", n, offset=self._hidden_offset, description="hidden layer h (gain D1)"),
            Population("output", n, offset=-low if low is not None else 0.0, ceiling=high,
                       description=f"output y (gain D2), projected onto {self.params.domain}"),
        ]

    def connections(self) -> list[Connection]:
        return [
            Connection("mixtures", "hidden", rules.wsm_hebbian, kind="feedforward", description="β D1 W_HX"),
            Connection("hidden", "hidden", rules.wsm_hebbian, kind="lateral", description="−M̂_H (gain-weighted)"),
            Connection("output", "hidden", rules.wsm_hebbian, kind="feedback", description="(1−β) W_YHᵀ D2"),
            Connection("hidden", "output", rules.wsm_hebbian, kind="feedforward", description="W_YH"),
            Connection("output", "output", rules.wsm_hebbian, kind="lateral", description="−M̂_Y D2"),
        ]

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        """The couplings of the unprojected fixed point (the (1−ζ) factors cancel there)."""
        s, beta = self.state, self.params.beta
        d1, d2 = s["hidden_gains"], s["output_gains"]
        m_h = s["hidden_lateral"]
        hidden_self = (1 - beta) * m_h + beta * d1[..., :, None] * m_h * d1[..., None, :]
        output_self = s["output_lateral"] * d2[..., None, :]
        return {
            ("mixtures", "hidden"): beta * d1[..., :, None] * s["hidden_input"],
            ("hidden", "hidden"): -_off_diagonal(hidden_self),
            ("output", "hidden"): (1 - beta) * np.swapaxes(s["output_input"], -1, -2) * d2[..., None, :],
            ("hidden", "output"): s["output_input"],
            ("output", "output"): -_off_diagonal(output_self),
        }

    def thresholds(self) -> dict[str, np.ndarray]:
        s, beta = self.state, self.params.beta
        d1, d2 = s["hidden_gains"], s["output_gains"]
        gamma_h = np.diagonal(s["hidden_lateral"], axis1=-2, axis2=-1)
        gamma_y = np.diagonal(s["output_lateral"], axis1=-2, axis2=-1)
        return {"hidden": gamma_h * ((1 - beta) + beta * d1**2), "output": gamma_y * d2}

    def separator(self) -> np.ndarray:
        s, beta = self.state, self.params.beta
        d1, d2 = s["hidden_gains"], s["output_gains"]
        m_h, m_y, w_yh = s["hidden_lateral"], s["output_lateral"], s["output_input"]
        effective = (1 - beta) * m_h + beta * d1[..., :, None] * m_h * d1[..., None, :] - (1 - beta) * (
            np.swapaxes(w_yh, -1, -2) @ np.linalg.pinv(m_y) @ w_yh
        )
        # pseudo-inverses: early in learning M_Y or the effective matrix can be (near) singular
        hidden = np.linalg.pinv(effective) @ (beta * d1[..., :, None] * s["hidden_input"])
        return np.linalg.pinv(m_y) @ (w_yh @ hidden) / d2[..., :, None]

    def respond(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        s, p = self.state, self.params
        x = ensemble_inputs(inputs, self.ensemble_size, s["hidden_input"].shape[-1])
        beta, zeta = p.beta, p.zeta
        d1, d2 = s["hidden_gains"][:, None, :], s["output_gains"][:, None, :]
        m_h, m_y = s["hidden_lateral"], s["output_lateral"]
        gamma_h = np.diagonal(m_h, axis1=-2, axis2=-1)[:, None, :]
        gamma_y = np.diagonal(m_y, axis1=-2, axis2=-1)[:, None, :]
        hat_h, hat_y = _off_diagonal(m_h), _off_diagonal(m_y)
        feed = (1 - zeta) * beta * d1 * np.matmul(x, np.swapaxes(s["hidden_input"], -1, -2))
        hidden_couple = (1 - zeta) * ((1 - beta) * hat_h + beta * s["hidden_gains"][..., :, None] * hat_h
                                      * s["hidden_gains"][..., None, :])
        hidden_scale = gamma_h * (1 - zeta) * ((1 - beta) + beta * d1**2)
        shape = feed.shape  # (K, B, n), with K broadcast from the members
        v, u, h, y = (np.zeros(shape) for _ in range(4))
        threshold = np.zeros(shape[:-1] + threshold_shape(p.domain, p.sparse_groups))
        active = np.ones(shape[:-1], dtype=bool)
        steps = np.full(shape[:-1], p.max_iterations, dtype=np.int64)
        for t in range(1, p.max_iterations + 1):
            rate = max(p.neural_lr_start / (1 + p.neural_lr_decay * t), p.neural_lr_stop)
            dv = -v + feed - np.matmul(h, np.swapaxes(hidden_couple, -1, -2)) + (1 - zeta) * (1 - beta) * np.matmul(
                d2 * y, s["output_input"])
            new_v = v + rate * dv
            new_h = np.clip(new_v / hidden_scale, -p.hidden_clip, p.hidden_clip)
            du = (-u + np.matmul(new_h, np.swapaxes(s["output_input"], -1, -2))
                  - np.matmul(d2 * y, np.swapaxes(hat_y, -1, -2)))
            new_u = u + rate * du
            new_y, new_threshold = project_domain(new_u / (gamma_y * d2), threshold, p.domain, p.threshold_rate,
                                                  **polytope_options(p))
            done = (np.linalg.norm(new_v - v, axis=-1) <= p.tolerance * np.linalg.norm(new_v, axis=-1)) & (
                np.linalg.norm(new_u - u, axis=-1) <= p.tolerance * np.linalg.norm(new_u, axis=-1))
            keep = active[..., None]
            v, h = np.where(keep, new_v, v), np.where(keep, new_h, h)
            u, y = np.where(keep, new_u, u), np.where(keep, new_y, y)
            threshold = np.where(active.reshape(active.shape + (1,) * (threshold.ndim - active.ndim)),
                                 new_threshold, threshold)
            steps = np.where(active & done, t, steps)
            active &= ~done
            if not active.any():
                break
        self.last_settling_steps = steps
        return {"mixtures": x, "hidden": h, "output": y}

    def learn(self, activities: Mapping[str, np.ndarray], batch: Batch) -> None:
        s, p = self.state, self.params
        x = ensemble_inputs(batch.inputs, self.ensemble_size, s["hidden_input"].shape[-1])
        h, y = activities["hidden"], activities["output"]
        rate = rules.wsm_synaptic_rate(self.steps, p.gamma_start, p.gamma_stop, p.synaptic_schedule)
        s["hidden_lateral"] = s["hidden_lateral"] + rules.wsm_hebbian(h, h, s["hidden_lateral"], rate)
        s["hidden_input"] = s["hidden_input"] + rules.wsm_hebbian(h, x, s["hidden_input"], rate)
        s["output_lateral"] = s["output_lateral"] + rules.wsm_hebbian(y, y, s["output_lateral"], rate)
        s["output_input"] = s["output_input"] + rules.wsm_hebbian(y, h, s["output_input"], rate)
        weights = ((1 - p.zeta) * p.beta, (1 - p.zeta) * (1 - p.beta))
        layers = (("hidden_gains", "hidden_lateral", "hidden_input"),
                  ("output_gains", "output_lateral", "output_input"))
        for index, (gains, lateral, feedforward) in enumerate(layers):
            gain_rate = rules.decayed_gain_rate(p.gain_rates[index], self.steps, p.gain_rate_decay,
                                                p.gain_rate_decay_interval)
            change = rules.wsm_gain(s[gains], s[lateral], s[feedforward], weights[index], p.zeta, gain_rate)
            if p.gain_update == "clipped":
                s[gains] = np.clip(s[gains] + change, p.min_gains[index], p.max_gains[index])
            else:
                change = rules.cap_gain_step(change, s[gains], p.gain_step_cap)
                s[gains] = s[gains] + rules.revert_gain_step(s[gains], change, p.min_gains[index],
                                                             p.max_gains[index], p.gain_revert_margin)
        self.steps += 1

    def learn_stream(self, batch: Batch) -> dict[str, np.ndarray] | None:
        """Fused per-sample settle + learn over a chunk (K, S, m), compiled with numba.

        Same equations as :meth:`respond` + :meth:`learn`; returns the activities of the
        last sample, or None when the fast path is off (the substrate then loops itself).
        """
        mode = self.params.fast_path
        if mode == "reference" or (mode == "auto" and not numba_available()) or self.params.domain == "polytope":
            return None  # the kernel has no per-group thresholds: the polytope takes the reference path
        from ._separation_kernels import detmax_stream

        s, p = self.state, self.params
        x = np.ascontiguousarray(ensemble_inputs(batch.inputs, self.ensemble_size, s["hidden_input"].shape[-1]),
                                 dtype=float)
        if x.shape[0] != self.ensemble_size:
            x = np.ascontiguousarray(np.broadcast_to(x, (self.ensemble_size, *x.shape[1:])))
        names = ("hidden_input", "hidden_lateral", "output_input", "output_lateral", "hidden_gains", "output_gains")
        arrays = [np.ascontiguousarray(s[name], dtype=float).copy() for name in names]
        members, samples = x.shape[:2]
        hidden = np.zeros((members, samples, p.n_sources))
        outputs = np.zeros((members, samples, p.n_sources))
        steps = np.zeros((members, samples), dtype=np.int64)
        diverged = np.full(members, -1, dtype=np.int64)
        detmax_stream(
            *arrays, x, self.steps, p.beta, p.zeta, p.gamma_start, p.gamma_stop,
            0 if p.synaptic_schedule == "log" else 1,
            np.array(p.gain_rates, dtype=float), p.gain_rate_decay, p.gain_rate_decay_interval,
            _GAIN_UPDATES.index(p.gain_update), p.gain_step_cap, p.gain_revert_margin,
            np.array(p.min_gains, dtype=float), np.array(p.max_gains, dtype=float),
            _DOMAIN_CODE[p.domain], p.neural_lr_start, p.neural_lr_stop, p.neural_lr_decay, p.max_iterations,
            p.tolerance, p.threshold_rate, p.hidden_clip, hidden, outputs, steps, diverged,
        )
        for name, array in zip(names, arrays):
            s[name] = array
        _raise_at_divergence(self, diverged)
        self.steps += samples
        self.last_settling_steps = steps
        self.stream_activities = {"mixtures": x, "hidden": hidden, "output": outputs}
        return {"mixtures": x[:, -1:, :], "hidden": hidden[:, -1:, :], "output": outputs[:, -1:, :]}


def _raise_at_divergence(circuit: Circuit, diverged: np.ndarray) -> None:
    """After a fused stream: raise :class:`DivergenceError` at the exact update (the first
    sample, over members, whose update made the state non-finite)."""
    if (diverged >= 0).any():
        circuit.check_finite(circuit.steps + int(diverged[diverged >= 0].min()) + 1, invariants=False)


def _random_rows(rng: np.random.Generator, rows: int, columns: int, norm: float) -> np.ndarray:
    """Gaussian matrix with every row rescaled to Euclidean norm ``norm`` (authors' init)."""
    matrix = rng.standard_normal((rows, columns))
    return norm * matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _off_diagonal(matrix: np.ndarray) -> np.ndarray:
    n = matrix.shape[-1]
    result = matrix.copy()
    result[..., np.arange(n), np.arange(n)] = 0.0
    return result
