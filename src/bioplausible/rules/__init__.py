"""Local learning rules: one declaration per rule, one module per family.

Each rule is declared once (:class:`~bioplausible.rules.declaration.Rule`: a Brian2-style
statement over ``_pre``/``_post``/synaptic names and summed reductions, its paper and the
quantities it reads) and registered in :data:`~bioplausible.rules.declaration.RULES`; the
batched numpy form, the numba per-sample form of the fused loops and the Brian2
``run_regularly`` form are derived from it. The functions of each family module are the
numpy form under the family's argument names.

A rule takes the quantities available at the synapse (``pre``, ``post``, the current
``weights``, a modulatory or broadcast signal) and parameters, and returns the weight
change. Activities carry samples as rows with a leading ensemble axis, ``(K, B, n)``; a rule
averages over the batch axis, so a batch of one is the online rule. Both substrates call the
same functions: the rate substrate on rates, the spiking substrate on decoded spike counts.
"""

from . import adaptation, declaration, recurrent, separation, sequence, supervised, supervised_corinfomax, td
from .declaration import RULES, Rule, RuleBinding, register_rule

__all__ = ["adaptation", "declaration", "recurrent", "separation", "sequence", "supervised", "supervised_corinfomax",
           "td", "RULES", "Rule", "RuleBinding", "register_rule"]
