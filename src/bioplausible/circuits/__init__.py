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
from .recurrent import RecurrentBPTT, RecurrentEprop, RecurrentRFLO
from .separation import CorInfoMax, DetMaxWSM, NonnegativeICA, NonnegativeSimilarityMatching
from .sequence import DenseNet, GeneralizedPseudoinverse, MixedNet, SeqNet, TwoLayerSequence
from .supervised import (
    EBD,
    Backprop,
    DirectFeedbackAlignment,
    FeedbackAlignment,
    Hebbian,
)
from .supervised_conv import ConvBackprop, ConvDFA, ConvEBD
from .supervised_corinfomax import CorInfoMaxEBD, CorInfoMaxEP
from .td import TDValue

__all__ = [
    "Circuit", "Parameters", "Population", "Connection", "Batch", "CIRCUITS", "make_circuit", "register_circuit",
    "DirectWhitening", "InterneuronWhitening", "GainWhitening", "MultiTimescaleWhitening",
    "EBD", "CorInfoMaxEBD", "CorInfoMaxEP", "Backprop", "FeedbackAlignment", "DirectFeedbackAlignment", "Hebbian",
    "ConvEBD", "ConvDFA", "ConvBackprop",
    "CorInfoMax", "NonnegativeSimilarityMatching", "NonnegativeICA", "DetMaxWSM",
    "SeqNet", "DenseNet", "GeneralizedPseudoinverse", "MixedNet", "TwoLayerSequence",
    "RecurrentBPTT", "RecurrentRFLO", "RecurrentEprop", "TDValue",
]
