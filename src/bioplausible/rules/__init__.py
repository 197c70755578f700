"""Local learning rules: one pure function per rule, one module per family.

A rule takes the quantities available at the synapse (``pre``, ``post``, the current
``weights``, a modulatory or broadcast signal) and parameters, and returns the weight
change. Activities carry samples as rows with a leading ensemble axis, ``(K, B, n)``; a rule
averages over the batch axis, so a batch of one is the online rule. Both substrates call the
same functions: the rate substrate on rates, the spiking substrate on decoded spike counts.
"""

from . import adaptation, supervised

__all__ = ["adaptation", "supervised"]
