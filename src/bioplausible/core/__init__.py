"""The neutral vocabulary every layer may import: ``Batch`` and ``TrialBatch`` (shape-checked), the declaration
types (``Population``, ``Connection``), the separation domains, the Protocols tasks rely on,
and ``Registry``. Imports nothing else of the package."""

from .agreement import AgreementCase
from .batch import Batch
from .declaration import NONLINEARITIES, ROLES, SIGNS, Connection, Population
from .domains import BOX_DOMAINS, CIRCUIT_DOMAIN, DOMAINS, OUTPUT_DOMAINS, POLYTOPE_KEYS, SOURCE_ONLY_DOMAINS
from .protocols import CircuitLike, HasEffectiveMatrix, HasModeRates, HasSeparator, Rollout, SubstrateRollout, rollout
from .registry import Registry
from .trials import TrialBatch

#: What a task hands out and a substrate learns from: samples (``Batch``) or trials in time (``TrialBatch``).
AnyBatch = Batch | TrialBatch

__all__ = [
    "AgreementCase", "AnyBatch", "Batch", "Population", "Connection", "NONLINEARITIES", "ROLES", "SIGNS",
    "DOMAINS", "OUTPUT_DOMAINS", "SOURCE_ONLY_DOMAINS", "BOX_DOMAINS", "CIRCUIT_DOMAIN", "POLYTOPE_KEYS",
    "CircuitLike", "HasSeparator", "HasEffectiveMatrix", "HasModeRates", "Rollout", "SubstrateRollout", "rollout",
    "Registry", "TrialBatch",
]
