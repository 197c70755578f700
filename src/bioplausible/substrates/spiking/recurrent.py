"""Recurrent networks that learn over time (kind ``"recurrent-rate"``) on spikes: not yet.

The rate RNNs of :mod:`bioplausible.circuits.recurrent` (BPTT, RFLO, e-prop) step a leaky
rate network through the time steps of each trial and learn from eligibility traces over
the trial. Their spiking form is e-prop on a recurrent LIF network (Bellec et al. 2020,
Nat. Commun. 11:3625: eligibility vectors of filtered presynaptic spikes, a pseudo-derivative
of the membrane voltage, a leaky readout), with its agreement to the rate network measured;
it is not built yet, so the spiking substrate refuses the kind with this reason rather
than running a different network under the same name.
"""

from __future__ import annotations

from .substrate import register_refusal

__all__: list[str] = []

register_refusal(
    "recurrent-rate",
    "the recurrent rate networks learn over the time steps of trials (BPTT, RFLO, e-prop); their spiking form, "
    "e-prop on a recurrent LIF network with eligibility traces, is not built yet",
)
