"""Supervised local learning in a layered network (theory: :ref:`theory-supervised`).

One multilayer perceptron ``u_k = W_k h_{k−1} + b_k``, ``h_k = relu(u_k)`` (hidden),
``h_L = u_L`` (linear output), error ``ε = h_L − y``; the output layer always learns by the
delta rule and the hidden-layer rule is what distinguishes the circuits:

==============================  ============================================================  ===============
circuit                         hidden modulator ``q_k`` (ΔW_k = −μ ⟨f'(u_k)⊙q_k h_{k−1}ᵀ⟩)   non-local part
==============================  ============================================================  ===============
``EBD``                         ``R_k ε``, ``R_k ← λ_d R_k + (1−λ_d)⟨h_k εᵀ⟩``                    entropy term (opt.)
``DirectFeedbackAlignment``     ``R_k[0] ε`` (EBD with R frozen at its random init)            none
``FeedbackAlignment``           ``B_{k+1} δ_{k+1}``, B fixed random (ρ-FA option)               layered backward path
``Backprop``                    ``W_{k+1}ᵀ δ_{k+1}``                                              weight transport
``Hebbian``                     ``ΔW_k = +η ⟨‖ε‖² h_k h_{k−1}ᵀ⟩`` (no credit assignment)      scalar error
==============================  ============================================================  ===============

Papers: Erdogan, Pehlevan & Erdogan, "Error broadcast and decorrelation as a potential
artificial and natural learning mechanism", NeurIPS 2025 (EBD, Algorithm 1); Nøkland 2016
(DFA); Lillicrap et al. 2016 (FA); Bordelon & Pehlevan, ICLR 2023 (ρ-FA, Hebb, Eqs. 1–3).

**Biases.** The generic fixed-point semantics has no bias term. Here every hidden unit's bias
is a constant drive: in the rate form ``u_k = W_k h_{k−1} + b_k``; on spikes the IF unit
integrates ``dv/dt = r0 (b_k + Σ drives)``, i.e. the constant part of its drive (the
``bias`` variable the generic IF model already has for offset coding). The spiking
substrate's builder for the circuits' kind ``"layered"``
(:mod:`bioplausible.substrates.spiking.layered`) is the generic IF route plus this term, so
both substrates realise the same ``u_k``. The output bias is part of the (non-simulated)
readout. With ``bias=False`` the circuits run on the unmodified generic route.

**Spiking.** Hidden layers are nonnegative IF populations (offset 0, i.e. ReLU); input →
hidden_1 is the analog drive, hidden → hidden voltage jumps, the output a linear readout.
``learn`` recomputes the readout from the decoded hidden counts and applies the same rule
functions to the counts; ``f'(u_k)`` becomes the spike gate ``1[n_i > 0]`` (:ref:`rate-to-spikes-learning`);
the broadcast error ``R_k ε`` (or Bδ, Wᵀδ) is the per-neuron modulator of that update.

**Declared learning.** Every circuit here is a :class:`~bioplausible.circuits.base.RuleCircuit`:
``learn`` applies the rules bound to the plastic arrays (:meth:`LayeredCircuit.rule_bindings`:
:data:`~bioplausible.rules.supervised.THREE_FACTOR`, ``DELTA_RULE``, ``RUNNING_CORRELATION``,
``ERROR_MODULATED_HEBBIAN``, EBD's ``EBD_HIDDEN``/``EBD_VELOCITY``) and declared steps
(Hebbian synaptic scaling, EBD's Woodbury inverse and sparsity mask), reading the local
signals of :meth:`LayeredCircuit.local_signals` (ε, ``f'(u_k)``, ``q_k``), computed once per
batch from the state before the update. Non-local signals are said so where they are made:
BP's ``Wᵀδ`` (weight transport), FA's layered ``Bδ`` path, EBD's entropy term.

Modules, by role: :mod:`.layered` (:class:`MLPParameters`, :class:`LayeredCircuit`: the forward
pass, local signals and declared output/hidden rules every circuit shares), :mod:`.ebd` (EBD and
DFA), :mod:`.backward` (Backprop, FeedbackAlignment), :mod:`.hebbian` (Hebbian). The import
order below is the registration order of the circuits (ebd, direct-feedback-alignment,
backprop, feedback-alignment, hebbian), which ``bioplausible compare`` shows.

The CorInfoMax network (clipped units settled by Euler steps, not a feedforward pass) is
here too: :mod:`.corinfomax_network` (the dynamics and the shared network),
:mod:`.corinfomax_ebd` and :mod:`.corinfomax_ep` (one circuit each, learning declared as
rules). They are registered, after the convolutional circuits, by
:mod:`bioplausible.circuits.supervised_corinfomax`, which re-exports their names.
"""

from __future__ import annotations

# The import order is the registration order (isort would sort it): keep the splits.
from .layered import PARAMETERIZATIONS, LayeredCircuit, MLPParameters, richness_scale

# isort: split
from .ebd import EBD, DFAParameters, DirectFeedbackAlignment, EBDParameters

# isort: split
from .backward import Backprop, FeedbackAlignment, FeedbackAlignmentParameters

# isort: split
from .hebbian import Hebbian, HebbianParameters

__all__ = [
    "LayeredCircuit",
    "EBD",
    "DirectFeedbackAlignment",
    "FeedbackAlignment",
    "Backprop",
    "Hebbian",
    "EBDParameters",
    "MLPParameters",
    "FeedbackAlignmentParameters",
    "DFAParameters",
    "HebbianParameters",
    "PARAMETERIZATIONS",
    "richness_scale",
]
