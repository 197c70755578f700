"""The domain vocabulary of blind source separation, shared by the circuits and the task.

A *domain* names a set that sources (and a circuit's outputs) live in. The circuits project
their outputs onto one of :data:`OUTPUT_DOMAINS`; the task draws sources from any of
:data:`DOMAINS`, which adds two source-only domains whose sources a circuit receives as
:data:`CIRCUIT_DOMAIN` says.
"""

from __future__ import annotations

__all__ = ["DOMAINS", "OUTPUT_DOMAINS", "SOURCE_ONLY_DOMAINS", "BOX_DOMAINS", "CIRCUIT_DOMAIN", "POLYTOPE_KEYS"]

#: The domains a circuit's outputs are projected onto (order = the compiled kernels' domain codes).
OUTPUT_DOMAINS = ("antisparse", "nonnegative-antisparse", "sparse", "nonnegative-sparse", "simplex", "polytope")
#: Source domains with no projection of their own (see :data:`CIRCUIT_DOMAIN`).
SOURCE_ONLY_DOMAINS = ("nonnegative-bernoulli", "natural-images")
#: Every domain name: the vocabulary of the family.
DOMAINS = OUTPUT_DOMAINS + SOURCE_ONLY_DOMAINS
#: Box domains: (lower, upper) bound of every output; the ones realised by a rate cap on spikes.
BOX_DOMAINS = {"antisparse": (-1.0, 1.0), "nonnegative-antisparse": (0.0, 1.0)}
#: The output domain a circuit uses for the sources of a source-only domain.
CIRCUIT_DOMAIN = {"nonnegative-bernoulli": "nonnegative-antisparse", "natural-images": "nonnegative-antisparse"}
#: Circuit parameters that carry the mixed polytope's structure (domain "polytope").
POLYTOPE_KEYS = ("signed_dims", "nonnegative_dims", "sparse_groups")
