"""The sequence family's declared writes and its integer recall path.

A recruiting binding (``RuleBinding(recruit=...)``) adds one memory unit per presentation;
its new weights are checked, realisation by realisation, against the rule's batched numpy
form for a single presentation with the one-hot signal ``r = 1`` on the new unit. DenseNet's
integer field for ±1 states must give the normalised form's states bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from bioplausible.circuits import Batch, DenseNet, MixedNet, TwoLayerSequence
from bioplausible.rules.declaration import RECRUIT, Brian2Plasticity, RuleBinding, apply_rules, recruited
from bioplausible.rules.sequence import ASYMMETRIC_HEBBIAN

K, B, N = 2, 37, 6  # B > 32: the one-hot signal is built in two blocks (32 + 5)


def _activities(seed: int, binary: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    if binary:
        return {"cue": np.where(rng.random((K, B, N)) < 0.5, 1.0, -1.0),
                "next": np.where(rng.random((K, B, N)) < 0.5, 1.0, -1.0)}
    return {"cue": rng.standard_normal((K, B, N)), "next": rng.standard_normal((K, B, N))}


def _binding(side: str, transposed: bool, scale: float = 0.3) -> RuleBinding:
    activities = {"x": "cue", "y": RECRUIT} if side == "post" else {"x": RECRUIT, "y": "next"}
    pre, post = ("visible", "memory") if side == "post" else ("memory", "visible")
    return RuleBinding("w", ASYMMETRIC_HEBBIAN, pre, post, activities, {"learning_rate": scale},
                       transposed=transposed, recruit=side)


def _one_presentation(side: str, activities: dict[str, np.ndarray], b: int) -> np.ndarray:
    """The batched numpy form for presentation b alone, r = 1 on its unit: (K, 1, N) or (K, N, 1)."""
    one = np.ones((K, 1, 1))
    if side == "post":
        return ASYMMETRIC_HEBBIAN.numpy(W=np.zeros((K, 1, N)), x=activities["cue"][:, b:b + 1], y=one,
                                        learning_rate=0.3)
    return ASYMMETRIC_HEBBIAN.numpy(W=np.zeros((K, N, 1)), x=one, y=activities["next"][:, b:b + 1],
                                    learning_rate=0.3)


@pytest.mark.parametrize("binary", [True, False], ids=["signs", "graded"])
@pytest.mark.parametrize("side,transposed", [("post", False), ("pre", False), ("pre", True), ("post", True)])
def test_recruited_units_are_each_presentations_own_increment(side, transposed, binary):
    activities = _activities(3, binary)
    binding = _binding(side, transposed)
    new = recruited(binding, activities)
    per_unit = [_one_presentation(side, activities, b) for b in range(B)]
    expected = np.concatenate(per_unit, axis=-2 if side == "post" else -1)
    if transposed:
        expected = np.swapaxes(expected, -1, -2)
    assert new.shape == expected.shape and new.flags.c_contiguous
    np.testing.assert_allclose(new, expected, rtol=1e-14, atol=1e-15)
    # the closed form the declaration stands for: the new unit's weights are η × its activity
    source = activities["cue"] if side == "post" else np.swapaxes(activities["next"], -1, -2)
    closed = 0.3 * source
    np.testing.assert_allclose(np.swapaxes(new, -1, -2) if transposed else new, closed, rtol=1e-14)


@pytest.mark.parametrize("side", ["post", "pre"])
def test_recruited_units_match_the_compiled_per_sample_form(side):
    """The compiled (numba) per-sample form of the rule on each new unit's zero weights, with
    r = 1 on it, gives the same weights as the recruiting binding."""
    pytest.importorskip("numba")
    activities = _activities(5, False)
    new = recruited(_binding(side, False), activities)
    step = ASYMMETRIC_HEBBIAN.compiled()
    assert ASYMMETRIC_HEBBIAN.signature() == ("W", "x_pre", "y_post", "learning_rate")
    for k in range(K):
        for b in range(B):
            if side == "post":
                weights = np.zeros((1, N))
                step(weights, activities["cue"][k, b].copy(), np.ones(1), 0.3)
                np.testing.assert_allclose(weights[0], new[k, b], rtol=1e-14)
            else:
                weights = np.zeros((N, 1))
                step(weights, np.ones(1), activities["next"][k, b].copy(), 0.3)
                np.testing.assert_allclose(weights[:, 0], new[k, :, b], rtol=1e-14)


def test_apply_rules_appends_the_recruited_units_along_the_grown_axis():
    activities = _activities(7, True)
    rows, columns = _binding("post", False), _binding("pre", False)
    state = {"w": np.zeros((K, 0, N))}
    apply_rules(state, [rows], activities)
    first = state["w"].copy()
    apply_rules(state, [rows], {name: value[:, :4] for name, value in activities.items()})
    np.testing.assert_array_equal(state["w"], np.concatenate([first, 0.3 * activities["cue"][:, :4]], axis=1))
    out = {"w": np.zeros((K, N, 0))}
    apply_rules(out, [columns], activities)
    assert out["w"].shape == (K, N, B) and rows.growth_axis == -2 and columns.growth_axis == -1


@pytest.mark.parametrize(("options", "word"), [
    ({"activities": {"x": "cue", "y": RECRUIT}, "recruit": "sideways"}, "recruit must be"),
    ({"activities": {"x": "cue", "y": "next"}, "recruit": "post"}, "recruited side"),
    ({"activities": {"x": RECRUIT, "y": RECRUIT}, "recruit": "post"}, "recruited side"),
    ({"activities": {"x": "cue", "y": RECRUIT}, "recruit": "post", "batch_sum": True}, "batch_sum"),
    ({"activities": {"x": "cue", "y": RECRUIT}, "recruit": "post", "gate": "g"}, "gate"),
])
def test_a_recruiting_binding_that_cannot_run_is_refused_when_declared(options, word):
    with pytest.raises(ValueError, match=word):
        RuleBinding("w", ASYMMETRIC_HEBBIAN, "visible", "memory", parameters={"learning_rate": 1.0}, **options)


def test_the_brian2_plasticity_runner_refuses_a_recruiting_binding_by_name():
    with pytest.raises(ValueError, match="'w'.*recruits one unit per presentation"):
        Brian2Plasticity(None, None, None, _binding("post", False), 1, N, 1, {}, dt=None)


@pytest.mark.parametrize("circuit", [DenseNet(separation="poly"), TwoLayerSequence(separation="exp"),
                                     MixedNet(delays=(1, 2))], ids=["densenet", "two-layer", "mixednet"])
def test_every_memory_array_is_written_by_a_recruiting_binding(circuit):
    """Each memory array grows by one unit per presentation through its binding (any split
    into batches gives the one-shot write), and recall after the write stores the sequence."""
    rng = np.random.default_rng(2)
    patterns = np.where(rng.random((K, 9, 40)) < 0.5, 1.0, -1.0)
    successors = np.roll(patterns, -1, axis=1)
    whole = type(circuit)(**vars(circuit.params)).store(patterns)
    circuit.initialize(40, 40, [0, 1])
    for part in (slice(0, 2), slice(2, 3), slice(3, 9)):
        circuit.learn({"cue": patterns[:, part]}, Batch(patterns[:, part], successors[:, part]))
    bound = {binding.state for binding in circuit.rule_bindings()}
    assert all(binding.recruit for binding in circuit.rule_bindings())
    for key, value in circuit.state.items():
        assert key in bound | {step.state for step in circuit.state_steps()}
        np.testing.assert_array_equal(value, whole.state[key], err_msg=key)
    np.testing.assert_array_equal(circuit.step(patterns), whole.step(patterns))


@pytest.mark.parametrize("params", [{"separation": "poly", "degree": 2}, {"separation": "poly", "degree": 3},
                                    {"separation": "linear"}], ids=["poly2", "poly3", "linear"])
def test_the_integer_field_gives_the_normalised_states_bit_for_bit(params, monkeypatch):
    """±1 states at N = 8 (even: many exact ties ξ·S = 0 and zero fields): the integer path
    and the normalised float path give the same states, and the integer path is the one taken."""
    rng = np.random.default_rng(11)
    patterns = np.where(rng.random((K, 30, 8)) < 0.5, 1.0, -1.0)
    circuit = DenseNet(**params).store(patterns)
    states = np.where(rng.random((K, 500, 8)) < 0.5, 1.0, -1.0)
    assert circuit._integer_field()
    drive, integer = circuit._drive(states)
    assert integer
    np.testing.assert_array_equal(drive, np.round(drive))  # integer activities: f(ξ·S)
    assert np.abs(drive).max() > 1.0
    field, _ = circuit._field(states)
    assert np.count_nonzero(field == 0.0) > 20  # the case has exact ties to decide (sgn(0) = +1)
    fast, stored = circuit.step(states), circuit.step(patterns)  # stored: the Gram-matrix branch
    monkeypatch.setattr(DenseNet, "_integer_field", lambda self: False)
    normalised = circuit.step(states)
    assert np.abs(circuit._drive(states)[0]).max() <= 1.0  # the normalised form: the winner is 1
    np.testing.assert_array_equal(fast, normalised)
    np.testing.assert_array_equal(stored, circuit.step(patterns))


def test_the_integer_field_is_refused_where_it_would_not_be_exact():
    """Graded states, exp f, the pseudoinverse's O⁺m, and P N^d ≥ 1/tolerance take the float path."""
    from bioplausible.circuits import GeneralizedPseudoinverse

    rng = np.random.default_rng(1)
    patterns = np.where(rng.random((1, 20, 40)) < 0.5, 1.0, -1.0)
    assert not DenseNet(separation="exp").store(patterns)._integer_field()
    assert not GeneralizedPseudoinverse(separation="poly").store(patterns)._integer_field()
    assert not DenseNet(separation="poly", degree=6).store(patterns)._integer_field()  # 20 · 40⁶ > 10⁹
    dense = DenseNet(separation="poly", degree=2).store(patterns)
    assert dense._integer_field()
    assert not dense._drive(rng.uniform(-1, 1, (1, 3, 40)))[1]  # graded: normalised


def test_seqnet_integer_field_gives_the_float_states_bit_for_bit(monkeypatch):
    """SeqNet's field of ±1 states as the integer N J S (float32) against J S in float64, at
    N = 8 (many exact zero fields, sgn(0) = +1); couplings that are not N J integers take the
    float path."""
    from bioplausible.circuits import SeqNet

    rng = np.random.default_rng(4)
    patterns = np.where(rng.random((K, 9, 8)) < 0.5, 1.0, -1.0)
    circuit = SeqNet().store(patterns)
    states = np.where(rng.random((K, 400, 8)) < 0.5, 1.0, -1.0)
    field, _ = circuit._field(states)
    assert field.dtype == np.float32 and np.count_nonzero(field == 0.0) > 20
    fast = circuit.step(states)
    monkeypatch.setattr(SeqNet, "_integer", staticmethod(lambda couplings: None))
    circuit._scale = None
    assert circuit._field(states)[0].dtype == np.float64
    np.testing.assert_array_equal(fast, circuit.step(states))
    monkeypatch.undo()
    assert SeqNet._integer(rng.standard_normal((K, 8, 8))) is None
    assert SeqNet._integer(circuit.state["couplings"]) is not None
