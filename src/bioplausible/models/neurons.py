"""Neuron models: each has a rate form (a transfer function on numpy arrays) and a spiking
form (Brian2 equations), and knows how one maps onto the other.

``IntegrateAndFire`` is the default ("faithful", see :ref:`rate-to-spikes-counting`) realisation: a
non-leaky integrate-and-fire unit with reset by subtraction. Over a presentation of length
T, with drive ``b`` (Hz, threshold units), recurrent jumps ``L`` and threshold ``θ``::

    θ_i n_i = T b_i + Σ_j L_ij n_j − (v_i(T) − v_i(0))

so the decoded rate ``a = n / (r0 T) − y0`` solves the rate model's fixed point up to
O(1/(r0 T)) (offset coding: rate = r0 (y0 + a); y0 = 0 gives rectified, nonnegative units).

A rate cap (box-constrained activity ``a ≤ c``) is an absolute refractory period
``t_ref = 1/(r0 (y0 + c))`` during which the voltage keeps integrating (the threshold is not
checked): a unit whose unclipped rate exceeds the cap fires exactly every ``t_ref`` and its
surplus drive piles up in ``v``, so the decoded rate is ``min(a, c)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def linear(drive: np.ndarray) -> np.ndarray:
    """Rate form of an offset-coded (signed) unit inside its linear range."""
    return drive


def rectified(drive: np.ndarray) -> np.ndarray:
    """Rate form of a nonnegative unit: ``[drive]_+`` (IF with offset 0)."""
    return np.maximum(drive, 0.0)


@dataclass(frozen=True)
class IntegrateAndFire:
    """Non-leaky IF unit, reset by subtraction (``v -= θ``), dimensionless voltage.

    ``rate_unit`` r0 (Hz) is the firing rate of one unit of activity; ``presentation`` T (s)
    the counting window. Decoding: ``a = count / (r0 T) − offset``.
    """

    rate_unit: float = 100.0
    presentation: float = 0.1

    #: Brian2 equations; ``{drives}`` is replaced by the sum of the input drive variables.
    equations = """
        dv/dt = rate_unit * (bias + {drives}) : 1
        bias : 1
        theta : 1
        count : 1
        {drive_declarations}
    """
    threshold = "v > theta"
    reset = "v -= theta; count += 1"

    def refractory_steps(self, offset: float, ceiling: float, dt: float) -> tuple[int, float]:
        """Whole time steps of the refractory period that caps the activity at ``ceiling``,
        and the ceiling those steps realise, ``1/(r0 n dt) − offset`` (Brian2 counts the
        refractory period in whole steps)."""
        period = 1.0 / (self.rate_unit * (offset + ceiling))
        steps = max(int(round(period / dt)), 1)
        return steps, 1.0 / (self.rate_unit * steps * dt) - offset

    def decode(self, counts: np.ndarray, offset: float) -> np.ndarray:
        """Spike counts of one presentation -> activity in rate-model units."""
        return counts / (self.rate_unit * self.presentation) - offset

    def encode(self, activity: np.ndarray, offset: float) -> np.ndarray:
        """Activity -> firing rate (Hz) under offset coding."""
        return self.rate_unit * (offset + activity)
