"""Local rule of the sequence-memory family: the one-pass temporally asymmetric Hebbian write.

Every synapse of the sequence circuits (theory: :ref:`theory-sequence`) is written by one
two-factor Hebbian product of a presynaptic activity and a postsynaptic activity:

=====================================  ==========================  ==========================
synapse                                pre                          post
=====================================  ==========================  ==========================
SeqNet ``J_ij`` (visible → visible)     ``S_j(t) = ξ_j^μ``           ``S_i(t+1) = ξ_i^{μ+1}``
memory input ``W_vh[μ, j]``             ``v_j(t) = ξ_j^μ``           ``r_μ(t)`` (recruited unit)
memory output ``W_hv[i, μ]``            ``r_μ(t)``                   ``v_i(t+1) = ξ_i^{μ+1}``
MixedNet hold (symmetric)              ``v_j(t)``                   ``v_i(t)``
=====================================  ==========================  ==========================

Activities are ``(K, B, n)`` (ensemble, samples, units); the rule returns the batch *mean* of
the outer products, as every rule of the library does. The sequence write is a *sum* over
presentations and does not depend on the current weights, so ``B`` online presentations add
``B × mean``; the circuits apply it that way, and one pass over the P transitions equals the
one-shot outer-product rule ``J = (1/N) Σ_μ ξ^{μ+1} ξ^{μᵀ}`` exactly.

The memory units of DenseNet, the two-layer form and MixedNet are *recruited*, one per
presented transition: their arrays are bound to this rule with ``RuleBinding(recruit="post")``
(input weights, post = the one-hot recruitment signal ``r(t) = e_μ``) or ``recruit="pre"``
(output weights), and each presentation appends its unit's increment
(:func:`bioplausible.rules.declaration.recruited`) — the same products as the table's, with
no hand-written write.
"""

from __future__ import annotations

import numpy as np

from .declaration import Rule, register_rule

__all__ = ["ASYMMETRIC_HEBBIAN", "asymmetric_hebbian"]

ASYMMETRIC_HEBBIAN = register_rule(Rule(
    "asymmetric-hebbian", "W += learning_rate * (y_post * x_pre)",
    paper="Sompolinsky & Kanter (1986), PRL 57:2861; Chaudhry, Zavatone-Veth, Krotov & Pehlevan (2023), NeurIPS",
    activities=("x", "y"), parameters=("learning_rate",),
    description="two-factor Hebbian write: pre at step mu, post at step mu + 1",
))


def asymmetric_hebbian(pre: np.ndarray, post: np.ndarray, learning_rate: float) -> np.ndarray:
    """Two-factor Hebbian write, ``ΔW = η ⟨post preᵀ⟩_batch`` (shape (K, n_post, n_pre)).

    Temporally asymmetric when ``post`` is the activity one step after ``pre`` (STDP-like:
    pre at step μ, post at step μ+1): with ``η = 1/N`` one presentation of the transition
    ``ξ^μ → ξ^{μ+1}`` adds ``ΔJ_ij = (1/N) ξ_i^{μ+1} ξ_j^μ`` (Sompolinsky & Kanter 1986, PRL
    57:2861; Chaudhry, Zavatone-Veth, Krotov & Pehlevan 2023, NeurIPS, "Long sequence Hopfield
    memory"). With ``pre`` a one-hot recruitment signal it writes a memory unit's output
    weights, with ``post`` one it writes the unit's input weights (Krotov & Hopfield 2021,
    ICLR, bipartite construction). Activities are ``(K, B, n)``; units are dimensionless.
    """
    pre = np.asarray(pre, dtype=float)
    post = np.asarray(post, dtype=float)
    if pre.ndim != 3 or post.ndim != 3 or pre.shape[:2] != post.shape[:2]:
        raise ValueError(
            f"pre and post must be (K, B, n) arrays with the same K and B, got {pre.shape} and {post.shape}"
        )
    current = np.zeros((*post.shape[:-2], post.shape[-1], pre.shape[-1]))
    return ASYMMETRIC_HEBBIAN.numpy(W=current, x=pre, y=post, learning_rate=learning_rate)
