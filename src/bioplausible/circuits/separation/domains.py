"""Output domains of the separation circuits and their projections (theory: :ref:`theory-separation-domains`).

:func:`project_domain` is the output nonlinearity ``P_dom`` (box clip, or the soft
threshold of an inhibitory unit for the ℓ1-type domains, or one unit per sparse group for
the mixed polytope); :class:`DomainParameters` the polytope's structure for circuits that
project onto a domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ...core.domains import BOX_DOMAINS, OUTPUT_DOMAINS, POLYTOPE_KEYS
from ...validation import check_integer, check_polytope_structure
from ..base import Parameters

__all__ = ["DOMAIN_CODES", "box_clip", "soft_threshold", "rectified_shift", "level_step",
           "DomainParameters", "project_domain", "threshold_shape", "polytope_options", "polytope_masks",
           "project_polytope", "threshold_units"]

#: Each output domain's code in the compiled kernels (its index in ``OUTPUT_DOMAINS``).
DOMAIN_CODES = {name: code for code, name in enumerate(OUTPUT_DOMAINS)}


# ---------------------------------------------------------------------------- the equations
# Each projection equation, written once with numpy ufuncs so that one definition serves both
# paths: the numpy functions below apply it to whole arrays (rows × units), the compiled
# kernels (``kernels.py``) compile these very functions with numba and call them per unit.
def box_clip(value: Any, low: Any, high: Any) -> Any:
    """The box clip ``min(max(v, low), high)``."""
    return np.minimum(np.maximum(value, low), high)


def soft_threshold(value: Any, level: Any) -> Any:
    """The signed soft threshold ``sign(v) max(|v| − λ, 0)``."""
    return np.sign(value) * np.maximum(np.abs(value) - level, 0.0)


def rectified_shift(value: Any, level: Any) -> Any:
    """The nonnegative soft threshold ``max(v − λ, 0)``."""
    return np.maximum(value - level, 0.0)


def level_step(level: Any, total: Any, rate: float, lower: float) -> Any:
    """The inhibitory unit's integral step ``max(λ + η_λ (total − 1), lower)`` (total: ‖y‖₁
    or Σy; ``lower`` 0, or −∞ for the simplex's unbounded level)."""
    return np.maximum(level + rate * (total - 1.0), lower)



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
        return project_polytope(values, threshold, threshold_rate, *polytope_masks(
            values.shape[-1], nonnegative_dims, sparse_groups))
    if domain in BOX_DOMAINS:
        return box_clip(values, *BOX_DOMAINS[domain]), threshold
    if domain == "sparse":
        shrunk = soft_threshold(values, threshold[..., None])
        return shrunk, level_step(threshold, np.abs(shrunk).sum(axis=-1), threshold_rate, 0.0)
    shrunk = rectified_shift(values, threshold[..., None])
    if domain == "nonnegative-sparse":
        return shrunk, level_step(threshold, shrunk.sum(axis=-1), threshold_rate, 0.0)
    return shrunk, level_step(threshold, shrunk.sum(axis=-1), threshold_rate, -np.inf)


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


def polytope_masks(
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


def threshold_units(params: Any, time_constant: float, scaled: bool = False) -> dict[str, Any]:
    """The threshold units a circuit on an ℓ1-type domain or the mixed polytope declares for
    the spiking builder (``Circuit.soft_threshold``): the population they inhibit (``"output"``),
    the lower bound of their levels (0, or None for the simplex), τ_λ (s), ``signed`` (n,) the
    coordinates realised as ON/OFF pairs, ``groups`` (G, n) the coordinates each unit senses
    and inhibits, ``ceiling`` the box bound of every half (None: none), and ``scaled``: each
    output takes a level scaled by its own threshold (Det-Max thresholds u/(Γ_Y D2)).
    ℓ1 and simplex domains: one unit over all outputs, all signed (sparse) or none, no
    ceiling (‖y‖₁ ≤ 1 bounds them). The mixed polytope: one unit per sparse group, the
    signed dimensions signed, ceiling 1 (the box ``|y_i| ≤ 1``, ``0 ≤ y_i ≤ 1``)."""
    n = params.n_sources
    spec = {"population": "output", "lower": None if params.domain == "simplex" else 0.0,
            "time_constant": time_constant, "signed": np.full(n, params.domain == "sparse"),
            "groups": np.ones((1, n), dtype=bool), "ceiling": None, "scaled": scaled}
    if params.domain == "polytope":
        nonnegative, spec["groups"] = polytope_masks(n, params.nonnegative_dims, params.sparse_groups)
        spec["signed"], spec["ceiling"] = ~nonnegative, 1.0
    return spec


def project_polytope(
    values: np.ndarray, threshold: np.ndarray, threshold_rate: float, nonnegative: np.ndarray, members: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The polytope branch of :func:`project_domain` (masks from :func:`polytope_masks`)."""
    shrunk = np.array(values, dtype=float)
    new_threshold = np.array(threshold, dtype=float)
    for k, member in enumerate(members):
        level = new_threshold[..., k : k + 1]
        part = shrunk[..., member]
        part = np.where(nonnegative[member], rectified_shift(part, level), soft_threshold(part, level))
        shrunk[..., member] = part
        new_threshold[..., k] = level_step(level[..., 0], np.abs(part).sum(axis=-1), threshold_rate, 0.0)
    return box_clip(shrunk, np.where(nonnegative, 0.0, -1.0), 1.0), new_threshold


@dataclass(frozen=True)
class DomainParameters(Parameters):
    """The mixed polytope's structure for circuits that project onto a source domain.

    ``signed_dims``, ``nonnegative_dims`` (give one; the other is its complement) and
    ``sparse_groups`` (index tuples J with ``‖y_J‖₁ ≤ 1``) apply to ``domain="polytope"``;
    ``None`` takes the paper's 5-dim polytope. The subclass declares ``domain`` and ``n_sources``.
    """

    if TYPE_CHECKING:  # declared (with their defaults) by each subclass
        domain: str
        n_sources: int
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

