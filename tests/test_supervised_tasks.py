"""Supervised tasks and dataset loaders (offline: shipped, generated or written by the test)."""

import gzip
import struct

import numpy as np
import pytest

from bioplausible.circuits import supervised as S
from bioplausible.tasks import Classification, TeacherStudent, datasets


def _write_idx(path, array, compress):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(struct.pack(">i", s) for s in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)


@pytest.fixture
def idx_folder(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (30, 4, 4))
    test = rng.integers(0, 256, (10, 4, 4))
    _write_idx(tmp_path / "train-images-idx3-ubyte", train, compress=True)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(30) % 3, compress=False)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", test, compress=True)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(10) % 3, compress=True)
    return tmp_path, train, test


def test_idx_reader_reads_gzip_and_raw_files(idx_folder):
    folder, train, test = idx_folder
    x_train, y_train, x_test, y_test = datasets.idx_dataset(folder)
    np.testing.assert_allclose(x_train, train.reshape(30, 16) / 255.0)
    np.testing.assert_allclose(x_test, test.reshape(10, 16) / 255.0)
    assert y_train.tolist() == (np.arange(30) % 3).tolist()
    task = Classification(dataset="mnist", data_dir=str(folder), predictions=False)
    assert (task.n_inputs, task.n_targets) == (16, 3)


def test_idx_reader_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(ValueError, match="magic"):
        datasets.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(ValueError, match="bytes"):
        datasets.read_idx(tmp_path / "short")
    with pytest.raises(FileNotFoundError, match="train-images"):
        datasets.idx_dataset(tmp_path)


def test_download_verifies_checksum_and_writes_atomically(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"hello world")
    target = tmp_path / "out" / "file.bin"
    with pytest.raises(ValueError, match="checksum"):
        datasets.download(source.as_uri(), target, "0" * 32)
    assert not target.exists() and list((tmp_path / "out").iterdir()) == []
    good = "5eb63bbbe01eeed093cb22bb8f5acdc3"  # md5("hello world")
    assert datasets.download(source.as_uri(), target, good).read_bytes() == b"hello world"


def test_mnist1d_is_generated_deterministically():
    first, second = datasets.mnist1d(n_samples=500), datasets.mnist1d(n_samples=500)
    assert first[0].shape == (400, 40) and first[2].shape == (100, 40)
    np.testing.assert_array_equal(first[0], second[0])
    assert set(np.unique(first[1])) == set(range(10))
    assert abs(first[0].mean()) < 0.1


def test_digits_split_and_epoch_stream():
    task = Classification().reset(seed=0)
    assert (task.n_inputs, task.n_targets, task.updates_per_epoch) == (64, 10, 70)
    assert task.default_steps == 60 * 70 and task.default_eval_every == 70
    labels = np.concatenate([task.next_batch(20).info["label"] for _ in range(70)])
    assert np.bincount(labels).tolist() == np.bincount(task.training_set().info["label"]).tolist()
    again = Classification().reset(seed=0)
    np.testing.assert_array_equal(again.next_batch(20).inputs, Classification().reset(seed=0).next_batch(20).inputs)
    assert task.evaluation_set().size == 397
    assert task.training_set().inputs.max() <= 1.0


def test_classification_options_are_checked():
    with pytest.raises(ValueError, match="dataset"):
        Classification(dataset="imagenet")
    with pytest.raises(ValueError, match="normalize"):
        Classification(normalize="whiten")
    with pytest.raises(FileNotFoundError):
        Classification(dataset="cifar10", data_dir="/nonexistent")


def test_score_reports_accuracy_losses_and_predictions():
    task = Classification(n_train=100, n_test=60).reset(seed=0)
    circuit = S.EBD().initialize(64, 10)
    metrics = task.score(circuit.member(0), task.next_batch(20))
    test = task.evaluation_set()
    output = circuit.member(0).respond(test.inputs[None])["output"][0]
    expected = np.mean(np.argmax(output, axis=-1) == np.argmax(test.targets, axis=-1))  # 0.117 untrained
    assert metrics["test_accuracy"] == pytest.approx(expected)
    assert metrics["test_loss"] > 0 and metrics["train_loss"] > 0
    for key in ("error_correlation_hidden_1", "update_alignment_2", "kernel_alignment_1", "feedback_angle_2"):
        assert np.isfinite(metrics[key])


def test_teacher_student_ebd_learns_beyond_readout():
    """spiking.md §3.1 check experiment (rate): EBD variant with R₀ = 0, opposite sign."""
    import bioplausible as bpl

    task = TeacherStudent()
    kwargs = dict(hidden_sizes=(20,), output_rate=0.02, forgetting=0.99, projection_gain=0.0, sign="ascent", bias=False)
    options = dict(seeds=[0, 1], steps=3000, eval_every=1500, progress=False)
    learned = bpl.run(S.EBD(learning_rate=0.2, **kwargs), task, **options)
    frozen = bpl.run(S.EBD(learning_rate=0.0, **kwargs), task, **options)
    mse, baseline = learned.dataset["metric_test_mse"].values[:, -1], frozen.dataset["metric_test_mse"].values[:, -1]
    assert np.all(mse < 0.7 * baseline)
    assert np.all(learned.dataset["metric_relative_mse"].values[:, -1] < 0.2)


def test_fashion_mnist_loader_reads_the_idx_files(fashion_mnist_dir):
    """On the generated IDX fixture (tests/conftest.py): 200 + 100 items of 28 × 28 in [0, 1],
    labels 0-9 as written, the class bar where it was drawn."""
    task = Classification(dataset="fashion-mnist", data_dir=str(fashion_mnist_dir)).reset(seed=0)
    train, test = task.training_set(), task.evaluation_set()
    assert train.inputs.shape == (200, 784) and test.inputs.shape == (100, 784)
    assert 0.0 <= train.inputs.min() and train.inputs.max() <= 1.0
    labels = np.argmax(test.targets, axis=-1)
    assert sorted(np.bincount(labels, minlength=10)) == [10] * 10
    images = test.inputs.reshape(-1, 28, 28)
    bar = images[labels == 0][:, 2:8, 4:24]
    assert np.allclose(bar, 230 / 255)
