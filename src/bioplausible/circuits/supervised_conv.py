"""Convolutional and locally connected EBD / DFA / BP: kept as an import path; the circuits
live in :mod:`bioplausible.circuits.supervised.conv` and the network in
:mod:`bioplausible.circuits.supervised.conv_network`."""

from __future__ import annotations

from .supervised.conv import ConvBackprop, ConvDFA, ConvDFAParameters, ConvEBD, ConvEBDParameters
from .supervised.conv_network import (
    CONNECTIVITY,
    ConvNetwork,
    ConvParameters,
    LayerGeometry,
    infer_image_shape,
    network_geometry,
)

__all__ = [
    "CONNECTIVITY",
    "ConvParameters",
    "ConvEBDParameters",
    "ConvDFAParameters",
    "LayerGeometry",
    "network_geometry",
    "infer_image_shape",
    "ConvNetwork",
    "ConvEBD",
    "ConvDFA",
    "ConvBackprop",
]
