"""Sequence memory: asymmetric Hopfield networks that replay a stored sequence
(theory: :ref:`theory-sequence`).

A cyclic sequence of ±1 patterns ξ¹…ξᴾ (rows of Ξ, ``ξᴾ⁺¹ ≡ ξ¹``) is written in one pass by a
temporally asymmetric Hebbian rule (:func:`bioplausible.rules.sequence.asymmetric_hebbian`:
pre at step μ, post at step μ+1) and recalled by synchronous updates

    S(t+1) = sgn( Σ_μ ξ^{μ+1} f(m^μ(S(t))) ),   m^μ(S) = ξ^μ·S / N,   sgn(0) = +1.

=============================  ====================================================  =====================
circuit                        f / update                                            learned state
=============================  ====================================================  =====================
``SeqNet``                     f(x) = x, as couplings J = (1/N)Σ ξ^{μ+1}ξ^μᵀ         ``couplings`` J
``DenseNet``                   x^d, exp((N−1)(x−1)), softmax(β)                      ``patterns``, ``successors``
``GeneralizedPseudoinverse``   f applied to O⁺m, O = ΞΞᵀ/N (not local)               ``patterns``, ``successors``
``MixedNet``                   hold Σ ξ^μ f_S(m(S(t))) + λ advance from S(t−τ)       hold / advance memory units
``TwoLayerSequence``           one hidden unit per transition (pairwise)             ``visible_to_hidden`` …
=============================  ====================================================  =====================

Papers: Chaudhry, Zavatone-Veth, Krotov & Pehlevan (2023), NeurIPS, "Long sequence Hopfield
memory" (DenseNet, GPI, MixedNet, two-layer form); Sompolinsky & Kanter (1986), PRL 57:2861
(SeqNet, mixed time scales); Kanter & Sompolinsky (1987), PRA 35:380 (pseudoinverse);
Krotov & Hopfield (2016, NeurIPS; 2021, ICLR) (dense memories, bipartite form).

Every separation function is evaluated *normalised* over μ (``f(m)/max_μ f(m)``, the
log-sum-exp trick for ``exp``); a positive factor per state does not change any sign, and it
keeps N in the thousands free of overflow and of all-zero underflow. A field within rounding
error (1e-9 of its scale ``Σ_μ |ξ^{μ+1}_i f(m^μ)|``) counts as zero, so ``sgn(0) = +1`` holds
identically in every algebraically equal form (J, Ξ, two-layer).

The learning stream (task ``sequence``) presents transitions: ``inputs`` = ξ^μ (the state at
step μ, population ``cue``) and ``targets`` = ξ^{μ+1} (the state one step later). One pass
over the P transitions writes the whole sequence.

Modules, by role: :mod:`.dynamics` (separation functions, the sign rule, the synchronous step,
written once), :mod:`.base` (:class:`SequenceCircuit`), one module per circuit
(:mod:`.seqnet`, :mod:`.dense`, :mod:`.pseudoinverse`, :mod:`.two_layer`, :mod:`.mixed`). The
closed-form capacities live with the theory
(:func:`bioplausible.theory.sequence.theoretical_capacity`; circuits do not import theory).
"""

from __future__ import annotations

from .base import SequenceCircuit, SequenceParameters
from .dense import DenseNet, DenseParameters
from .dynamics import SEPARATIONS, check_patterns, normalized_separation, separation_function
from .mixed import MixedNet, MixedParameters
from .pseudoinverse import GeneralizedPseudoinverse, PseudoinverseParameters
from .seqnet import SeqNet
from .two_layer import TwoLayerSequence

__all__ = [
    "SequenceCircuit",
    "SeqNet",
    "DenseNet",
    "GeneralizedPseudoinverse",
    "MixedNet",
    "TwoLayerSequence",
    "separation_function",
    "normalized_separation",
    "check_patterns",
    "SEPARATIONS",
    "SequenceParameters",
    "DenseParameters",
    "PseudoinverseParameters",
    "MixedParameters",
]
