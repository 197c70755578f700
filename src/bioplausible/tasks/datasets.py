"""Offline data: everything here comes from packages that ship with our dependencies.

* :func:`natural_images`: the grayscale natural photographs bundled with scikit-image.
* :func:`natural_patch_covariances`: context covariances of small patches along a random
  walk (Duong et al., NeurIPS 2023 recipe, applied to scikit-image's images).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

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
        if best is None:  # every attempt was ill-conditioned beyond np.inf: cannot happen for finite walks
            raise ValueError("natural_patch_covariances: no finite covariance along the random walk")
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


# =============================================================================== classification
# Loaders for the supervised family. Each returns ``(x_train, y_train, x_test, y_test)`` with
# float inputs (rows = samples) and integer labels. Nothing is downloaded unless asked.

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
#: Opt-in downloads: URL and MD5 of each standard file (the checksums torchvision verifies).
MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
#: MD5 of each python-format batch file as published with the archive (and used by
#: torchvision): the batches are pickles, so they are unpickled only when they match.
CIFAR10_BATCH_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}


def digits_split(test_size: int = 397, split_seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 8×8 digits (1797 × 64, pixel values / 16); a fixed split: the
    ``default_rng(split_seed)`` permutation, first ``1797 − test_size`` train."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = data.data.astype(float) / 16.0
    y = data.target.astype(np.int64)
    order = np.random.default_rng(split_seed).permutation(len(y))
    n_train = len(y) - test_size
    train, test = order[:n_train], order[n_train:]
    return x[train], y[train], x[test], y[test]


_MNIST1D_TEMPLATES = np.array([
    [5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5],
    [5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5],
    [5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5],
    [5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5],
    [5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5],
    [5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5],
    [5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5],
    [5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5],
    [5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5],
    [5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5],
])


def mnist1d(
    n_samples: int = 5000,
    train_fraction: float = 0.8,
    seed: int = 42,
    padding: tuple[int, int] = (36, 60),
    scale_coeff: float = 0.4,
    max_translation: int = 48,
    corr_noise_scale: float = 0.25,
    iid_noise_scale: float = 2e-2,
    shear_scale: float = 0.75,
    length: int = 40,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST-1D, generated procedurally (Greydanus & Kobak 2020/2024 recipe, default
    arguments of their ``get_dataset_args``; our vectorised implementation with a numpy
    Generator, so samples differ from the published pickle while the distribution is the same).

    Per sample: a 12-point digit template (standardised, scaled by 1/6), zero padding of
    ``U{36..60}`` points, linear dilation to 72 points, amplitude scale ``1 ± 0.2``, circular
    translation by ``U{0..47}``, smooth correlated noise (Gaussian-filtered, σ = 2 points) in
    the padded region, iid noise, a linear shear, linear resampling to ``length`` points;
    finally the whole set is standardised. Balanced classes; a fixed train/test split.
    """
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(seed)
    templates = _MNIST1D_TEMPLATES - _MNIST1D_TEMPLATES.mean(1, keepdims=True)
    templates /= templates.std(1, keepdims=True)
    templates = (templates - templates[:, :1]) / 6.0
    per_class = n_samples // 10
    labels = np.repeat(np.arange(10), per_class)
    n = labels.size
    width = templates.shape[1] + padding[1]
    grid = np.linspace(0, 1, width)
    pads = padding[0] + (rng.random(n) * (padding[1] - padding[0] + 1)).astype(int)
    x = np.empty((n, width))
    for p in np.unique(pads):  # one interpolation per padding length (≤ 25 groups)
        rows = np.flatnonzero(pads == p)
        padded = np.concatenate([templates[labels[rows]] + 1e-8, np.zeros((rows.size, p))], axis=1)
        source = np.linspace(0, 1, padded.shape[1])
        x[rows] = np.stack([np.interp(grid, source, row) for row in padded])
    x *= 1 + scale_coeff * (rng.random((n, 1)) - 0.5)
    shifts = rng.integers(0, max_translation, n)
    index = (np.arange(width)[None, :] - shifts[:, None]) % width
    x = np.take_along_axis(x, index, axis=1)
    mask = x != 0
    noise = gaussian_filter1d(corr_noise_scale * rng.standard_normal((n, width)), 2.0, axis=1, mode="reflect")
    x = np.where(mask, x, noise)
    x = x + iid_noise_scale * rng.standard_normal((n, width))
    coeff = shear_scale * (rng.random((n, 1)) - 0.5)
    x = x - coeff * np.linspace(-0.5, 0.5, width)[None, :]
    final = np.linspace(0, 1, length)
    x = np.stack([np.interp(final, grid, row) for row in x])
    order = rng.permutation(n)
    x, labels = x[order], labels[order]
    x = (x - x.mean()) / x.std()
    split = int(n * train_fraction)
    return x[:split], labels[:split], x[split:], labels[split:]


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST/Fashion-MNIST format), gzip-compressed or not.

    Header: two zero bytes, a type code (0x08 = uint8), the number of dimensions, then each
    dimension as a big-endian int32.
    """
    import gzip

    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtypes:
        raise ValueError(f"{path}: unknown IDX type code {data[2]:#x}")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(dtypes[data[2]])
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - offset != expected:
        raise ValueError(f"{path}: header announces {expected} bytes of data, file holds {len(data) - offset}")
    return np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape)


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
        if (folder / name).exists():
            return folder / name
    return None


def idx_dataset(folder: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST-format dataset (MNIST, Fashion-MNIST, ...) from a folder holding the four
    standard IDX files (``train-images-idx3-ubyte[.gz]`` ...). Images flattened, in [0, 1]."""
    folder = Path(folder)
    found = {key: _find(folder, stem) for key, stem in _IDX_FILES.items()}
    missing = [_IDX_FILES[k] for k, v in found.items() if v is None]
    if missing:
        raise FileNotFoundError(f"{folder} lacks the IDX files {missing} (with or without .gz)")
    paths = {key: path for key, path in found.items() if path is not None}
    images = {k: read_idx(paths[k]) for k in ("train_images", "test_images")}
    labels = {k: read_idx(paths[k]).astype(np.int64) for k in ("train_labels", "test_labels")}
    x_train = images["train_images"].reshape(len(images["train_images"]), -1) / 255.0
    x_test = images["test_images"].reshape(len(images["test_images"]), -1) / 255.0
    return x_train, labels["train_labels"], x_test, labels["test_labels"]


def data_home() -> Path:
    """Where downloaded data go: ``$BIOPLAUSIBLE_DATA`` or ``~/.cache/bioplausible``."""
    return Path(os.environ.get("BIOPLAUSIBLE_DATA", Path.home() / ".cache" / "bioplausible"))


def download(url: str, destination: str | os.PathLike, checksum: str, algorithm: str = "md5") -> Path:
    """Download ``url`` to ``destination`` atomically (temporary file, checksum, rename).

    The ``algorithm`` digest (any ``hashlib`` name) of the bytes must equal ``checksum``, else
    nothing is written and ``ValueError`` is raised. An existing file with the right checksum
    is kept.
    """
    import hashlib
    import tempfile
    import urllib.request

    destination = Path(destination)
    if destination.exists() and _digest(destination, algorithm) == checksum:
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.new(algorithm)
    handle = tempfile.NamedTemporaryFile(dir=destination.parent, prefix=destination.name, suffix=".part", delete=False)
    try:
        with handle, urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (opt-in download)
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                handle.write(chunk)
        if digest.hexdigest() != checksum:
            raise ValueError(f"{algorithm} checksum mismatch for {url}: got {digest.hexdigest()}, expected {checksum}")
        os.replace(handle.name, destination)
    finally:
        if os.path.exists(handle.name):
            os.unlink(handle.name)
    return destination


def _digest(path: Path, algorithm: str) -> str:
    import hashlib

    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def mnist(folder: str | os.PathLike | None = None, download_missing: bool = False):
    """MNIST from a folder of the standard IDX files (default ``data_home()/mnist``);
    ``download_missing=True`` fetches them (checksum-verified, atomic) first."""
    folder = Path(folder) if folder is not None else data_home() / "mnist"
    if download_missing:
        for name, md5 in MNIST_MD5.items():
            if _find(folder, name[:-3]) is None:
                download(MNIST_MIRROR + name, folder / name, md5)
    return idx_dataset(folder)


def fashion_mnist(folder: str | os.PathLike | None = None):
    """Fashion-MNIST from the Debian package ``dataset-fashion-mnist`` (or any folder with the
    four IDX files)."""
    return idx_dataset(folder if folder is not None else FASHION_MNIST_DIR)


def cifar10(folder: str | os.PathLike | None = None, download_missing: bool = False):
    """CIFAR-10 from its python-format batches (``data_batch_1..5``, ``test_batch``) in
    ``folder`` (default ``data_home()/cifar-10-batches-py``). Images flattened (3072, channel
    first as stored), in [0, 1]. ``download_missing=True`` fetches and unpacks the archive
    (checksum-verified, atomic).

    The batches are Python pickles, and unpickling a crafted file runs code: each file's MD5
    must equal the published one (:data:`CIFAR10_BATCH_MD5`) before it is unpickled, else
    ``ValueError`` and nothing is read."""
    import hashlib
    import pickle
    import tarfile

    folder = Path(folder) if folder is not None else data_home() / "cifar-10-batches-py"
    if download_missing and not (folder / "test_batch").exists():
        archive = download(CIFAR10_URL, folder.parent / "cifar-10-python.tar.gz", CIFAR10_MD5)
        with tarfile.open(archive) as tar:
            tar.extractall(folder.parent, filter="data")

    def load(name: str) -> tuple[np.ndarray, np.ndarray]:
        path = folder / name
        if not path.exists():
            raise FileNotFoundError(f"CIFAR-10 file {path} not found (python-format batches expected)")
        data = path.read_bytes()  # hashed and unpickled from the same bytes: no swap in between
        found = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if found != CIFAR10_BATCH_MD5[name]:
            raise ValueError(f"CIFAR-10 file {path} has MD5 {found}, not the published {CIFAR10_BATCH_MD5[name]}: "
                             "refusing to unpickle it (a pickle can run code); use the original batches")
        batch = pickle.loads(data, encoding="bytes")  # noqa: S301 (checksum verified above)
        return np.asarray(batch[b"data"], dtype=float) / 255.0, np.asarray(batch[b"labels"], dtype=np.int64)

    parts = [load(f"data_batch_{i}") for i in range(1, 6)]
    x_test, y_test = load("test_batch")
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), x_test, y_test
