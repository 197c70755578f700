"""The task API, in gymnasium's style: ``reset(seed=...)``, randomness only from the task's
own ``np_random`` Generator, a stream of training batches, a held-out set, ``score``.

Tasks are *data streams*, not action loops: a circuit learns from the samples a task hands
out, and nothing the circuit does changes what comes next. So a task is not a
``gymnasium.Env`` (there is no ``step(action)``, reward or termination), but it follows
gymnasium's conventions where they apply: ``reset(seed=s)`` re-seeds the task's
Generator, ``reset()`` without a seed keeps the current Generator (seeding from entropy only
on the first reset), and ``observation_space`` / ``target_space`` describe one input and one
target as ``gymnasium.spaces`` when gymnasium is installed.

A new task is a subclass that implements ``_generate``, ``next_batch`` and ``score``::

    class Constant(Task):
        name = "constant"
        def __init__(self, n_inputs=2): super().__init__(); self._n = n_inputs
        n_inputs = property(lambda self: self._n)
        def _generate(self): pass
        def next_batch(self, size): return Batch(self.np_random.normal(size=(size, self._n)))
        def score(self, circuit, batch): return {"mean_output": float(...)}

Batches returned by a task have no ensemble axis (``(B, n)``); the runner stacks the batches
of K task copies (one per seed) into ``(K, B, n)``. ``score`` receives a single-member
circuit view (ensemble size 1).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..core import AnyBatch, Batch, CircuitLike, Registry

__all__ = ["Task", "TASKS", "register_task", "make_task", "Batch"]


class Task(ABC):
    """Base class of every task: a seeded stream of training batches with a score.

    A task is a data stream, not an action loop: what it hands out next does not depend on
    what the circuit does, so it has no ``step(action)``. It keeps gymnasium's seeding
    conventions (``reset(seed=...)``, all randomness from ``np_random``) and describes one
    sample with ``observation_space`` and ``target_space``."""

    name: ClassVar[str]
    description: ClassVar[str]
    #: The circuit family whose default task this is (used by ``compare``).
    family: ClassVar[str] = ""
    #: Run defaults; a task may set them per instance from its options (e.g. its length).
    default_steps: int = 1000
    default_batch_size: int = 1
    default_eval_every: int = 50
    #: Constructor options and step count of the quick default comparison.
    quick_options: ClassVar[dict[str, Any]] = {}
    quick_steps: ClassVar[int | None] = None
    #: Substrate options the quick comparison uses for spiking runs of this task.
    quick_spiking_options: ClassVar[dict[str, Any]] = {}
    #: Updates of the quick comparison's spiking runs when fewer than the rate runs' (None: the same).
    quick_spiking_steps: ClassVar[int | None] = None
    #: Updates of the quick comparison's spiking runs of circuits whose learning is one run in
    #: generated code (``Cost.generated_code``), where more presentations cost little; None:
    #: :attr:`quick_spiking_steps` for every circuit. Never more than the rate run's.
    quick_compiled_spiking_steps: ClassVar[int | None] = None
    #: Substrate options of a full spiking run of this task (``bioplausible run --substrate
    #: spiking`` without ``--quick``), where a run in generated code affords more spikes per
    #: presentation than the quick comparison; None: :attr:`quick_spiking_options`.
    spiking_options: ClassVar[dict[str, Any] | None] = None

    @classmethod
    def spiking_run_options(cls, quick: bool, circuit: Any = None) -> dict[str, Any]:
        """The spiking substrate options of a quick or a full run of this task; a full run of
        ``circuit`` (a circuit or its class) takes its ``spiking_options`` over the task's."""
        if quick or cls.spiking_options is None:
            return dict(cls.quick_spiking_options)
        return {**cls.spiking_options, **dict(getattr(circuit, "spiking_options", None) or {})}
    #: Metrics shown in comparison tables and figures (all metrics when empty).
    headline_metrics: ClassVar[tuple[str, ...]] = ()
    #: Circuit families whose output this task can score (empty: any circuit).
    circuit_families: ClassVar[tuple[str, ...]] = ()
    #: Whether the comparison figures show this task's metrics over steps (learning curves);
    #: False: the final values per circuit and seed (a task whose curves carry no information
    #: beyond the final value, such as a one-pass write).
    learning_curve_figure: ClassVar[bool] = True

    def __init__(self) -> None:
        self.np_random: np.random.Generator | None = None

    # ------------------------------------------------------------- API
    def reset(self, seed: int | np.random.SeedSequence | None = None) -> Task:
        """Regenerate the task's data (a new episode of the stream) and return the task.

        With a ``seed``, the task's Generator is re-seeded first: same seed, same data. Without
        one, the current Generator is kept (as in gymnasium), so repeated ``reset()`` calls
        continue one reproducible random stream; only a task never reset before is seeded
        from the operating system's entropy."""
        if seed is not None or self.np_random is None:
            self.np_random = np.random.default_rng(seed)
        self._generate()
        return self

    @property
    def observation_space(self) -> Any:
        """One input sample as a ``gymnasium.spaces.Box`` of shape ``(n_inputs,)``
        (needs gymnasium: ``pip install gymnasium``)."""
        return _box(self.n_inputs, "observation_space")

    @property
    def target_space(self) -> Any:
        """One target as a ``gymnasium.spaces.Box`` of shape ``(n_targets,)``, or None for an
        unsupervised task (needs gymnasium)."""
        return _box(self.n_targets, "target_space") if self.n_targets else None

    @property
    @abstractmethod
    def n_inputs(self) -> int:
        """Dimension of one input sample."""

    @property
    def n_targets(self) -> int:
        """Dimension of one target (0 for unsupervised tasks)."""
        return 0

    @abstractmethod
    def _generate(self) -> None:
        """(Re)build the task's data from ``self.np_random``."""

    @abstractmethod
    def next_batch(self, size: int) -> AnyBatch:
        """The next ``size`` training samples of the stream, as a ``Batch`` of (size, n) arrays."""

    def evaluation_set(self) -> AnyBatch | None:
        """Held-out samples for scoring; None when the metric is exact (computed from weights)."""
        return None

    @abstractmethod
    def score(self, circuit: CircuitLike, batch: Any = None, substrate: Any = None) -> dict[str, float]:
        """Named metrics of ``circuit`` (ensemble size 1); ``batch`` is the last training batch.

        ``substrate`` is the substrate the run uses; most tasks score the learned weights
        with the rate form and ignore it, tasks whose metric is a dynamic (sequence recall)
        may run their evaluation on it."""

    def summarize(self, trace: Mapping[str, np.ndarray], steps: np.ndarray) -> dict[str, float]:
        """Metrics derived from a whole metric trace (e.g. recovery time after switches)."""
        return {}

    def check_circuit(self, circuit: CircuitLike) -> None:
        """Raise ``ValueError`` before any work when this task cannot train and score ``circuit``."""
        if self.circuit_families and circuit.family not in self.circuit_families:
            fits = sorted(name for name, task in TASKS.items()
                          if not task.circuit_families or circuit.family in task.circuit_families)
            raise ValueError(
                f"task {self.name!r} takes circuits of the {' or '.join(self.circuit_families)} family; "
                f"{circuit.name!r} is a {circuit.family} circuit (tasks for it: {', '.join(fits)})"
            )

    def circuit_options(self) -> dict[str, Any]:
        """Keyword arguments a circuit of the task's family needs from the task (e.g. a frame)."""
        return {}

    def config(self) -> dict[str, Any]:
        """The task's constructor arguments, for results' attrs."""
        return {"task": self.name, **{k: _plain(v) for k, v in vars(self).items()
                                      if not k.startswith("_") and k != "np_random"}}

    # ------------------------------------------------------------- helpers
    def _require_reset(self) -> np.random.Generator:
        if self.np_random is None:
            raise RuntimeError(f"{type(self).__name__} must be reset(seed=...) before use")
        return self.np_random


def _box(size: int, what: str) -> Any:
    try:
        from gymnasium import spaces
    except ImportError as error:
        raise ModuleNotFoundError(f"{what} is described with gymnasium.spaces; install gymnasium "
                                  f"(pip install gymnasium)") from error
    return spaces.Box(low=-np.inf, high=np.inf, shape=(int(size),), dtype=np.float64)


def single(array: np.ndarray) -> np.ndarray:
    """Drop the leading ensemble axis of a single-member circuit's array."""
    if array.shape[0] != 1:
        raise ValueError(f"expected a single-member (ensemble size 1) array, got shape {array.shape}")
    return array[0]


TASKS: Registry = Registry("task")


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: make ``cls`` available by its CLI ``name`` (a name already taken by
    another class is refused)."""
    TASKS[cls.name] = cls
    return cls


def make_task(name: str, **options: Any) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; available: {sorted(TASKS)}")
    return TASKS[name](**options)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 64 else f"array{value.shape}"
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return repr(value)
