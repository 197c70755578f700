"""The trial contract of the tasks that learn over time."""

import numpy as np
import pytest

from bioplausible.core import TrialBatch


def test_trial_batch_slices_trials_and_members():
    rng = np.random.default_rng(0)
    batch = TrialBatch(rng.normal(size=(2, 5, 7, 3)), rng.normal(size=(2, 5, 7, 1)),
                       rng.random((2, 5, 7)) > 0.5, {"label": np.arange(10).reshape(2, 5)}, dt=0.01)
    assert batch.stacked and batch.size == 5 and batch.steps == 7
    member = batch.member(1)
    assert member.inputs.shape == (5, 7, 3) and np.array_equal(member.info["label"], np.arange(5, 10))
    part = member[1:3]
    assert part.size == 2 and part.mask.shape == (2, 7) and part.dt == 0.01
    np.testing.assert_array_equal(part.targets, batch.targets[1, 1:3])
    assert TrialBatch(np.zeros((4, 3, 2))).scored.all()


@pytest.mark.parametrize("kwargs, name", [
    ({"inputs": np.zeros((3, 2))}, "inputs"),
    ({"inputs": np.zeros((3, 4, 2)), "targets": np.zeros((3, 5, 1))}, "targets"),
    ({"inputs": np.zeros((3, 4, 2)), "mask": np.ones((3, 4))}, "mask"),
    ({"inputs": np.zeros((3, 4, 2)), "info": {"label": np.zeros(2)}}, "info"),
    ({"inputs": np.zeros((3, 4, 2)), "dt": 0.0}, "dt"),
])
def test_trial_batch_refuses_wrong_shapes(kwargs, name):
    with pytest.raises(ValueError, match=name):
        TrialBatch(**kwargs)
