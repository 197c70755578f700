"""The separation task (:class:`SourceSeparation`): mixing, noise, the training stream, the
held-out set and scoring (see :mod:`~bioplausible.tasks.separation`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ...core import Batch, CircuitLike
from ...core.domains import CIRCUIT_DOMAIN, DOMAINS, POLYTOPE_KEYS
from ...validation import check_bool, check_choice, check_integer, check_real
from ..base import Task, register_task, single
from .metrics import MATCHINGS, amari_index, component_snr_db, permutation_error, sinr_db
from .polytope import MixedPolytope
from .sources import generate_sources, image_sources

__all__ = ["SourceSeparation"]

_STREAM_BLOCK = 1024  # samples drawn at a time for the training stream

@register_task
class SourceSeparation(Task):
    """Linear mixtures of bounded sources; see :mod:`~bioplausible.tasks.separation`.

    ``n_sources`` n, ``n_mixtures`` m ≥ n, ``correlation`` ρ of the copula, ``snr_db`` (None:
    noiseless), ``evaluation_samples`` held-out samples for the metrics, ``output_samples``
    how many of them (a fixed, evenly spaced subset; None: all) the output metrics settle the
    circuit on (:mod:`~bioplausible.tasks.separation`). Domain
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
    #: A full run on spikes (``bioplausible run corinfomax --substrate spiking``: 100,000
    #: presentations, one run in generated code): r0 T = 50 spikes per unit of activity. Measured
    #: (seed 0, CLI defaults): 25.6 dB in 41 s against 22.2 dB on rate; at the quick setting's
    #: r0 T = 10, 12.4 dB. At 500,000 presentations: 26.97 dB against 27.46 dB on rate
    #: (benchmarks/spiking_separation.py).
    spiking_options: ClassVar[dict[str, Any] | None] = {"rate_unit": 500.0, "presentation": 0.1, "dt": 1e-3}
    #: The quick comparison's spiking runs: the first 1000 samples (the runtime path, ≈ 10 s).
    quick_spiking_steps = 1000
    #: ... and 10,000 for circuits that learn in generated code. Measured (seeds 0-2, quick
    #: options): CorInfoMax 13.55 / 13.37 / 13.60 dB on spikes in 5.4 s against 14.12 / 15.36 /
    #: 14.44 on rate at 10,000; NSM 6.52 / 4.57 / 7.13 in 11.4 s against 6.55 / 4.57 / 7.51 (at
    #: 1000 its updates all fall in the prewhitening phase: no separation learned yet).
    quick_compiled_spiking_steps = 10_000

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
            image_sources(n, rng, self.image_side, self.image_scaling) if self.domain == "natural-images" else None
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
