"""NeuroGym tasks as trial tasks (:class:`~bioplausible.core.TrialBatch`) for the recurrent circuits.

NeuroGym (Molano-Mazón, Barbosa, Pastor-Ciurana, …, Yang, "NeuroGym: An open resource for
developing and sharing neuroscience tasks", 2022; ``pip install bioplausible[neurogym]``)
builds each trial of a cognitive task at once: ``env.new_trial()`` fills ``env.ob`` (T, n)
with the observations and ``env.gt`` (T,) with the ground-truth action at every step, and
names the trial's periods (``env.start_ind[p]``, ``env.end_ind[p]``: fixation, stimulus,
delay, decision, …). :class:`NeuroGymTask` turns any such environment into a stream of
trials, without stepping it (a task is a data stream, not an action loop):

* ``inputs`` = the observations, ``targets`` = the ground truth one-hot over the actions
  (``action_space.n``), both zero-padded to ``trial_steps`` (trials of random length keep
  their own length; padding is never scored);
* ``mask``: the steps of the ``scored_periods`` (default: ``("decision",)``, the response
  period; None: every step of the trial, fixation included, as in NeuroGym's supervised
  datasets);
* ``info``: ``ground_truth`` (T,) per step (−1 on padding), ``trial_length`` and, for every
  scalar entry of NeuroGym's trial dict (``ground_truth``, ``coh``, …), ``trial_<key>``;
* ``dt`` = the environment's ``dt`` in seconds (NeuroGym counts milliseconds).

Trial structure is kept: each row is one whole trial, its periods in order. Randomness: the
environment's generator is re-seeded from the task's own Generator at ``reset(seed=...)``.

Metrics (``score``, on ``evaluation_trials`` held-out trials):

* ``decision_accuracy``: fraction of trials whose output, averaged over the scored steps,
  is largest for the ground-truth action of those steps;
* ``step_accuracy``: fraction of scored steps whose largest output is the ground truth;
* ``masked_mse``: mean over scored steps of ``Σ_a (y_a − y⋆_a)²``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from ..core import CircuitLike, TrialBatch
from ..validation import check_integer
from .base import Task

__all__ = ["NeuroGymTask", "make_neurogym_env", "NEUROGYM_VERSION"]

#: The NeuroGym release the adapter is written against (its ``TrialEnv`` interface).
NEUROGYM_VERSION = "2.3.1"
#: Trials drawn (from a generator of their own) to find the longest trial when ``trial_steps`` is not given.
LENGTH_PROBE_TRIALS = 200


class NeuroGymTask(Task):
    """A NeuroGym environment as a trial task; see the module docstring.

    ``env``: a registered NeuroGym id (``"PerceptualDecisionMaking-v0"``, made with
    ``env_options``) or an environment object with NeuroGym's ``TrialEnv`` interface;
    ``trial_steps``: the padded trial length (None: the longest of 200 probe trials).

    Not in the task registry (``TASKS``): NeuroGym is an optional extra, and a registered task
    must construct without it; build it directly, ``NeuroGymTask("DelayMatchSample-v0")``."""

    name = "neurogym"
    description = "any NeuroGym cognitive task as trials (observations in, one-hot ground truth out, periods kept)"
    family = "recurrent"
    circuit_families = ("recurrent",)
    default_batch_size = 16
    default_steps = 300
    default_eval_every = 25
    quick_options: ClassVar[dict[str, Any]] = {"evaluation_trials": 8}
    headline_metrics: ClassVar[tuple[str, ...]] = ("decision_accuracy", "masked_mse")

    def __init__(
        self,
        env: Any = "PerceptualDecisionMaking-v0",
        env_options: Mapping[str, Any] | None = None,
        scored_periods: Sequence[str] | None = ("decision",),
        trial_steps: int | None = None,
        evaluation_trials: int = 32,
    ) -> None:
        super().__init__()
        if env_options is not None and not isinstance(env_options, Mapping):
            raise TypeError(f"env_options must be a mapping of keyword arguments, got {env_options!r}")
        self.env_options = dict(env_options or {})
        if isinstance(env, str):
            self.env = env
            self._env = make_neurogym_env(env, **self.env_options)
        else:
            if self.env_options:
                raise ValueError("env_options are for an environment given by id; got an environment object")
            self.env = type(env).__name__
            self._env = getattr(env, "unwrapped", env)
        missing = [a for a in ("new_trial", "start_ind", "end_ind", "dt", "observation_space", "action_space",
                               "seed") if not hasattr(self._env, a)]
        if missing:
            raise TypeError(f"env must be a NeuroGym TrialEnv (new_trial() filling ob and gt, start_ind, end_ind, "
                            f"dt, observation_space, action_space, seed()); {type(self._env).__name__} lacks {missing}")
        if not hasattr(self._env.action_space, "n"):
            raise ValueError(f"env's action_space must be discrete (ground truth one-hot over actions), "
                             f"got {self._env.action_space!r}")
        if scored_periods is not None:
            if isinstance(scored_periods, str) or not all(isinstance(p, str) for p in scored_periods):
                raise TypeError(f"scored_periods must be a sequence of period names or None, got {scored_periods!r}")
            scored_periods = tuple(scored_periods)
            known = set(self._env.timing) if hasattr(self._env, "timing") else set()
            unknown = [p for p in scored_periods if known and p not in known]
            if unknown or not scored_periods:
                raise ValueError(f"scored_periods must name periods of {self.env} ({sorted(known)}) or be None, "
                                 f"got {scored_periods!r}")
        self.scored_periods = scored_periods
        self.evaluation_trials = check_integer("evaluation_trials", evaluation_trials, 1)
        self.dt = float(self._env.dt) / 1000.0
        self.trial_steps = (self._longest_trial() if trial_steps is None
                            else check_integer("trial_steps", trial_steps, 1))
        self._evaluation: TrialBatch | None = None

    # ------------------------------------------------------------------ shapes
    @property
    def n_inputs(self) -> int:
        return int(np.prod(self._env.observation_space.shape))

    @property
    def n_targets(self) -> int:
        """One output per action (the ground truth one-hot)."""
        return int(self._env.action_space.n)

    # ------------------------------------------------------------------ stream
    def _generate(self) -> None:
        rng = self._require_reset()
        self._env.seed(int(rng.integers(2**31 - 1)))
        self._evaluation = self._trials(self.evaluation_trials)

    def next_batch(self, size: int) -> TrialBatch:
        """The next ``size`` trials of the stream, (size, trial_steps, ·)."""
        self._require_reset()
        return self._trials(check_integer("size", size, 1))

    def evaluation_set(self) -> TrialBatch:
        if self._evaluation is None:
            raise RuntimeError("NeuroGymTask must be reset(seed=...) before use")
        return self._evaluation

    def _trials(self, size: int) -> TrialBatch:
        steps, env = self.trial_steps, self._env
        inputs = np.zeros((size, steps, self.n_inputs))
        targets = np.zeros((size, steps, self.n_targets))
        mask = np.zeros((size, steps), dtype=bool)
        truth = np.full((size, steps), -1, dtype=np.int64)
        lengths = np.zeros(size, dtype=np.int64)
        scalars: dict[str, list[float]] = {}
        for b in range(size):
            trial = env.new_trial() or {}
            observations = np.asarray(env.ob, dtype=float).reshape(len(env.ob), -1)
            length = len(observations)
            if length > steps:
                raise ValueError(f"a trial of {self.env} lasted {length} steps, more than trial_steps={steps}; "
                                 f"pass a larger trial_steps")
            inputs[b, :length] = observations
            truth[b, :length] = np.asarray(env.gt, dtype=np.int64).reshape(length)
            targets[b, np.arange(length), truth[b, :length]] = 1.0
            lengths[b] = length
            if self.scored_periods is None:
                mask[b, :length] = True
            else:
                for period in self.scored_periods:
                    mask[b, env.start_ind[period]:env.end_ind[period]] = True
            for key, value in trial.items():
                if np.ndim(value) == 0 and isinstance(value, (int, float, np.integer, np.floating, bool)):
                    scalars.setdefault(f"trial_{key}", []).append(float(value))
        info: dict[str, np.ndarray] = {"ground_truth": truth, "trial_length": lengths}
        info.update({key: np.asarray(values) for key, values in scalars.items() if len(values) == size})
        return TrialBatch(inputs, targets, mask, info, self.dt)

    def _longest_trial(self) -> int:
        """The longest of :data:`LENGTH_PROBE_TRIALS` trials drawn with a generator of their own
        (seed 0: the default ``trial_steps`` does not depend on the task's seed)."""
        self._env.seed(0)
        longest = 0
        for _ in range(LENGTH_PROBE_TRIALS):
            self._env.new_trial()
            longest = max(longest, len(self._env.ob))
        return longest

    # ------------------------------------------------------------------ score
    def score(self, circuit: CircuitLike, batch: Any = None, substrate: Any = None) -> dict[str, float]:
        held_out = self.evaluation_set()
        outputs = np.asarray(circuit.output(circuit.respond(held_out.inputs[None])))[0]
        return decision_metrics(outputs, held_out)

    def check_circuit(self, circuit: CircuitLike) -> None:
        super().check_circuit(circuit)
        step = getattr(getattr(circuit, "params", None), "dt", None)
        if step is not None and not np.isclose(step, self.dt, rtol=1e-12, atol=0.0):
            raise ValueError(f"the circuit's dt={step:g} s must equal the task's step dt={self.dt:g} s "
                             f"(NeuroGym's dt of {self.dt * 1000:g} ms; build it with the task's circuit_options())")

    def circuit_options(self) -> dict[str, Any]:
        """The step ``dt`` (s) a recurrent circuit must share with the task."""
        return {"dt": self.dt}

    def config(self) -> dict[str, Any]:
        return {"task": self.name, "env": self.env, "env_options": {k: repr(v) for k, v in self.env_options.items()},
                "scored_periods": None if self.scored_periods is None else list(self.scored_periods),
                "trial_steps": self.trial_steps, "evaluation_trials": self.evaluation_trials, "dt": self.dt}


def decision_metrics(outputs: np.ndarray, trials: TrialBatch) -> dict[str, float]:
    """``decision_accuracy``, ``step_accuracy`` and ``masked_mse`` (module docstring) of outputs
    (B, T, n_actions) on unstacked ``trials``."""
    scored = trials.scored
    truth = trials.info["ground_truth"]
    counts = np.maximum(scored.sum(axis=1), 1)
    mean_output = (outputs * scored[..., None]).sum(axis=1) / counts[:, None]
    # the ground truth of a trial's scored steps (the most frequent one, for multi-step periods)
    n_actions = outputs.shape[-1]
    votes = np.stack([((truth == a) & scored).sum(axis=1) for a in range(n_actions)], axis=1)
    decided = scored.any(axis=1)
    correct = np.argmax(mean_output, axis=1) == np.argmax(votes, axis=1)
    step_correct = (np.argmax(outputs, axis=-1) == truth) & scored
    error = ((outputs - trials.targets) ** 2).sum(axis=-1)
    return {
        "decision_accuracy": float(correct[decided].mean()) if decided.any() else float("nan"),
        "step_accuracy": float(step_correct.sum() / max(scored.sum(), 1)),
        "masked_mse": float(error[scored].mean()) if scored.any() else float("nan"),
    }


def make_neurogym_env(env_id: str, **options: Any) -> Any:
    """``gymnasium.make(env_id, **options)`` of a NeuroGym task, unwrapped (needs ``neurogym``)."""
    try:
        import neurogym  # noqa: F401 - registers the NeuroGym environments with gymnasium
    except ImportError as error:
        raise ModuleNotFoundError(
            f"env={env_id!r} needs NeuroGym (pip install 'bioplausible[neurogym]', neurogym=={NEUROGYM_VERSION}); "
            f"importing it failed: {error}") from error
    import gymnasium

    return gymnasium.make(env_id, **options).unwrapped
