"""Supervised tasks: classification of offline datasets and a teacher–student regression
(theory: :ref:`theory-supervised-task`).

``Classification`` streams shuffled mini-batches of (input, one-hot target) pairs, epoch by
epoch (the order is drawn from the task's seed; the train/test split is fixed), and scores
on the held-out split only:

* ``test_accuracy`` = fraction of test samples with ``argmax_i h_L,i = label``;
* ``test_loss`` = mean ``½‖h_L − y‖²`` on the test split, ``train_loss`` the same on the
  last training batch;
* neural predictions per layer (``predictions=True``, :func:`layer_predictions`): mean
  ``|corr(h_i, ε_j)|`` on the test split, cosine of the rule's update with the BP gradient on
  the last training batch, kernel–task alignment, forward/feedback angle (see :ref:`theory-supervised-predictions`).

Datasets (:mod:`bioplausible.tasks.datasets`): ``"digits"`` (scikit-learn, ships; default),
``"mnist1d"`` (generated), ``"fashion-mnist"`` (Debian package ``dataset-fashion-mnist`` or
``data_dir``), ``"mnist"`` (IDX files in ``data_dir``; ``download=True`` fetches them),
``"cifar10"`` (python-format batches in ``data_dir``; ``download=True`` fetches them).

``TeacherStudent`` (``"teacher-student"``): ``y = A₂ relu(A₁ x)``, ``x ~ N(0, I)``,
``A₁ = randn(h, n)/√n``, ``A₂ = randn(m, h)/√h``; metric ``test_mse`` on a held-out set (the
check of the rules on spikes with a known answer).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np

from ..core import Batch, CircuitLike
from ..validation import check_choice, check_integer, check_real
from . import datasets
from . import supervised_metrics as supervised_analysis
from .base import Task, register_task

__all__ = ["Classification", "TeacherStudent", "load_dataset", "layer_predictions", "DATASETS"]

DATASETS = ("digits", "mnist1d", "fashion-mnist", "mnist", "cifar10")


@lru_cache(maxsize=4)
def load_dataset(
    name: str, data_dir: str | None = None, download: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, labels_train, x_test, labels_test)`` of a named dataset (cached, read-only)."""
    check_choice("dataset", name, DATASETS)
    if name == "digits":
        arrays = datasets.digits_split()
    elif name == "mnist1d":
        arrays = datasets.mnist1d()
    elif name == "fashion-mnist":
        arrays = datasets.fashion_mnist(data_dir)
    elif name == "mnist":
        arrays = datasets.mnist(data_dir, download_missing=download)
    else:
        arrays = datasets.cifar10(data_dir, download_missing=download)
    x_train, y_train, x_test, y_test = (np.ascontiguousarray(a) for a in arrays)
    for a in (x_train, y_train, x_test, y_test):
        a.flags.writeable = False
    return x_train, y_train, x_test, y_test


def _targets(batch: Batch) -> np.ndarray:
    """The targets of a supervised evaluation batch (which always has them)."""
    if batch.targets is None:
        raise ValueError("a supervised evaluation batch needs targets")
    return np.asarray(batch.targets)


def _chunks(n: int, size: int = 2000) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def layer_predictions(
    circuit: CircuitLike, evaluation: Batch, probe: Batch, kernel_samples: int = 500
) -> dict[str, float]:
    """Per-layer neural predictions (:ref:`theory-supervised-predictions`) of a single-member circuit, as flat metrics:
    ``error_correlation_<population>`` on ``evaluation`` for every simulated population and,
    ``feedback_angle_<k>`` for circuits with ``feedback_paths`` and, for the layered MLPs (with
    ``proposed_updates``), ``update_alignment_<k>`` on ``probe`` (a training batch) and
    ``kernel_alignment_<k>`` on the first ``kernel_samples`` evaluation samples (k = hidden layer)."""
    metrics: dict[str, float] = {}
    if evaluation.targets is None:
        return metrics
    for name, value in supervised_analysis.error_correlations(circuit, evaluation.inputs, evaluation.targets).items():
        metrics[f"error_correlation_{name}"] = float(value[0])
    if hasattr(circuit, "feedback_paths"):
        for k, value in enumerate(supervised_analysis.feedback_angle(circuit), 1):
            metrics[f"feedback_angle_{k}"] = float(value[0])
    if not hasattr(circuit, "proposed_updates"):
        return metrics
    if probe.targets is not None:
        for k, value in enumerate(supervised_analysis.update_alignment(circuit, probe.inputs, probe.targets), 1):
            metrics[f"update_alignment_{k}"] = float(value[0])
    sub = evaluation[:kernel_samples]
    if sub.targets is None:
        return metrics
    for k, value in enumerate(supervised_analysis.kernel_task_alignment(circuit, sub.inputs, sub.targets), 1):
        metrics[f"kernel_alignment_{k}"] = float(value[0])
    return metrics


@register_task
class Classification(Task):
    """Classification of an offline dataset (see the module docstring).

    ``dataset`` one of :data:`DATASETS`; ``data_dir`` folder of the files (mnist, cifar10,
    fashion-mnist); ``download`` opt-in, checksum-verified download (mnist, cifar10);
    ``n_train``/``n_test`` keep the first samples of each split (quick runs); ``normalize``
    "none" or "standardize" (per-feature z-score with the training statistics); ``epochs``
    sets ``default_steps`` (default: 60 for digits/mnist1d, 20 otherwise); ``batch_size``
    the default mini-batch (20, the EBD paper's B); ``predictions`` adds the per-layer neural
    predictions of :func:`layer_predictions` to every evaluation (``error_correlation_*``,
    ``update_alignment_k``, ``kernel_alignment_k``, ``feedback_angle_k``).

    ``reverse_after`` (overtraining protocol of Kumar et al., "Do mice grok?", ICLR 2025): after
    this many epochs of training samples every label ``c`` becomes ``n_classes − 1 − c``, in the
    training stream and in the evaluation set from the first evaluation at or after that point;
    set it past the accuracy plateau to overtrain first, then reverse (None: never).
    """

    name = "classification"
    description = "offline classification (digits, MNIST-1D, Fashion-MNIST, MNIST, CIFAR-10); test accuracy"
    family = "supervised"
    circuit_families = ("supervised",)
    headline_metrics = ("test_accuracy", "test_loss", "error_correlation_hidden_1", "update_alignment_1")
    #: ``bioplausible compare`` (quick): 10 epochs of digits on the rate substrate.
    quick_options = {"epochs": 10}
    #: On spikes (quick comparison, and ``bioplausible run --substrate spiking``): 50 ms windows
    #: at 100 Hz (5 spikes per unit of activity; the spec's EBD check: +6 % test MSE at 50 ms)
    #: and dt = 1 ms, each mini-batch presented at once to B copies of the network
    #: (``parallel_batch``: one window per update); the quick comparison trains two epochs of
    #: digits on spikes (140 updates, where the rate runs reach 0.6–0.9 test accuracy).
    quick_spiking_options: ClassVar[dict[str, Any]] = {"rate_unit": 100.0, "presentation": 0.05, "dt": 1e-3,
                                                       "parallel_batch": True}
    quick_spiking_steps: ClassVar[int | None] = 140

    def __init__(
        self,
        dataset: str = "digits",
        data_dir: str | None = None,
        download: bool = False,
        n_train: int | None = None,
        n_test: int | None = None,
        normalize: str = "none",
        epochs: int | None = None,
        batch_size: int = 20,
        predictions: bool = True,
        reverse_after: int | None = None,
    ) -> None:
        super().__init__()
        self.dataset = check_choice("dataset", dataset, DATASETS)
        self.data_dir = None if data_dir is None else str(data_dir)
        if not isinstance(download, bool):
            raise TypeError(f"download must be a bool, got {download!r}")
        self.download = download
        self.n_train = None if n_train is None else check_integer("n_train", n_train, 1)
        self.n_test = None if n_test is None else check_integer("n_test", n_test, 1)
        self.normalize = check_choice("normalize", normalize, ["none", "standardize"])
        default_epochs = 60 if dataset in ("digits", "mnist1d") else 20
        self.epochs = check_integer("epochs", default_epochs if epochs is None else epochs, 1)
        self.batch_size = check_integer("batch_size", batch_size, 1)
        if not isinstance(predictions, bool):
            raise TypeError(f"predictions must be a bool, got {predictions!r}")
        self.predictions = predictions
        self._load()
        n = self._data[0].shape[0]
        self.default_batch_size = self.batch_size
        self.updates_per_epoch = int(np.ceil(n / self.batch_size))
        self.default_steps = self.epochs * self.updates_per_epoch
        self.default_eval_every = self.updates_per_epoch
        self._order = np.arange(n)
        self._position = 0
        self.reverse_after = None if reverse_after is None else check_integer("reverse_after", reverse_after, 0)
        self._streamed = 0

    def _labels(self, labels: np.ndarray, streamed: np.ndarray | int) -> np.ndarray:
        """Labels as seen at stream positions ``streamed`` (reversed after ``reverse_after`` epochs)."""
        if self.reverse_after is None:
            return labels
        reversed_ = np.asarray(streamed) >= self.reverse_after * self._data[0].shape[0]
        return np.where(reversed_, self.n_classes - 1 - labels, labels)

    def __deepcopy__(self, memo: dict[int, Any]) -> Classification:
        """Copies share the read-only data arrays (the runner copies the task per seed)."""
        clone = copy.copy(self)
        for key, value in vars(self).items():
            if key != "_data":
                setattr(clone, key, copy.deepcopy(value, memo))
        return clone

    # ------------------------------------------------------------------ data
    def _load(self) -> None:
        x_train, y_train, x_test, y_test = load_dataset(self.dataset, self.data_dir, self.download)
        if self.n_train is not None:
            x_train, y_train = x_train[: self.n_train], y_train[: self.n_train]
        if self.n_test is not None:
            x_test, y_test = x_test[: self.n_test], y_test[: self.n_test]
        if self.normalize == "standardize":
            mean, std = x_train.mean(0), x_train.std(0)
            std = np.where(std > 1e-12, std, 1.0)
            x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
        self.n_classes = int(max(y_train.max(), y_test.max()) + 1)
        #: (x_train, labels_train, x_test, labels_test), read-only.
        self._data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] = (x_train, y_train, x_test, y_test)

    @property
    def n_inputs(self) -> int:
        return int(self._data[0].shape[1])

    @property
    def n_targets(self) -> int:
        return self.n_classes

    def one_hot(self, labels: np.ndarray) -> np.ndarray:
        return np.eye(self.n_classes)[labels]

    def _generate(self) -> None:
        rng = self._require_reset()
        self._order = rng.permutation(self._data[0].shape[0])
        self._position = 0
        self._streamed = 0

    def next_batch(self, size: int) -> Batch:
        rng = self._require_reset()
        n = self._data[0].shape[0]
        picks = []
        remaining = size
        while remaining > 0:
            if self._position >= n:
                self._order = rng.permutation(n)
                self._position = 0
            take = min(remaining, n - self._position)
            picks.append(self._order[self._position : self._position + take])
            self._position += take
            remaining -= take
        index = np.concatenate(picks) if picks else np.zeros(0, dtype=int)
        labels = self._labels(self._data[1][index], self._streamed + np.arange(index.size))
        self._streamed += index.size
        return Batch(self._data[0][index], self.one_hot(labels), {"label": labels})

    def training_set(self) -> Batch:
        x, y = self._data[0], self._labels(self._data[1], max(self._streamed - 1, 0))
        return Batch(x, self.one_hot(y), {"label": y})

    def evaluation_set(self) -> Batch:
        x, y = self._data[2], self._labels(self._data[3], max(self._streamed - 1, 0))
        return Batch(x, self.one_hot(y), {"label": y})

    # ------------------------------------------------------------------ scoring
    def score(self, circuit: CircuitLike, batch: Batch | None = None, substrate: Any = None) -> dict[str, float]:
        test = self.evaluation_set()
        targets = _targets(test)
        correct, loss = 0, 0.0
        for part in _chunks(test.size):
            out = circuit.output(circuit.respond(test.inputs[part]))[0]
            correct += int(np.sum(np.argmax(out, axis=-1) == test.info["label"][part]))
            loss += float(0.5 * np.sum((out - targets[part]) ** 2))
        metrics = {"test_accuracy": correct / test.size, "test_loss": loss / test.size}
        if batch is not None and batch.targets is not None:
            out = circuit.output(circuit.respond(batch.inputs))[0]
            metrics["train_loss"] = float(0.5 * np.mean(np.sum((out - batch.targets) ** 2, axis=-1)))
            probe = batch[-self.batch_size :]
        else:
            metrics["train_loss"] = float("nan")
            probe = self.training_set()[: self.batch_size]
        if self.predictions:
            metrics.update(layer_predictions(circuit, test, probe))
        return metrics

    def summarize(self, trace: Mapping[str, np.ndarray], steps: np.ndarray) -> dict[str, float]:
        accuracy = np.asarray(trace["test_accuracy"])
        return {"final_test_accuracy": float(accuracy[-1]), "best_test_accuracy": float(np.nanmax(accuracy))}


@register_task
class TeacherStudent(Task):
    """Teacher–student regression ``y = A₂ relu(A₁ x) (+ noise)``: a problem with a known answer for checking rules.

    ``n_inputs`` n, ``teacher_hidden`` h, ``n_outputs`` m; ``n_test`` held-out samples;
    ``noise`` std of target noise on training samples; ``teacher_seed`` fixes the teacher
    across task seeds (default: drawn from the task seed). Metric ``test_mse`` = mean squared
    error per output on the held-out set (rate forward pass of the learned weights), also
    ``relative_mse`` = test_mse / var(y).
    """

    name = "teacher-student"
    description = "teacher–student regression y = A2 relu(A1 x); test MSE"
    #: Not the family's default task (that is ``classification``), so no ``family`` here:
    #: ``compare`` picks each family's default task by this attribute.
    family = ""
    circuit_families = ("supervised",)
    headline_metrics = ("test_mse", "relative_mse")
    default_batch_size = 1
    default_steps = 5000
    default_eval_every = 250

    def __init__(
        self,
        n_inputs: int = 5,
        teacher_hidden: int = 10,
        n_outputs: int = 2,
        n_test: int = 1000,
        noise: float = 0.0,
        teacher_seed: int | None = None,
    ) -> None:
        super().__init__()
        self._n = check_integer("n_inputs", n_inputs, 1)
        self.teacher_hidden = check_integer("teacher_hidden", teacher_hidden, 1)
        self.n_outputs = check_integer("n_outputs", n_outputs, 1)
        self.n_test = check_integer("n_test", n_test, 1)
        self.noise = check_real("noise", noise, 0.0)
        self.teacher_seed = None if teacher_seed is None else check_integer("teacher_seed", teacher_seed, 0)

    @property
    def n_inputs(self) -> int:
        return self._n

    @property
    def n_targets(self) -> int:
        return self.n_outputs

    def _generate(self) -> None:
        rng = self._require_reset()
        teacher_rng = rng if self.teacher_seed is None else np.random.default_rng(self.teacher_seed)
        self.first = teacher_rng.standard_normal((self.teacher_hidden, self._n)) / np.sqrt(self._n)
        self.second = teacher_rng.standard_normal((self.n_outputs, self.teacher_hidden)) / np.sqrt(self.teacher_hidden)
        x = rng.standard_normal((self.n_test, self._n))
        self._test = Batch(x, self.teacher(x))

    def teacher(self, x: np.ndarray) -> np.ndarray:
        """Noise-free teacher outputs for inputs (B, n)."""
        return np.maximum(x @ self.first.T, 0.0) @ self.second.T

    def next_batch(self, size: int) -> Batch:
        rng = self._require_reset()
        x = rng.standard_normal((size, self._n))
        y = self.teacher(x)
        if self.noise > 0:
            y = y + self.noise * rng.standard_normal(y.shape)
        return Batch(x, y)

    def evaluation_set(self) -> Batch:
        return self._test

    def score(self, circuit: CircuitLike, batch: Batch | None = None, substrate: Any = None) -> dict[str, float]:
        test = self._test
        targets = _targets(test)
        out = circuit.output(circuit.respond(test.inputs))[0]
        mse = float(np.mean((out - targets) ** 2))
        metrics = {"test_mse": mse, "relative_mse": mse / float(np.var(targets))}
        probe = batch if batch is not None else Batch(test.inputs[:1], targets[:1])
        metrics.update(layer_predictions(circuit, test, probe))
        return metrics
