import os

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("BIOPLAUSIBLE_EXAMPLE_QUICK", "1")


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(1234)


@pytest.fixture
def compiled_target(request, tmp_path, monkeypatch):
    """The Brian2 target a test is parametrized with (``codegen``), skipped with the reason where
    this machine cannot build it, with the standalone and cython caches in ``tmp_path`` (cold)."""
    from bioplausible.substrates.spiking.compiled import available_targets

    codegen = request.node.callspec.params["codegen"]
    if codegen not in available_targets():
        pytest.skip(f"{codegen} needs a C++ compiler")
    monkeypatch.setenv("BIOPLAUSIBLE_CACHE_DIR", str(tmp_path))
    import brian2

    monkeypatch.setattr(brian2.prefs.codegen.runtime.cython, "cache_dir", str(tmp_path / "cython"))
    return codegen


@pytest.fixture(scope="session")
def fashion_mnist_dir(tmp_path_factory):
    """A small Fashion-MNIST stand-in in the same format: the four gzip IDX files (uint8
    28 × 28 images, uint8 labels 0-9), 200 training and 100 test items. Each class is a
    distinct bright bar (rows or columns at a class-dependent offset) on noise, so a classifier
    can learn it."""
    import gzip
    import struct

    import numpy as np

    folder = tmp_path_factory.mktemp("fashion-mnist")
    rng = np.random.default_rng(0)

    def write(name, array):
        header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
        with gzip.open(folder / name, "wb") as handle:
            handle.write(header + array.astype(np.uint8).tobytes())

    for prefix, count in (("train", 200), ("t10k", 100)):
        labels = np.arange(count) % 10
        images = rng.integers(0, 60, (count, 28, 28))
        for index, label in enumerate(labels):
            start = 2 + 2 * (label % 5)
            if label < 5:
                images[index, start : start + 6, 4:24] = 230
            else:
                images[index, 4:24, start : start + 6] = 230
        write(f"{prefix}-images-idx3-ubyte.gz", images)
        write(f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder
