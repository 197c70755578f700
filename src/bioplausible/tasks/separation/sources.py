"""Source generation for the separation task: bounded, possibly correlated sources of the
synthetic domains (Student-t copula uniforms, ℓ1-ball projection, simplex, polytope,
Bernoulli) and natural-image sources (see :mod:`~bioplausible.tasks.separation`)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from ...core.domains import DOMAINS
from ...validation import check_choice
from .polytope import MixedPolytope

__all__ = ["t_copula_uniforms", "project_l1_ball", "generate_sources", "image_sources"]


def t_copula_uniforms(
    rng: np.random.Generator,
    n: int,
    size: int,
    correlation: float = 0.0,
    structure: str = "equicorrelated",
    degrees_of_freedom: float = 4.0,
) -> np.ndarray:
    """Uniform marginals with Student-t copula dependence, shape (size, n).

    ``g ~ χ²(ν)``, ``z ~ N(0, C)``, ``u = F_tν(z √(ν/g))`` (CIM-BSS ``bss_utils``; ν = 4).
    """
    index = np.arange(n)
    if structure == "equicorrelated":
        corr = (1.0 - correlation) * np.eye(n) + correlation * np.ones((n, n))
    else:
        corr = correlation ** np.abs(index[:, None] - index[None, :])
    factor = np.linalg.cholesky(corr)
    z = rng.standard_normal((size, n)) @ factor.T
    g = rng.chisquare(degrees_of_freedom, size)
    return stats.t.cdf(z * np.sqrt(degrees_of_freedom / g)[:, None], degrees_of_freedom)


def project_l1_ball(values: np.ndarray, radius: float = 1.0) -> np.ndarray:
    """Euclidean projection of each row onto ``{v: ‖v‖₁ ≤ radius}`` (sort-based, Duchi et al. 2008)."""
    values = np.asarray(values, dtype=float)
    magnitude = np.abs(values)
    inside = magnitude.sum(axis=-1) <= radius
    ordered = -np.sort(-magnitude, axis=-1)
    cumulative = np.cumsum(ordered, axis=-1) - radius
    ranks = np.arange(1, values.shape[-1] + 1)
    support = ordered - cumulative / ranks > 0
    last = values.shape[-1] - 1 - np.argmax(support[..., ::-1], axis=-1)
    threshold = np.take_along_axis(cumulative, last[..., None], axis=-1) / (last[..., None] + 1)
    projected = np.sign(values) * np.maximum(magnitude - np.maximum(threshold, 0.0), 0.0)
    return np.where(inside[..., None], values, projected)


def generate_sources(
    domain: str,
    n: int,
    size: int,
    rng: np.random.Generator,
    correlation: float = 0.0,
    structure: str = "equicorrelated",
    *,
    polytope: MixedPolytope | None = None,
) -> np.ndarray:
    """``size`` source vectors (rows) of one of the synthetic :data:`DOMAINS` (see :ref:`theory-separation-sources`).

    ``polytope`` (domain ``"polytope"``): the :class:`MixedPolytope` to sample; ``None`` is
    the paper's 5-dim one."""
    check_choice("domain", domain, DOMAINS[:-1])
    if domain == "polytope":
        polytope = MixedPolytope(n) if polytope is None else polytope
        if polytope.dimension != n:
            raise ValueError(f"polytope is {polytope.dimension}-dimensional but n={n} sources were asked for")
        return polytope.sample(rng, size)
    if domain == "simplex":
        exponential = rng.exponential(size=(size, n))
        return exponential / exponential.sum(axis=1, keepdims=True)
    if domain == "nonnegative-bernoulli":
        return rng.uniform(0.0, np.sqrt(48.0 / 5.0), (size, n)) * (rng.random((size, n)) < 0.5)
    uniforms = t_copula_uniforms(rng, n, size, correlation, structure)
    if domain == "antisparse":
        return 2.0 * uniforms - 1.0
    if domain == "nonnegative-antisparse":
        return uniforms
    sparse = project_l1_ball(4.0 * uniforms - 2.0)
    return np.maximum(sparse, 0.0) if domain == "nonnegative-sparse" else sparse

def image_sources(n: int, rng: np.random.Generator, side: int = 128, scaling: str = "box") -> np.ndarray:
    """``n`` random ``side × side`` windows of scikit-image's natural photographs as source
    columns (pixels are samples), each shifted to minimum 0 and scaled to maximum 1
    (``"box"``: the nonnegative antisparse domain CorInfoMax projects onto) or to unit
    variance (``"unit-variance"``: the Bio-NICA recipe; the authors used their own images)."""
    from ..datasets import natural_images

    images = natural_images()
    if n > len(images):
        raise ValueError(f"natural-images provides at most {len(images)} sources, got n_sources={n}")
    chosen = rng.choice(len(images), n, replace=False)
    columns = []
    for index in chosen:
        image = images[index]
        top = rng.integers(0, image.shape[0] - side + 1)
        left = rng.integers(0, image.shape[1] - side + 1)
        window = image[top : top + side, left : left + side].reshape(-1)
        window = window - window.min()
        columns.append(window / (window.max() if scaling == "box" else window.std()))
    return np.stack(columns, axis=1)
