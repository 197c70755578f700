"""One declaration per local rule; every realisation derived from it.

A rule is written once, as a Brian2-style statement over the quantities a synapse (or a
neuron) can see::

    lateral = Rule(
        "corinfomax-lateral", "B = (B - gamma_y * z_post * z_pre) / forgetting_y",
        summed={"z": "B * y_pre"}, activities=("y",), parameters=("gamma_y", "forgetting_y"),
        recurrent=True, paper="Bozkurt, Erdogan & Pehlevan (2023), ICLR",
    )

Names follow Brian2: ``name_pre`` is the quantity of the presynaptic neuron j, ``name_post``
that of the postsynaptic neuron i, a bare name is synaptic (the target, e.g. ``B`` for
``B_ij``, or another synaptic matrix listed in ``synaptic``), ``identity`` is δ_ij, and a
*summed* variable is a neuron-level reduction over the presynaptic side
(``z_post = Σ_j B_ij y_j``, a Brian2 ``(summed)`` variable). ``activities`` change with
every sample (rates of the populations); ``states`` are neuron-level arrays that do not
(a per-neuron learning rate, a gain); ``parameters`` are scalars. ``=`` gives the new value
of the target after one sample, ``+=`` its per-sample increment. A *neuron* rule
(``kind="neuron"``) updates a per-neuron variable from bare neuron-level names.

Three realisations are derived, never typed again:

* :meth:`Rule.numpy` — the batched form of the rate substrate: activities (K, B, n)
  (ensemble, samples, units), the change of the target as the **batch mean** of the
  per-sample change (a batch of one is the online rule). The expression is expanded into
  terms ``c(i, j) · P_b(i) · Q_b(j)`` and each sample-varying product is one einsum.
* :meth:`Rule.compiled` — the per-sample form that fused loops call: generated Python
  source (loops over i, j), compiled with numba from a cached file, updating the target in
  place for one ensemble member and one sample.
* :meth:`Rule.brian2` — the Brian2 form: the synaptic model (target and summed variables,
  a per-sample total as one more summed variable computed after them) and the statement to
  pass to ``run_regularly`` at presentation boundaries (:func:`run_regularly`).

``tests/test_rules_registry.py`` checks every realisation of every registered rule against
the numpy form, so a rule is covered by being registered.

The package is split by role: :mod:`~bioplausible.rules.declaration.rule` (the
declaration and the registry), :mod:`~bioplausible.rules.declaration.expressions` (parsing,
rewriting and separating expressions), :mod:`~bioplausible.rules.declaration.batched` (a),
:mod:`~bioplausible.rules.declaration.compiled` (b),
:mod:`~bioplausible.rules.declaration.brian2_form` (c) and
:mod:`~bioplausible.rules.declaration.bindings` (a rule on a circuit's state array, declared
steps, and the update they make).
"""

from __future__ import annotations

from .bindings import (
    RECRUIT,
    RuleBinding,
    StateStep,
    apply_rules,
    apply_step,
    idle_steps,
    inactive_steps,
    phases,
    recruited,
    rule_changes,
    samples_until_idle,
    trial_change,
)
from .brian2_form import (
    Brian2Form,
    Brian2NeuronPlasticity,
    Brian2Plasticity,
    brian2_plasticity_refusal,
    order_summed,
    run_regularly,
)
from .rule import RULES, Rule, register_rule

__all__ = ["Rule", "RuleBinding", "StateStep", "Brian2Form", "Brian2Plasticity", "RULES", "RECRUIT", "register_rule",
           "run_regularly", "order_summed", "apply_rules", "apply_step", "phases", "rule_changes", "trial_change",
           "recruited", "brian2_plasticity_refusal", "Brian2NeuronPlasticity", "idle_steps", "inactive_steps",
           "samples_until_idle"]
