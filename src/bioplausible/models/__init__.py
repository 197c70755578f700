"""Neuron and synapse models, in rate form and in Brian2 form."""

from .neurons import IntegrateAndFire, linear, rectified

__all__ = ["IntegrateAndFire", "linear", "rectified"]
