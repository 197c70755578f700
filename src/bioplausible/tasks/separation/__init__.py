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

The package is split by role: :mod:`~bioplausible.tasks.separation.sources` (source
generation), :mod:`~bioplausible.tasks.separation.polytope` (the mixed polytope domain),
:mod:`~bioplausible.tasks.separation.metrics` (the metrics) and
:mod:`~bioplausible.tasks.separation.task` (:class:`SourceSeparation`); the domain
vocabulary is :mod:`bioplausible.core.domains`, shared with the separation circuits.
"""

from __future__ import annotations

from ...core.domains import DOMAINS
from .metrics import MATCHINGS, amari_index, component_snr_db, permutation_error, sinr_db
from .polytope import MixedPolytope
from .sources import generate_sources, project_l1_ball, t_copula_uniforms
from .task import SourceSeparation

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
