"""The supervised CorInfoMax networks, by their former path: they live in
:mod:`bioplausible.circuits.supervised` (:mod:`~bioplausible.circuits.supervised.corinfomax_network`,
:mod:`~bioplausible.circuits.supervised.corinfomax_ebd`,
:mod:`~bioplausible.circuits.supervised.corinfomax_ep`); importing this module registers
``corinfomax-ebd`` and ``corinfomax-ep``."""

from __future__ import annotations

from .supervised.corinfomax_ebd import CorInfoMaxEBD, CorInfoMaxEBDParameters
from .supervised.corinfomax_ep import CorInfoMaxEP, CorInfoMaxEPParameters
from .supervised.corinfomax_network import (
    CorInfoMaxNetwork,
    CorInfoMaxParameters,
    apply_weights,
    basal_input,
    corinfomax_settle,
    output_potential,
)

__all__ = [
    "corinfomax_settle",
    "output_potential",
    "basal_input",
    "apply_weights",
    "CorInfoMaxParameters",
    "CorInfoMaxNetwork",
    "CorInfoMaxEBDParameters",
    "CorInfoMaxEPParameters",
    "CorInfoMaxEBD",
    "CorInfoMaxEP",
]
