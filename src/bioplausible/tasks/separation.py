"""Blind source separation: mixtures ``x = A s + noise`` of bounded, possibly correlated
sources (theory: :ref:`theory-separation`).

Sources (``domain``), all drawn per sample from the task's Generator:

============================  =========================================================
``"antisparse"``              ``2u − 1`` (ℓ∞ ball), u the t-copula uniforms below
``"nonnegative-antisparse"``  u (the nonnegative unit box)
``"sparse"``                  ``4u − 2`` projected onto the unit ℓ1 ball (sort-based)
``"nonnegative-sparse"``      the sparse sources with negative entries set to 0
``"simplex"``                 Dirichlet(1, …, 1) (Exp(1) entries over their sum)
``"polytope"``                uniform in a mixed polytope (:class:`MixedPolytope`): signed
                              coordinates in [−1, 1], nonnegative ones in [0, 1], and
                              ``‖s_J‖₁ ≤ 1`` for each sparse group J; default the paper's
                              5-dim one (signed {0, 1, 3}, nonnegative {2, 4}, groups
                              {0, 1, 4}, {1, 2, 3}; the authors ran it at 40 dB)
``"nonnegative-bernoulli"``   Bio-NICA's ``U(0, √(48/5)) · Bernoulli(½)``: unit variance,
                              well grounded (Lipshutz et al. 2022)
``"natural-images"``          ``n`` windows of scikit-image's bundled photographs (pixels as
                              samples), shifted to minimum 0 and scaled to maximum 1
                              (``image_scaling="unit-variance"``: Bio-NICA's scaling)
============================  =========================================================

The correlation ρ applies to the t-copula domains (not simplex, polytope, Bernoulli or images).
Correlated uniforms come from a Student-t copula (CIM-BSS ``bss_utils``): correlation
``C = (1−ρ)I + ρ11ᵀ`` (``"equicorrelated"``) or ``C_ij = ρ^{|i−j|}`` (``"toeplitz"``),
``g ~ χ²(4)``, ``z ~ N(0, C)``, ``u = F_t4(z √(4/g))``.

Mixing ``A`` (m × n) is ``"gaussian"`` (default, ``N(0, 1)``), ``"uniform"`` (``U(−1, 1)``)
or ``"laplace"``; white noise is added per mixture at ``snr_db`` with noise power
``10^(−SNR/10) · E[x_i²]`` (non-centred power, CIM-BSS ``addWGN``), ``E[x_i²]`` taken over
the held-out set. ``mixture_scaling`` rescales the mixtures as the Det-Max / WSM scripts do
(default ``"none"``): ``"row-std"`` rescales each row of A so the clean mixture has standard
deviation ``mixture_std`` and then adds noise of std ``10^(−SNR/20) · mixture_std`` (DetMax-BSS
``simulation_*.py``: ``INPUT_STD = 0.5``, 0.28 in the nonnegative-antisparse script);
``"noisy-row-std"`` keeps the noise model above and rescales each noisy mixture row (signal
and noise together) to std ``mixture_std`` (the WSM baseline inside CIM-BSS:
``X = 0.5 · X / X.std(1)``; we use the noisy row's expected std, √(var(clean) + σ²)). The
statistics are taken over the held-out set.

Metrics (:meth:`SourceSeparation.score`, on ``evaluation_samples`` held-out noisy samples):

* ``sinr_db``: SINR of the circuit's overall *linear* separator ``W_f`` (``circuit.separator()``),
  computed exactly as CIM-BSS ``evaluate_bss`` (greedy matching, sign fix, least-squares
  scale; simplex: centred) — :func:`sinr_db`;
* ``output_sinr_db``: the same on the circuit's (projected, nonlinear) outputs;
* ``msnr_db``: mean per-component SNR; ``amari_index`` of ``W_f A`` (0 = perfect);
* ``permutation_error``: Bio-NICA's Hungarian-matched squared error on the outputs.

The linear metrics cost one matrix product; the output metrics settle the circuit's recurrent
dynamics on every sample they use (CorInfoMax: up to 500 iterations per sample), which made
scoring cost several times the learning. They are therefore computed on a fixed, evenly
spaced subset of ``output_samples`` of the held-out samples (default 1000; ``None``: all),
the same subset at every evaluation, settled for all samples at once (vectorised). Measured
(CorInfoMax, 3 seeds, trained): settling 5000 samples 0.43 s, 1000 samples 0.09 s; the
headline ``sinr_db`` is still measured on all ``evaluation_samples``.

``sinr_matching`` picks how each source is matched to an output before the SINR:
``"cosine"`` (default; see :ref:`theory-separation-metrics`: largest ``|cos(y_i, s_j)|``) or ``"inner-product"``,
the authors' code as it runs: CIM-BSS ``find_permutation_between_source_and_estimation``
divides ``|⟨y_i, s_j⟩|`` by ``‖s_j‖ ‖y_j‖`` (the *j*-th output's norm, the same for every
candidate i), so it picks the output with the largest raw ``|⟨y_i, s_j⟩|``. For nonnegative,
strongly correlated sources that choice follows the output scales rather than the match and
can give one output to two sources; it is what produced the published CorInfoMax tables
(see ``benchmarks/separation_sinr.py``). With ``"inner-product"``, :meth:`SourceSeparation.score`
also reports the cosine-matched value as ``sinr_cosine_db``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from math import factorial
from typing import Any, ClassVar

import numpy as np
from scipy import stats
from scipy.optimize import linear_sum_assignment, linprog
from scipy.spatial import Delaunay, HalfspaceIntersection

from ..core import Batch, CircuitLike
from ..core.domains import CIRCUIT_DOMAIN, DOMAINS, POLYTOPE_KEYS
from ..validation import check_bool, check_choice, check_integer, check_polytope_structure, check_real
from .base import Task, register_task, single

_STREAM_BLOCK = 1024  # samples drawn at a time for the training stream

__all__ = [
    "SourceSeparation",
    "MixedPolytope",
    "DOMAINS",
    "MATCHINGS",
    "t_copula_uniforms",
    "project_l1_ball",
    "generate_sources",
    "sinr_db",
    "component_snr_db",
    "amari_index",
    "permutation_error",
]

#: How sources are matched to outputs before the SINR (module docstring).
MATCHINGS = ("cosine", "inner-product")


@register_task
class SourceSeparation(Task):
    """Linear mixtures of bounded sources; see the module docstring.

    ``n_sources`` n, ``n_mixtures`` m ≥ n, ``correlation`` ρ of the copula, ``snr_db`` (None:
    noiseless), ``evaluation_samples`` held-out samples for the metrics, ``output_samples``
    how many of them (a fixed, evenly spaced subset; None: all) the output metrics settle the
    circuit on (module docstring). Domain
    ``"polytope"``: ``signed_dims``, ``nonnegative_dims`` (give one, the other is its
    complement) and ``sparse_groups`` (index tuples) set the polytope; ``None`` takes the
    paper's 5-dim one (:data:`~bioplausible.validation.DEFAULT_POLYTOPE`).
    """

    name = "separation"
    description = "blind source separation of correlated bounded sources; SINR of the separator"
    family = "separation"
    #: whitening circuits run here too (their output is scored as a separation)
    circuit_families = ("separation", "adaptation")
    headline_metrics = ("sinr_db", "amari_index", "permutation_error", "steps_to_final_sinr")
    default_steps = 100_000
    default_batch_size = 1
    default_eval_every = 10_000
    quick_steps = 10_000
    #: The quick comparison runs the correlated setting of the CorInfoMax paper (Bozkurt et al.
    #: 2023, Table A at ρ = 0.6), where the circuits' ordering is the paper's point: CorInfoMax
    #: (and Det-Max) keep separating correlated sources, NSM and ICA, which assume independent
    #: sources, do not. The full default is ρ = 0.
    quick_options: ClassVar[dict[str, Any]] = {"correlation": 0.6}
    quick_spiking_options = {"rate_unit": 100.0, "presentation": 0.1, "dt": 1e-3}
    #: The quick comparison's spiking runs: the first 1000 samples (the runtime path, ≈ 10 s).
    quick_spiking_steps = 1000

    def __init__(
        self,
        domain: str = "nonnegative-antisparse",
        n_sources: int = 5,
        n_mixtures: int = 10,
        correlation: float = 0.0,
        correlation_structure: str = "equicorrelated",
        mixing: str = "gaussian",
        snr_db: float | None = 30.0,
        evaluation_samples: int = 5_000,
        shuffle_images: bool = True,
        image_side: int = 128,
        image_scaling: str = "box",
        signed_dims: tuple[int, ...] | None = None,
        nonnegative_dims: tuple[int, ...] | None = None,
        sparse_groups: tuple[tuple[int, ...], ...] | None = None,
        sinr_matching: str = "cosine",
        mixture_scaling: str = "none",
        mixture_std: float = 0.5,
        output_samples: int | None = 1000,
    ) -> None:
        super().__init__()
        self.domain = check_choice("domain", domain, DOMAINS)
        self.n_sources = check_integer("n_sources", n_sources, 1)
        self.n_mixtures = check_integer("n_mixtures", n_mixtures, 1)
        if self.n_mixtures < self.n_sources:
            raise ValueError(f"n_mixtures must be >= n_sources={n_sources}, got {n_mixtures}")
        self.correlation = check_real("correlation", correlation, 0.0, 1.0, inclusive=True)
        if self.correlation >= 1.0:
            raise ValueError(f"correlation must be < 1 (the copula needs a PD correlation), got {correlation}")
        self.correlation_structure = check_choice(
            "correlation_structure", correlation_structure, ["equicorrelated", "toeplitz"]
        )
        self.mixing = check_choice("mixing", mixing, ["gaussian", "uniform", "laplace"])
        self.snr_db = None if snr_db is None else check_real("snr_db", snr_db, -100.0, 300.0)
        self.evaluation_samples = check_integer("evaluation_samples", evaluation_samples, 10)
        self.shuffle_images = check_bool("shuffle_images", shuffle_images)
        self.image_side = check_integer("image_side", image_side, 4)
        self.image_scaling = check_choice("image_scaling", image_scaling, ["box", "unit-variance"])
        structure = (signed_dims, nonnegative_dims, sparse_groups)
        if self.domain == "polytope":
            self._polytope: MixedPolytope | None = MixedPolytope(self.n_sources, *structure)
            structure = self._polytope.structure
        elif any(item is not None for item in structure):
            raise ValueError(f"signed_dims, nonnegative_dims and sparse_groups apply to domain='polytope', "
                             f"not {self.domain!r}")
        else:
            self._polytope = None
        self.signed_dims, self.nonnegative_dims, self.sparse_groups = structure
        self.sinr_matching = check_choice("sinr_matching", sinr_matching, MATCHINGS)
        self.mixture_scaling = check_choice("mixture_scaling", mixture_scaling, ["none", "row-std", "noisy-row-std"])
        self.mixture_std = check_real("mixture_std", mixture_std, 0.0, inclusive=False)
        self.output_samples = None if output_samples is None else check_integer("output_samples", output_samples, 1)
        self.mixing_matrix: np.ndarray | None = None
        self.noise_std: np.ndarray | None = None

    @property
    def n_inputs(self) -> int:
        return self.n_mixtures

    def circuit_options(self) -> dict[str, Any]:
        """The output domain a separation circuit must project onto (polytope: and its
        structure, with the ``n_sources`` it is defined in)."""
        options: dict[str, Any] = {"domain": CIRCUIT_DOMAIN.get(self.domain, self.domain)}
        if self.domain == "polytope":
            options["n_sources"] = self.n_sources
            options.update(zip(POLYTOPE_KEYS, (self.signed_dims, self.nonnegative_dims, self.sparse_groups)))
        return options

    # ------------------------------------------------------------------ data
    def _generate(self) -> None:
        rng = self._require_reset()
        self._buffer: list[tuple[np.ndarray, np.ndarray]] = []
        self._buffered = 0
        n, m = self.n_sources, self.n_mixtures
        if self.mixing == "gaussian":
            self.mixing_matrix = rng.standard_normal((m, n))
        elif self.mixing == "uniform":
            self.mixing_matrix = rng.uniform(-1.0, 1.0, (m, n))
        else:
            self.mixing_matrix = rng.laplace(size=(m, n))
        self._images = (
            _image_sources(n, rng, self.image_side, self.image_scaling) if self.domain == "natural-images" else None
        )
        self._image_position = 0
        if self._images is not None and self.shuffle_images:
            self._order = rng.permutation(self._images.shape[0])
        elif self._images is not None:
            self._order = np.arange(self._images.shape[0])
        sources = self._draw_sources(self.evaluation_samples, rng, evaluation=True)
        clean = sources @ self.mixing_matrix.T
        if self.mixture_scaling == "row-std":
            self.mixing_matrix *= (self.mixture_std / np.std(clean, axis=0))[:, None]
            clean = sources @ self.mixing_matrix.T
        if self.snr_db is None:
            self.noise_std = np.zeros(m)
        elif self.mixture_scaling == "row-std":
            self.noise_std = np.full(m, 10.0 ** (-self.snr_db / 20.0) * self.mixture_std)
        else:
            self.noise_std = np.sqrt(10.0 ** (-self.snr_db / 10.0) * np.mean(clean**2, axis=0))
        if self.mixture_scaling == "noisy-row-std":
            factor = self.mixture_std / np.sqrt(np.var(clean, axis=0) + self.noise_std**2)
            self.mixing_matrix *= factor[:, None]
            self.noise_std = self.noise_std * factor
            clean = sources @ self.mixing_matrix.T
        self.evaluation_sources = sources
        self.evaluation_mixtures = clean + rng.standard_normal(clean.shape) * self.noise_std

    def _draw_sources(self, size: int, rng: np.random.Generator, evaluation: bool = False) -> np.ndarray:
        if self._images is None:
            return generate_sources(
                self.domain, self.n_sources, size, rng, self.correlation, self.correlation_structure,
                polytope=self._polytope,
            )
        if evaluation:  # the whole image set: the metric is measured on every pixel
            return self._images.copy()
        rows = []
        while size > 0:
            take = min(size, self._images.shape[0] - self._image_position)
            rows.append(self._images[self._order[self._image_position : self._image_position + take]])
            self._image_position += take
            size -= take
            if self._image_position == self._images.shape[0]:  # a new epoch, reshuffled
                self._image_position = 0
                if self.shuffle_images:
                    self._order = rng.permutation(self._images.shape[0])
        return np.concatenate(rows)

    def next_batch(self, size: int) -> Batch:
        """The next ``size`` samples. The stream is drawn in fixed blocks, so it does not depend
        on how it is cut into batches (a resumed run sees the same samples as an unbroken one)."""
        rng = self._require_reset()
        mixing, noise_std = self.mixing_matrix, self.noise_std
        if mixing is None or noise_std is None:
            raise RuntimeError("SourceSeparation must be reset(seed=...) before use")
        while self._buffered < size:
            sources = self._draw_sources(_STREAM_BLOCK, rng)
            noise = rng.standard_normal((_STREAM_BLOCK, self.n_mixtures)) * noise_std
            self._buffer.append((sources @ mixing.T + noise, sources))
            self._buffered += _STREAM_BLOCK
        mixtures = np.concatenate([m for m, _ in self._buffer])
        sources = np.concatenate([s for _, s in self._buffer])
        self._buffer = [(mixtures[size:], sources[size:])]
        self._buffered -= size
        return Batch(mixtures[:size], info={"sources": sources[:size]})

    def evaluation_set(self) -> Batch:
        return Batch(self.evaluation_mixtures, info={"sources": self.evaluation_sources})

    # ------------------------------------------------------------------ scoring
    def score(self, circuit: CircuitLike, batch: Batch | None = None, substrate: Any = None) -> dict[str, float]:
        """SINR of the linear separator (if the circuit exposes ``separator()``) and of its
        outputs on the held-out set, the Amari index and the permutation error."""
        options = self.circuit_options()
        expected = options["domain"]
        params = getattr(circuit, "params", None)
        domain = getattr(params, "domain", expected)
        if domain != expected:
            raise ValueError(
                f"{circuit.name} projects onto the {domain!r} domain but the task's sources are {self.domain!r}: "
                f"construct it with domain={expected!r} (CLI: --param domain={expected})"
            )
        for key in POLYTOPE_KEYS if domain == "polytope" else ():
            value = getattr(params, key, options[key])
            if value != options[key]:
                raise ValueError(f"{circuit.name} has {key}={value!r} but the task's polytope has {options[key]!r}: "
                                 f"construct it with the task's circuit_options()")
        sources, mixtures = self.evaluation_sources, self.evaluation_mixtures
        centre = self.domain == "simplex"
        matching = self.sinr_matching
        metrics: dict[str, float] = {}
        separator = getattr(circuit, "separator", None)
        if separator is not None:
            matrix = single(separator())
            linear = mixtures @ matrix.T
            metrics["sinr_db"] = sinr_db(sources, linear, centre=centre, matching=matching)
            if matching != "cosine":
                metrics["sinr_cosine_db"] = sinr_db(sources, linear, centre=centre)
            metrics["msnr_db"] = float(np.mean(component_snr_db(sources, linear, centre=centre, matching=matching)))
            metrics["amari_index"] = amari_index(matrix @ self.mixing_matrix)
        subset = self._output_subset()
        sources, mixtures = sources[subset], mixtures[subset]
        outputs = single(circuit.output(circuit.respond(mixtures[None])))
        metrics["output_sinr_db"] = sinr_db(sources, outputs, centre=centre, matching=matching)
        if "sinr_db" not in metrics:
            metrics["sinr_db"] = metrics["output_sinr_db"]
        metrics["permutation_error"] = permutation_error(sources, outputs)
        return metrics

    def _output_subset(self) -> np.ndarray:
        """Indices of the held-out samples the output metrics use: ``output_samples`` evenly
        spaced ones (all of them when there are not more)."""
        total = self.evaluation_sources.shape[0]
        if self.output_samples is None or self.output_samples >= total:
            return np.arange(total)
        return np.unique(np.linspace(0, total - 1, self.output_samples).round().astype(int))

    def summarize(self, trace: Mapping[str, np.ndarray], steps: np.ndarray) -> dict[str, float]:
        """Final SINR and the first step at which the SINR came within 1 dB of its final value."""
        sinr = np.asarray(trace.get("sinr_db", []), dtype=float)
        if sinr.size == 0:
            return {}
        final = float(sinr[-1])
        outside = np.flatnonzero(~(np.abs(sinr - final) <= 1.0)) if np.isfinite(final) else np.array([], int)
        settled = int(outside[-1]) + 1 if outside.size else 0
        return {"final_sinr_db": final, "steps_to_final_sinr": float(steps[settled])}


# ====================================================================== sources
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


class MixedPolytope:
    """The polytope ``{s: s_i ∈ [−1, 1] (i signed), s_i ∈ [0, 1] (i nonnegative),
    ‖s_J‖₁ ≤ 1 for each J in sparse_groups}`` and a uniform sampler on it (see :ref:`theory-separation-domains`).

    Sampling (verified in the authors' code, CIM-BSS ``bss_utils.generate_uniform_points_in_polytope``
    and ``polytope_utils.generate_practical_polytope``): vertices of the halfspace description,
    a Delaunay triangulation of their hull, a simplex chosen with probability ∝ its volume
    ``|det(v₁ − v₀, …, v_n − v₀)|/n!``, and Dirichlet(1, …, 1) barycentric weights (uniform in
    that simplex). The authors enumerate vertices with pypoman; we intersect the halfspaces
    with scipy (``HalfspaceIntersection`` from the Chebyshev centre). Their group rows are all
    2^|J| sign patterns; ours drop the patterns with a −1 on a nonnegative coordinate, which
    ``s_i ≥ 0`` already implies (the same set). Randomness comes only from ``rng``.
    """

    def __init__(
        self,
        n_sources: int = 5,
        signed_dims: Any = None,
        nonnegative_dims: Any = None,
        sparse_groups: Any = None,
    ) -> None:
        n = check_integer("n_sources", n_sources, 1, _MAX_POLYTOPE_DIMENSION)
        self.structure = check_polytope_structure(n, signed_dims, nonnegative_dims, sparse_groups)
        self.signed_dims, self.nonnegative_dims, self.sparse_groups = self.structure
        self.dimension = n

    def __repr__(self) -> str:
        return (f"MixedPolytope(n_sources={self.dimension}, signed_dims={self.signed_dims}, "
                f"nonnegative_dims={self.nonnegative_dims}, sparse_groups={self.sparse_groups})")

    def halfspaces(self) -> tuple[np.ndarray, np.ndarray]:
        """``(A, b)`` with the polytope ``{s: A s ≤ b}``."""
        return _polytope_halfspaces(self.dimension, self.structure)

    def contains(self, points: np.ndarray, tolerance: float = 1e-9) -> np.ndarray:
        """Whether each row of ``points`` satisfies every inequality to ``tolerance``."""
        matrix, bound = self.halfspaces()
        return np.all(np.asarray(points, dtype=float) @ matrix.T <= bound + tolerance, axis=-1)

    @property
    def vertices(self) -> np.ndarray:
        """The vertices (V, n)."""
        return _polytope_triangulation(self.dimension, self.structure)[0]

    @property
    def volume(self) -> float:
        """The summed volume of the triangulation's simplices."""
        return float(_polytope_triangulation(self.dimension, self.structure)[2].sum())

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` points uniform in the polytope, shape (size, n)."""
        _, simplices, volumes = _polytope_triangulation(self.dimension, self.structure)
        chosen = rng.choice(len(volumes), size=size, p=volumes / volumes.sum())
        weights = rng.dirichlet(np.ones(self.dimension + 1), size)
        return np.einsum("bk,bkn->bn", weights, simplices[chosen])


_MAX_POLYTOPE_DIMENSION = 8  # Delaunay triangulations grow quickly with the dimension


@lru_cache(maxsize=32)
def _polytope_halfspaces(n: int, structure: tuple) -> tuple[np.ndarray, np.ndarray]:
    signed, nonnegative, groups = structure
    rows, bounds = [], []
    for i in range(n):
        unit = np.eye(n)[i]
        rows += [unit, -unit]
        bounds += [1.0, 1.0 if i in signed else 0.0]
    for group in groups:
        free = [i for i in group if i in signed]
        for pattern in range(2 ** len(free)):
            row = np.zeros(n)
            row[list(group)] = 1.0
            for bit, i in enumerate(free):
                if pattern >> bit & 1:
                    row[i] = -1.0
            rows.append(row)
            bounds.append(1.0)
    matrix, bound = np.array(rows), np.array(bounds)
    matrix.setflags(write=False)
    bound.setflags(write=False)
    return matrix, bound


@lru_cache(maxsize=32)
def _polytope_triangulation(n: int, structure: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices (V, n), Delaunay simplices (T, n + 1, n) and their volumes (T,)."""
    matrix, bound = _polytope_halfspaces(n, structure)
    norms = np.linalg.norm(matrix, axis=1)
    # Chebyshev centre: max r s.t. A c + r‖a_i‖ ≤ b (an interior point for the intersection)
    centre = linprog(np.r_[np.zeros(n), -1.0], A_ub=np.c_[matrix, norms], b_ub=bound,
                     bounds=[(None, None)] * n + [(0, None)])
    if not centre.success or centre.x[-1] <= 1e-9:
        raise ValueError(f"the polytope {structure} has no interior")
    if n == 1:
        vertices = np.array([[-bound[1]], [bound[0]]])  # the box interval; a group adds nothing in 1-d
        simplices = vertices[None]
        volumes = np.array([bound[0] + bound[1]])
    else:
        points = HalfspaceIntersection(np.c_[matrix, -bound], centre.x[:n]).intersections
        vertices = np.unique(np.round(points, 12) + 0.0, axis=0)
        triangulation = Delaunay(vertices)
        simplices = vertices[triangulation.simplices]
        edges = simplices[:, 1:, :] - simplices[:, :1, :]
        volumes = np.abs(np.linalg.det(edges)) / factorial(n)
        solid = volumes > 1e-12 * volumes.max()  # Qhull's flat slivers (cospherical vertices)
        simplices, volumes = simplices[solid], volumes[solid]
    for array in (vertices, simplices, volumes):
        array.setflags(write=False)
    return vertices, simplices, volumes


def _image_sources(n: int, rng: np.random.Generator, side: int = 128, scaling: str = "box") -> np.ndarray:
    """``n`` random ``side × side`` windows of scikit-image's natural photographs as source
    columns (pixels are samples), each shifted to minimum 0 and scaled to maximum 1
    (``"box"``: the nonnegative antisparse domain CorInfoMax projects onto) or to unit
    variance (``"unit-variance"``: the Bio-NICA recipe; the authors used their own images)."""
    from .datasets import natural_images

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


# ====================================================================== metrics
def _matched_outputs(
    sources: np.ndarray, outputs: np.ndarray, centre: bool, matching: str = "cosine"
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching, sign fix and least-squares scale (CIM-BSS ``evaluate_bss``): (n, N) each.

    ``matching="cosine"``: source j gets the output with the largest ``|cos(y_i, s_j)|``;
    ``"inner-product"``: the largest raw ``|⟨y_i, s_j⟩|`` (what CIM-BSS's code computes)."""
    check_choice("matching", matching, MATCHINGS)
    s = np.asarray(sources, dtype=float).T
    y = np.asarray(outputs, dtype=float).T
    if centre:
        s = s - s.mean(axis=1, keepdims=True)
        y = y - y.mean(axis=1, keepdims=True)
    if matching == "cosine":
        norms = np.linalg.norm(y, axis=1)[:, None] * np.linalg.norm(s, axis=1)[None, :]
        score = np.abs(y @ s.T) / np.where(norms > 0, norms, np.inf)
    else:
        score = np.abs(y @ s.T)
    matched = y[np.argmax(score, axis=0)]
    inner = np.sum(matched * s, axis=1)
    matched = matched * np.where(inner < 0, -1.0, 1.0)[:, None]
    power = np.sum(matched**2, axis=1)
    scale = np.abs(inner) / np.where(power > 0, power, np.inf)
    return s, matched * scale[:, None]


def sinr_db(sources: np.ndarray, outputs: np.ndarray, centre: bool = False, matching: str = "cosine") -> float:
    """Signal-to-interference-plus-noise ratio (dB) of ``outputs`` (N, k) against ``sources`` (N, n).

    CIM-BSS ``evaluate_bss`` + ``CalculateSINR``: for each source j the output with the
    largest ``|cos|`` is taken (greedy, may repeat), sign-fixed and scaled by least squares;
    then ``g_j = ⟨y_j − ȳ_j, s_j − s̄_j⟩/‖s_j − s̄_j‖²``, ``z_j = g_j (s_j − s̄_j) + ȳ_j`` and
    ``SINR = 10 log10(‖Z‖²_F / ‖Y − Z‖²_F)``. ``centre=True`` (simplex) centres S and Y first.
    ``matching="inner-product"`` matches by the raw ``|⟨y_i, s_j⟩|`` instead of the cosine,
    as CIM-BSS's code does (module docstring). Returns ``inf`` for a perfect separator and
    ``nan`` for all-zero outputs.
    """
    s, y = _matched_outputs(sources, outputs, centre, matching)
    s_centred = s - s.mean(axis=1, keepdims=True)
    y_mean = y.mean(axis=1, keepdims=True)
    variance = np.sum(s_centred**2, axis=1)
    gain = np.sum((y - y_mean) * s_centred, axis=1) / np.where(variance > 0, variance, np.inf)
    z = gain[:, None] * s_centred + y_mean
    residual = float(np.sum((y - z) ** 2))
    signal = float(np.sum(z**2))
    if signal == 0.0:  # silent (or constant-zero) outputs carry no source: not a perfect separator
        return float("nan") if residual == 0.0 else float("-inf")
    if residual <= 1e-300 * max(signal, 1.0) or residual == 0.0:
        return float("inf")
    return float(10.0 * np.log10(signal / residual))


def component_snr_db(
    sources: np.ndarray, outputs: np.ndarray, centre: bool = False, matching: str = "cosine"
) -> np.ndarray:
    """Per-source SNR ``10 log10(‖s_j‖² / ‖s_j − y_j‖²)`` after matching, sign and scale (n,)."""
    s, y = _matched_outputs(sources, outputs, centre, matching)
    error = np.sum((s - y) ** 2, axis=1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.sum(s**2, axis=1) / error)


def amari_index(global_matrix: np.ndarray) -> float:
    """Amari index of the global map ``P = W_f A`` (n × n): 0 iff P is a scaled permutation.

    ``(1/(2n(n−1))) [Σ_i (Σ_j |p_ij| / max_k |p_ik| − 1) + Σ_j (Σ_i |p_ij| / max_k |p_kj| − 1)]``,
    in [0, 1] (Amari, Cichocki & Yang 1996, normalised).
    """
    p = np.abs(np.asarray(global_matrix, dtype=float))
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ValueError(f"global_matrix must be square (W_f A), got shape {p.shape}")
    n = p.shape[0]
    if n == 1:
        return 0.0
    rows = np.sum(p.sum(axis=1) / p.max(axis=1) - 1.0)
    cols = np.sum(p.sum(axis=0) / p.max(axis=0) - 1.0)
    return float((rows + cols) / (2.0 * n * (n - 1)))


def permutation_error(sources: np.ndarray, outputs: np.ndarray) -> float:
    """Bio-NICA's permutation error: Hungarian assignment on ``C_ij = Σ_t (s_i(t) − y_j(t))²``
    (no sign or scale fix), then the mean over samples of ``Σ_i (s_i − y_π(i))² / n``
    (bio-nica ``util.py``; Lipshutz, Pehlevan & Chklovskii 2022)."""
    s = np.asarray(sources, dtype=float)
    y = np.asarray(outputs, dtype=float)
    cost = (
        np.sum(s**2, axis=0)[:, None] + np.sum(y**2, axis=0)[None, :] - 2.0 * s.T @ y
    )
    rows, cols = linear_sum_assignment(cost)
    return float(np.mean(np.sum((s[:, rows] - y[:, cols]) ** 2, axis=1) / s.shape[1]))
