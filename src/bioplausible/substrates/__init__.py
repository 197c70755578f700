"""Substrates: how a declared circuit is simulated. ``rate`` (numpy) and ``spiking`` (Brian2)."""

from . import rate
from .base import SUBSTRATES, Cost, Substrate, make_substrate, register_substrate

try:  # Brian2 is a hard dependency, but keep the rate path importable without it
    from . import spiking  # noqa: F401
except ImportError:  # pragma: no cover
    pass

__all__ = ["Cost", "Substrate", "SUBSTRATES", "make_substrate", "register_substrate", "rate"]
