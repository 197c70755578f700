"""Neural predictions computed from circuits and results, one module per family.

``activity`` (re-exported here) works on any result whose run recorded activity with a
:class:`~bioplausible.Probe`, on either substrate.
"""

from . import activity, kernels, summary, supervised
from .activity import (
    activity_error_correlation,
    representational_similarity,
    response_covariance,
    tuning_curves,
    whitening_over_time,
)

__all__ = [
    "activity", "kernels", "summary", "supervised", "tuning_curves", "response_covariance", "whitening_over_time",
    "representational_similarity", "activity_error_correlation",
]
