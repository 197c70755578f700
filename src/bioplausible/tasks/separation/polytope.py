"""The mixed polytope source domain: its halfspaces and a uniform sampler
(:class:`MixedPolytope`)."""

from __future__ import annotations

from functools import lru_cache
from math import factorial
from typing import Any

import numpy as np
from scipy.optimize import linprog
from scipy.spatial import Delaunay, HalfspaceIntersection

from ...validation import check_integer, check_polytope_structure

__all__ = ["MixedPolytope"]


class MixedPolytope:
    """The polytope ``{s: s_i ∈ [−1, 1] (i signed), s_i ∈ [0, 1] (i nonnegative),
    ‖s_J‖₁ ≤ 1 for each J in sparse_groups}`` and a uniform sampler on it (see :ref:`theory-separation-domains`).

    Sampling (verified in the authors' code, CIM-BSS ``bss_utils.generate_uniform_points_in_polytope``
    and ``polytope_utils.generate_practical_polytope``): vertices of the halfspace description,
    a Delaunay triangulation of their hull, a simplex chosen with probability ∝ its volume
    ``|det(v₁ − v₀, …, v_n − v₀)|/n!``, and Dirichlet(1, …, 1) barycentric weights (uniform in
    that simplex). The authors enumerate vertices with pypoman; we intersect the halfspaces
    with scipy (``HalfspaceIntersection`` from the Chebyshev centre). Their group rows are all
    2^|J| sign patterns; ours drop the patterns with a −1 on a nonnegative coordinate, which
    ``s_i ≥ 0`` already implies (the same set). Randomness comes only from ``rng``.
    """

    def __init__(
        self,
        n_sources: int = 5,
        signed_dims: Any = None,
        nonnegative_dims: Any = None,
        sparse_groups: Any = None,
    ) -> None:
        n = check_integer("n_sources", n_sources, 1, _MAX_POLYTOPE_DIMENSION)
        self.structure = check_polytope_structure(n, signed_dims, nonnegative_dims, sparse_groups)
        self.signed_dims, self.nonnegative_dims, self.sparse_groups = self.structure
        self.dimension = n

    def __repr__(self) -> str:
        return (f"MixedPolytope(n_sources={self.dimension}, signed_dims={self.signed_dims}, "
                f"nonnegative_dims={self.nonnegative_dims}, sparse_groups={self.sparse_groups})")

    def halfspaces(self) -> tuple[np.ndarray, np.ndarray]:
        """``(A, b)`` with the polytope ``{s: A s ≤ b}``."""
        return _polytope_halfspaces(self.dimension, self.structure)

    def contains(self, points: np.ndarray, tolerance: float = 1e-9) -> np.ndarray:
        """Whether each row of ``points`` satisfies every inequality to ``tolerance``."""
        matrix, bound = self.halfspaces()
        return np.all(np.asarray(points, dtype=float) @ matrix.T <= bound + tolerance, axis=-1)

    @property
    def vertices(self) -> np.ndarray:
        """The vertices (V, n)."""
        return _polytope_triangulation(self.dimension, self.structure)[0]

    @property
    def volume(self) -> float:
        """The summed volume of the triangulation's simplices."""
        return float(_polytope_triangulation(self.dimension, self.structure)[2].sum())

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` points uniform in the polytope, shape (size, n)."""
        _, simplices, volumes = _polytope_triangulation(self.dimension, self.structure)
        chosen = rng.choice(len(volumes), size=size, p=volumes / volumes.sum())
        weights = rng.dirichlet(np.ones(self.dimension + 1), size)
        return np.einsum("bk,bkn->bn", weights, simplices[chosen])


_MAX_POLYTOPE_DIMENSION = 8  # Delaunay triangulations grow quickly with the dimension


@lru_cache(maxsize=32)
def _polytope_halfspaces(n: int, structure: tuple) -> tuple[np.ndarray, np.ndarray]:
    signed, nonnegative, groups = structure
    rows, bounds = [], []
    for i in range(n):
        unit = np.eye(n)[i]
        rows += [unit, -unit]
        bounds += [1.0, 1.0 if i in signed else 0.0]
    for group in groups:
        free = [i for i in group if i in signed]
        for pattern in range(2 ** len(free)):
            row = np.zeros(n)
            row[list(group)] = 1.0
            for bit, i in enumerate(free):
                if pattern >> bit & 1:
                    row[i] = -1.0
            rows.append(row)
            bounds.append(1.0)
    matrix, bound = np.array(rows), np.array(bounds)
    matrix.setflags(write=False)
    bound.setflags(write=False)
    return matrix, bound


@lru_cache(maxsize=32)
def _polytope_triangulation(n: int, structure: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices (V, n), Delaunay simplices (T, n + 1, n) and their volumes (T,)."""
    matrix, bound = _polytope_halfspaces(n, structure)
    norms = np.linalg.norm(matrix, axis=1)
    # Chebyshev centre: max r s.t. A c + r‖a_i‖ ≤ b (an interior point for the intersection)
    centre = linprog(np.r_[np.zeros(n), -1.0], A_ub=np.c_[matrix, norms], b_ub=bound,
                     bounds=[(None, None)] * n + [(0, None)])
    if not centre.success or centre.x[-1] <= 1e-9:
        raise ValueError(f"the polytope {structure} has no interior")
    if n == 1:
        vertices = np.array([[-bound[1]], [bound[0]]])  # the box interval; a group adds nothing in 1-d
        simplices = vertices[None]
        volumes = np.array([bound[0] + bound[1]])
    else:
        points = HalfspaceIntersection(np.c_[matrix, -bound], centre.x[:n]).intersections
        vertices = np.unique(np.round(points, 12) + 0.0, axis=0)
        triangulation = Delaunay(vertices)
        simplices = vertices[triangulation.simplices]
        edges = simplices[:, 1:, :] - simplices[:, :1, :]
        volumes = np.abs(np.linalg.det(edges)) / factorial(n)
        solid = volumes > 1e-12 * volumes.max()  # Qhull's flat slivers (cospherical vertices)
        simplices, volumes = simplices[solid], volumes[solid]
    for array in (vertices, simplices, volumes):
        array.setflags(write=False)
    return vertices, simplices, volumes
