"""Circuits, one module per family; each registers its circuits by kebab-case name."""

from .adaptation import (
    DirectWhitening,
    GainWhitening,
    InterneuronWhitening,
    MultiTimescaleWhitening,
)
from .base import (
    CIRCUITS,
    Batch,
    Circuit,
    Connection,
    Parameters,
    Population,
    make_circuit,
    register_circuit,
)
from .supervised import (
    EBD,
    Backprop,
    CorInfoMaxEBD,
    DirectFeedbackAlignment,
    FeedbackAlignment,
    Hebbian,
)

__all__ = [
    "Circuit", "Parameters", "Population", "Connection", "Batch", "CIRCUITS", "make_circuit", "register_circuit",
    "DirectWhitening", "InterneuronWhitening", "GainWhitening", "MultiTimescaleWhitening",
    "EBD", "CorInfoMaxEBD", "Backprop", "FeedbackAlignment", "DirectFeedbackAlignment", "Hebbian",
]
