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

The package is split by role: :mod:`~bioplausible.circuits.separation.domains` (output domains
and their projections), :mod:`~bioplausible.circuits.separation.solvers` (settle loops and
fixed-point solvers), :mod:`~bioplausible.circuits.separation.presets` (per-domain defaults
with their provenance), one module per circuit
(:mod:`~bioplausible.circuits.separation.corinfomax`,
:mod:`~bioplausible.circuits.separation.detmax`, :mod:`~bioplausible.circuits.separation.nsm`,
:mod:`~bioplausible.circuits.separation.nica`) and
:mod:`~bioplausible.circuits.separation.kernels` (the compiled fused streams, loaded only when
a fused path runs).
"""

from __future__ import annotations

from ...core.domains import DOMAINS, OUTPUT_DOMAINS
from .corinfomax import CorInfoMax, CorInfoMaxParameters
from .detmax import DetMaxParameters, DetMaxWSM
from .domains import DomainParameters, polytope_options, project_domain, threshold_shape
from .nica import NonnegativeICA, NonnegativeICAParameters
from .nsm import NonnegativeSimilarityMatching, NSMParameters
from .presets import CORINFOMAX_PRESETS, DETMAX_PRESETS
from .solvers import corinfomax_settle, nonnegative_fixed_point, numba_available

__all__ = [
    "DOMAINS",
    "OUTPUT_DOMAINS",
    "CorInfoMax",
    "CorInfoMaxParameters",
    "NonnegativeSimilarityMatching",
    "NSMParameters",
    "NonnegativeICA",
    "NonnegativeICAParameters",
    "DetMaxWSM",
    "DetMaxParameters",
    "DomainParameters",
    "CORINFOMAX_PRESETS",
    "DETMAX_PRESETS",
    "project_domain",
    "polytope_options",
    "threshold_shape",
    "corinfomax_settle",
    "nonnegative_fixed_point",
    "numba_available",
]
