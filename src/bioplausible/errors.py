"""Named errors raised by bioplausible."""

from __future__ import annotations


class DivergenceError(FloatingPointError):
    """A weight or state variable became non-finite (or left its allowed set) during learning.

    Attributes
    ----------
    step:
        The learning step (number of updates applied so far) at which the problem was found.
    quantity:
        Name of the offending state variable (for example ``"lateral"``).
    """

    def __init__(self, quantity: str, step: int, detail: str = "non-finite values") -> None:
        self.quantity = quantity
        self.step = step
        self.detail = detail
        super().__init__(f"{quantity!r} diverged at step {step}: {detail}")


class SaturationWarning(RuntimeWarning):
    """Spiking units fired at every time step of a presentation: their activity is above the
    ``1 / (r0 dt) − offset`` that one spike per step codes, so the decoded value is clipped
    there (lower ``dt`` or ``rate_unit``)."""
