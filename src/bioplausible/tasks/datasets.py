"""Offline data: everything here comes from packages that ship with our dependencies.

* :func:`natural_images`: the grayscale natural photographs bundled with scikit-image.
* :func:`natural_patch_covariances`: context covariances of small patches along a random
  walk (Duong et al., NeurIPS 2023 recipe, applied to scikit-image's images).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_SKIMAGE_NATURAL = ("camera", "astronaut", "coffee", "chelsea", "rocket", "grass", "gravel", "brick", "moon")


@lru_cache(maxsize=1)
def natural_images() -> tuple[np.ndarray, ...]:
    """Grayscale float images in [0, 1] from scikit-image's bundled data (no download)."""
    from skimage import data
    from skimage.color import rgb2gray

    images = []
    for name in _SKIMAGE_NATURAL:
        loader = getattr(data, name, None)
        if loader is None:
            continue
        try:
            image = np.asarray(loader(), dtype=float)
        except Exception:  # a bundled image missing from this skimage build
            continue
        if image.ndim == 3:
            image = rgb2gray(image[..., :3])
        image = image / image.max()
        images.append(image)
    if not images:
        raise RuntimeError("no natural images found in scikit-image's bundled data")
    return tuple(images)


def natural_patch_covariances(
    side: int,
    n_contexts: int,
    rng: np.random.Generator,
    walk_steps: int = 5000,
    step_std: float = 0.5,
    spectral_radius: float = 10.0,
    max_condition: float = 20.0,
) -> np.ndarray:
    """Covariances of ``side × side`` patches along Gaussian random walks over natural images.

    Each context: an image (cycling through the bundled ones), a random start, a walk with
    ``step_std`` px per step, patches at the rounded positions, their covariance rescaled to
    ``spectral_radius``; kept if ``cond(C + 1e-3 I) < max_condition`` (the NeurIPS filter),
    else the next attempt is drawn (after 20 attempts the best one is kept).
    """
    images = natural_images()
    covariances = []
    for index in range(n_contexts):
        image = images[index % len(images)]
        best, best_condition = None, np.inf
        for _ in range(20):
            covariance = _walk_covariance(image, side, rng, walk_steps, step_std)
            covariance *= spectral_radius / np.linalg.eigvalsh(covariance)[-1]
            condition = np.linalg.cond(covariance + 1e-3 * np.eye(side * side))
            if condition < best_condition:
                best, best_condition = covariance, condition
            if condition < max_condition:
                break
        covariances.append(best + 1e-6 * np.eye(side * side))
    return np.stack(covariances)


def _walk_covariance(image: np.ndarray, side: int, rng: np.random.Generator, steps: int, step_std: float) -> np.ndarray:
    height, width = image.shape
    margin = side + 1
    start = rng.uniform([margin, margin], [height - margin, width - margin])
    path = start + np.cumsum(rng.normal(0, step_std, (steps, 2)), axis=0)
    path = np.clip(np.rint(path), 0, [height - side, width - side]).astype(int)
    offsets = np.arange(side)
    rows = path[:, 0, None, None] + offsets[None, :, None]
    cols = path[:, 1, None, None] + offsets[None, None, :]
    patches = image[rows, cols].reshape(steps, side * side)
    return np.cov(patches, rowvar=False)
