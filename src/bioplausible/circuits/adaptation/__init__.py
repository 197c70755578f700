"""Recurrent adaptation: statistical whitening circuits (theory: :ref:`theory-adaptation`).

All four circuits descend one objective, ``f(M) = Tr(M⁻¹C) + Tr(M)``, minimised by
``M = C^{1/2}``; at the optimum the steady-state output ``y = M⁻¹x`` is white (``C_yy = I``).
They differ only in how the recurrent matrix M is built from synapses:

=============================  ==========================  =====================================
circuit                        M                           plastic elements (rule)
=============================  ==========================  =====================================
``DirectWhitening``            M (leak + lateral)          M (:func:`~rules.adaptation.recurrent_whitening`)
``InterneuronWhitening``       W Wᵀ                        W (:func:`~rules.adaptation.interneuron_whitening`)
``GainWhitening``              I + W diag(g) Wᵀ, W fixed   g (:func:`~rules.adaptation.gain_homeostasis`)
``MultiTimescaleWhitening``    αI + W diag(g) Wᵀ           g fast, W slow (+ column normalisation)
=============================  ==========================  =====================================

Papers: Lipshutz, Pehlevan & Chklovskii, ICLR 2023 (direct, interneurons); Duong, Lipshutz,
Heeger, Chklovskii & Simoncelli, ICML 2023 (gains); Duong, Simoncelli, Chklovskii &
Lipshutz, NeurIPS 2023 (gains + synapses).

The package is split by role: :mod:`~bioplausible.circuits.adaptation.base` (the shared
:class:`WhiteningCircuit` and the family's agreement case), one module per circuit
(:mod:`~bioplausible.circuits.adaptation.direct`,
:mod:`~bioplausible.circuits.adaptation.interneuron`,
:mod:`~bioplausible.circuits.adaptation.gains` with the gain circuits' shared form and the
frame helpers, :mod:`~bioplausible.circuits.adaptation.multi_timescale`). The whitening
error is :func:`bioplausible.core.whitening.whitening_error`, shared with the adaptation task.
"""

from __future__ import annotations

# in the family's order (the order the circuits register in)
from .base import WhiteningCircuit
from .direct import DirectWhitening, DirectWhiteningParameters
from .interneuron import InterneuronWhitening, InterneuronWhiteningParameters

# isort: split
from .gains import (
    GainModulatedWhitening,
    GainWhitening,
    GainWhiteningParameters,
    default_frame_size,
    make_frame,
    optimal_gains,
)
from .multi_timescale import MultiTimescaleWhitening, MultiTimescaleWhiteningParameters

__all__ = [
    "DirectWhitening",
    "InterneuronWhitening",
    "GainWhitening",
    "MultiTimescaleWhitening",
    "WhiteningCircuit",
    "GainModulatedWhitening",
    "optimal_gains",
    "make_frame",
    "default_frame_size",
    "DirectWhiteningParameters",
    "InterneuronWhiteningParameters",
    "GainWhiteningParameters",
    "MultiTimescaleWhiteningParameters",
]
