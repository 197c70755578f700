"""The NeuroGym adapter: NeuroGym tasks as trial tasks for the recurrent circuits.

The tests on NeuroGym's own tasks (PerceptualDecisionMaking, DelayMatchSample) need
``neurogym`` (``pip install 'bioplausible[neurogym]'``) and skip, with the import error, only
when it cannot be imported. The adapter's own logic (padding, masks, one-hot targets, bad
inputs) is also checked on a small environment written here to NeuroGym's ``TrialEnv``
interface (``new_trial()`` filling ``ob``/``gt``, ``start_ind``/``end_ind`` per period).
"""

from __future__ import annotations

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.tasks.neurogym import NeuroGymTask, decision_metrics


def _neurogym():
    try:
        import neurogym
    except Exception as error:  # noqa: BLE001 - any import failure is the reason to skip
        pytest.skip(f"neurogym is not importable here ({type(error).__name__}: {error}); "
                    "pip install 'bioplausible[neurogym]'")
    return neurogym


class _Discrete:
    def __init__(self, n):
        self.n = n


class _Box:
    def __init__(self, shape):
        self.shape = shape


class CueResponse:
    """Fixation, a cue of random length telling which of two actions to take, a response period
    (the TrialEnv interface, as NeuroGym's envs fill it)."""

    timing = {"fixation": 200, "cue": None, "decision": 200}

    def __init__(self, dt=100):
        self.dt, self.rng = dt, np.random.RandomState(0)
        self.observation_space, self.action_space = _Box((3,)), _Discrete(3)
        self.start_ind, self.end_ind = {}, {}

    def seed(self, seed=None):
        self.rng = np.random.RandomState(seed)

    def new_trial(self):
        choice, cue = int(self.rng.randint(2)), int(self.rng.randint(1, 4))
        lengths = {"fixation": 2, "cue": cue, "decision": 2}
        start = 0
        for period, length in lengths.items():
            self.start_ind[period], self.end_ind[period] = start, start + length
            start += length
        self.ob = np.zeros((start, 3))
        self.ob[: self.end_ind["cue"], 0] = 1.0  # fixation point on until the decision
        self.ob[self.start_ind["cue"]:self.end_ind["cue"], 1 + choice] = 1.0
        self.gt = np.zeros(start, dtype=int)
        self.gt[self.start_ind["decision"]:] = 1 + choice
        return {"ground_truth": choice, "cue_steps": cue}


def test_trials_are_padded_masked_and_one_hot():
    task = NeuroGymTask(CueResponse(), evaluation_trials=4).reset(seed=0)
    assert task.trial_steps == 7 and task.dt == 0.1 and (task.n_inputs, task.n_targets) == (3, 3)
    batch = task.next_batch(32)
    lengths = batch.info["trial_length"]
    assert set(lengths.tolist()) == {5, 6, 7}
    for b in range(32):
        n = lengths[b]
        assert np.all(batch.inputs[b, n:] == 0) and np.all(batch.info["ground_truth"][b, n:] == -1)
        np.testing.assert_array_equal(np.argmax(batch.targets[b, :n], axis=1), batch.info["ground_truth"][b, :n])
        np.testing.assert_array_equal(np.flatnonzero(batch.mask[b]), [n - 2, n - 1])  # the decision period
        assert batch.info["ground_truth"][b, n - 1] == 1 + batch.info["trial_ground_truth"][b]
    every = NeuroGymTask(CueResponse(), scored_periods=None).reset(seed=0).next_batch(8)
    np.testing.assert_array_equal(every.mask.sum(axis=1), every.info["trial_length"])


def test_same_seed_same_trials_and_perfect_outputs_score_one():
    first, again = (NeuroGymTask(CueResponse()).reset(seed=4).next_batch(5) for _ in range(2))
    np.testing.assert_array_equal(first.inputs, again.inputs)
    metrics = decision_metrics(first.targets, first)
    assert metrics == {"decision_accuracy": 1.0, "step_accuracy": 1.0, "masked_mse": 0.0}
    wrong = decision_metrics(np.roll(first.targets, 1, axis=-1), first)
    assert wrong["decision_accuracy"] == 0.0 and wrong["masked_mse"] == 2.0


@pytest.mark.parametrize("arguments,kind,word", [
    ({"env": object()}, TypeError, "TrialEnv"), ({"scored_periods": ("response",)}, ValueError, "scored_periods"),
    ({"scored_periods": "decision"}, TypeError, "scored_periods"), ({"trial_steps": 0}, ValueError, "trial_steps"),
    ({"evaluation_trials": 0}, ValueError, "evaluation_trials")])
def test_bad_arguments_are_refused_by_name(arguments, kind, word):
    with pytest.raises(kind, match=word):
        NeuroGymTask(**{"env": CueResponse(), **arguments})


def test_a_trial_longer_than_trial_steps_is_refused_by_name():
    with pytest.raises(ValueError, match="trial_steps=5"):
        NeuroGymTask(CueResponse(), trial_steps=5).reset(seed=0).next_batch(20)


def test_recurrent_circuit_learns_the_cue_response_task_over_seeds():
    task = NeuroGymTask(CueResponse(), scored_periods=None, evaluation_trials=32)
    circuit = bpl.circuits.RecurrentEprop(n_hidden=16, nonlinearity="rectified", learning_rate=0.2, readout_rate=0.2,
                                          initial_scale=0.5, **task.circuit_options())
    result = bpl.run(circuit, task, seeds=[0, 1, 2], steps=150, eval_every=150, batch_size=16, progress=False)
    accuracy = result.dataset["metric_decision_accuracy"].values
    assert np.all(accuracy[:, -1] >= 0.8), accuracy  # chance 0.5; measured 0.875-1.0 over seeds 0-4


@pytest.mark.parametrize("env,periods", [
    ("PerceptualDecisionMaking-v0", ["fixation", "stimulus", "delay", "decision"]),
    ("DelayMatchSample-v0", ["fixation", "sample", "delay", "test", "decision"])])
def test_neurogym_task_runs_as_trials(env, periods):
    _neurogym()
    task = NeuroGymTask(env, evaluation_trials=8).reset(seed=0)
    batch = task.next_batch(6)
    native = task._env  # noqa: SLF001 - the adapter's own environment, to compare its last trial
    assert batch.inputs.shape == (6, task.trial_steps, native.observation_space.shape[0])
    assert batch.targets.shape[-1] == native.action_space.n and batch.dt == native.dt / 1000
    last = batch.info["trial_length"][-1]
    np.testing.assert_array_equal(batch.inputs[-1, :last], native.ob)
    np.testing.assert_array_equal(np.argmax(batch.targets[-1, :last], axis=1), native.gt)
    starts = [native.start_ind[p] for p in periods]
    assert starts == sorted(starts)  # trial structure kept: the periods in order
    decision = np.zeros(task.trial_steps, dtype=bool)
    decision[native.start_ind["decision"]:native.end_ind["decision"]] = True
    np.testing.assert_array_equal(batch.mask[-1], decision)
    assert np.all(batch.info["ground_truth"][:, 0] == 0)  # fixation first
    circuit = bpl.circuits.RecurrentEprop(n_hidden=8, **task.circuit_options())
    result = bpl.run(circuit, task, seeds=[0, 1], steps=4, eval_every=2, batch_size=4, progress=False)
    assert np.all(np.isfinite(result.dataset["metric_masked_mse"].values))
