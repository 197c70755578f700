"""Sequence circuits: exactness of the forms, the one-pass write, silencing, GPI, MixedNet timing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bioplausible.circuits import DenseNet, GeneralizedPseudoinverse, MixedNet, SeqNet, TwoLayerSequence
from bioplausible.circuits.sequence import check_patterns, normalized_separation
from bioplausible.experiments.run import run
from bioplausible.rules.sequence import asymmetric_hebbian
from bioplausible.tasks import SequenceRecall
from bioplausible.theory.sequence import theoretical_capacity


def rademacher(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return np.where(rng.random(shape) < 0.5, 1.0, -1.0)


def _stream(circuit, task: SequenceRecall, batch_size: int = 1) -> None:
    """Present one pass of the task's transitions, ``batch_size`` at a time (the rate substrate's loop)."""
    circuit.initialize(task.n_inputs, task.n_targets)
    for _ in range(task.default_steps // batch_size):
        batch = task.next_batch(batch_size)
        batch = type(batch)(batch.inputs[None], batch.targets[None], {})
        circuit.learn(circuit.respond(batch.inputs), batch)


def test_online_write_sums_to_one_shot_outer_product():
    task = SequenceRecall(n_neurons=60, sequence_length=12).reset(3)
    expected = np.roll(task.sequence, -1, axis=0).T @ task.sequence / 60  # J = (1/N) Σ ξ^{μ+1} ξ^μᵀ
    online = SeqNet()
    _stream(online, task)
    assert online.steps == 12
    np.testing.assert_allclose(online.state["couplings"][0], expected, rtol=0, atol=1e-12)
    batched = SeqNet()  # mini-batches of 4: the rule is a batch mean, applied B times
    _stream(batched, task.reset(3), batch_size=4)
    np.testing.assert_allclose(batched.state["couplings"][0], expected, rtol=0, atol=1e-12)
    one_shot = SeqNet().store(task.sequence)
    np.testing.assert_allclose(one_shot.state["couplings"][0], expected, rtol=0, atol=1e-12)


def test_runner_writes_the_sequence_in_one_pass():
    result = run(SeqNet(), SequenceRecall(n_neurons=60, sequence_length=5), seed=3, progress=False).final()
    assert result["transition_success"] == 1.0 and result["sequence_success"] == 1.0


def test_online_write_recruits_one_memory_unit_per_transition():
    task = SequenceRecall(n_neurons=40, sequence_length=7).reset(1)
    circuit = TwoLayerSequence(separation="exp")
    _stream(circuit, task)
    np.testing.assert_allclose(circuit.visible_to_hidden[0], task.sequence / 40, atol=1e-15)
    np.testing.assert_array_equal(circuit.hidden_to_visible[0], np.roll(task.sequence, -1, axis=0).T)
    np.testing.assert_array_equal(circuit.state["hidden_gain"][0], np.ones(7))


def test_rule_is_batch_mean_outer_product_and_checks_shapes():
    rng = np.random.default_rng(0)
    pre, post = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 5, 4))
    delta = asymmetric_hebbian(pre, post, 0.5)
    np.testing.assert_allclose(delta[1], 0.5 * post[1].T @ pre[1] / 5)
    with pytest.raises(ValueError, match="pre and post"):
        asymmetric_hebbian(pre, post[:, :4], 1.0)


def test_seqnet_forms_give_identical_trajectories():
    rng = np.random.default_rng(1)
    patterns = rademacher(rng, 30, 80)  # over capacity: trajectories are non-trivial
    starts = rademacher(rng, 50, 80)
    trajectories = [c.store(patterns).rollout(starts, 12) for c in
                    (SeqNet(), DenseNet(separation="linear"), DenseNet(separation="poly", degree=1))]
    np.testing.assert_array_equal(trajectories[0], trajectories[1])
    np.testing.assert_array_equal(trajectories[0], trajectories[2])


@settings(max_examples=25, deadline=None)
@given(n=st.integers(4, 40), p=st.integers(2, 30), degree=st.integers(1, 6),
       separation=st.sampled_from(["linear", "poly", "exp", "softmax"]), seed=st.integers(0, 2**16))
def test_two_layer_form_equals_dense_form(n, p, degree, separation, seed):
    rng = np.random.default_rng(seed)
    patterns = rademacher(rng, p, n)
    states = np.concatenate([patterns, rademacher(rng, 20, n)])
    dense = DenseNet(separation=separation, degree=degree, beta=0.7).store(patterns)
    two_layer = TwoLayerSequence(separation=separation, degree=degree, beta=0.7).store(patterns)
    np.testing.assert_array_equal(dense.step(states), two_layer.step(states))


def test_silencing_a_hidden_unit_deletes_exactly_its_transition():
    rng = np.random.default_rng(2)
    patterns = rademacher(rng, 12, 64)
    circuit = TwoLayerSequence(separation="exp").store(patterns)
    before = circuit.step(patterns)
    circuit.silence(5)
    after = circuit.step(patterns)
    changed = np.any(before != after, axis=-1)[0]
    assert changed[5] and changed.sum() == 1
    assert not circuit.transition_success(patterns)[0, 5]
    assert circuit.respond(patterns[5:6])["memory"][0, 0, 5] == 0.0
    with pytest.raises(ValueError, match="hidden_units"):
        circuit.silence(12)


def test_pseudoinverse_recalls_biased_patterns_that_dense_nets_cannot():
    rng = np.random.default_rng(3)
    patterns = np.where(rng.random((100, 200)) < 0.8, 1.0, -1.0)  # ε = 0.6
    for degree in (1, 2, 3):
        gpi = GeneralizedPseudoinverse(separation="poly", degree=degree).store(patterns)
        assert gpi.transition_success(patterns).mean() == 1.0
    assert SeqNet().store(patterns).transition_success(patterns).mean() < 0.1
    assert DenseNet(separation="poly", degree=3).store(patterns).transition_success(patterns).mean() < 0.1


def test_pseudoinverse_errors_name_the_problem():
    rng = np.random.default_rng(4)
    with pytest.raises(ValueError, match="P <= N"):
        GeneralizedPseudoinverse().store(rademacher(rng, 30, 20))
    repeated = rademacher(rng, 10, 50)
    repeated[3] = repeated[7]
    circuit = GeneralizedPseudoinverse().store(repeated)
    with pytest.raises(ValueError, match=r"cond\(O\)=.*max_condition"):
        circuit.step(repeated)


@pytest.mark.parametrize("delay", [1, 3, 5])
def test_mixednet_dwells_exactly_delay_plus_one(delay):
    rng = np.random.default_rng(delay)
    patterns = rademacher(rng, 20, 100)
    circuit = MixedNet(delay=delay, advance_strength=2.0).store(patterns)
    steps = circuit.recall_length(20)
    trajectory = circuit.rollout(patterns[0], steps)[0, :, 0]
    decoded = np.argmax(trajectory @ patterns.T, axis=-1)
    np.testing.assert_array_equal(trajectory, patterns[decoded])
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[-1], decoded, [-1]]))))
    assert runs[0] == 1 and np.all(runs[1:-1] == delay + 1)
    np.testing.assert_array_equal(decoded, circuit.schedule(steps, 20))


def test_mixednet_variable_delays_follow_schedule():
    rng = np.random.default_rng(7)
    patterns = rademacher(rng, 8, 100)
    circuit = MixedNet(delays=(2, 4, 1, 3), advance_strength=2.0).store(patterns)
    steps = circuit.recall_length(8)
    trajectory = circuit.rollout(patterns[0], steps)[0, :, 0]
    np.testing.assert_array_equal(trajectory, patterns[circuit.schedule(steps, 8)])


def test_exponential_separation_is_stable_for_thousands_of_neurons():
    rng = np.random.default_rng(5)
    patterns = rademacher(rng, 50, 4000)
    circuit = DenseNet(separation="exp").store(patterns)
    cue = patterns[0] * np.where(rng.random(4000) < 0.3, -1.0, 1.0)  # 30 % flipped: exp((N−1)(m−1)) underflows
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        trajectory = circuit.rollout(cue, 50)
    np.testing.assert_array_equal(trajectory[0, 1:, 0], patterns[np.arange(1, 51) % 50])
    normalized = normalized_separation(np.array([0.4, 0.39, -1.0]), "exp", n_neurons=4000)
    assert normalized.max() == 1.0 and np.all(np.isfinite(normalized))


def test_pattern_and_parameter_validation_names_the_argument():
    with pytest.raises(ValueError, match=r"patterns must contain only -1 and \+1, found \[0.5\]"):
        check_patterns("patterns", [[1, -1, 0.5]])
    with pytest.raises(ValueError, match="separation"):
        DenseNet(separation="cubic")
    with pytest.raises(ValueError, match="degree"):
        DenseNet(degree=0)
    with pytest.raises(ValueError, match="delays"):
        MixedNet(delays=())
    with pytest.raises(ValueError, match="batch.targets"):
        SeqNet().store(np.ones((3, 4))).learn({"cue": np.ones((1, 2, 4))}, _batch(np.ones((1, 2, 4)), None))


def _batch(inputs, targets):
    from bioplausible.circuits.base import Batch

    return Batch(inputs, targets)


def test_state_roundtrip_and_graph():
    rng = np.random.default_rng(6)
    patterns = rademacher(rng, 6, 30)
    circuit = TwoLayerSequence(separation="poly", degree=3).store(patterns)
    clone = TwoLayerSequence(separation="poly", degree=3)
    clone.load_state_dict(circuit.state_dict())
    np.testing.assert_array_equal(clone.step(patterns), circuit.step(patterns))
    graph = circuit.graph()
    assert graph.nodes["memory"]["size"] == 6
    assert graph.edges["visible", "memory"]["rule"] == "asymmetric_hebbian"


def test_theoretical_capacity_matches_spec_table():
    assert theoretical_capacity(100, "linear") == pytest.approx(10.9, abs=0.05)
    assert theoretical_capacity(100, "linear", criterion="sequence") == pytest.approx(5.4, abs=0.05)
    assert theoretical_capacity(300, "poly", 2) == pytest.approx(2.6e3, rel=0.02)
    assert theoretical_capacity(300, "poly", 2, "sequence") == pytest.approx(877, rel=0.01)
    assert theoretical_capacity(10, "exp") == pytest.approx(94, abs=1)
    assert theoretical_capacity(10, "exp", criterion="sequence") == pytest.approx(32, abs=1)


def test_exclude_self_overlap_matches_brute_force():
    rng = np.random.default_rng(8)
    patterns, states = rademacher(rng, 10, 30), rademacher(rng, 12, 30)
    circuit = DenseNet(separation="poly", degree=3, overlap="exclude_self").store(patterns)
    mask = 1.0 - np.eye(30)  # m_i^μ = Σ_{j≠i} ξ_j^μ S_j / (N − 1)
    overlaps = np.einsum("bj,ij,pj->bip", states, mask, patterns) / 29
    field = np.einsum("bip,pi->bi", overlaps**3, np.roll(patterns, -1, axis=0))
    tie = 1e-9 * np.abs(overlaps**3).sum(axis=-1)  # sgn(0) = +1 for fields within rounding of 0
    np.testing.assert_array_equal(circuit.step(states)[0], np.where(field >= -tie, 1.0, -1.0))
    with pytest.raises(ValueError, match="DenseNet only"):
        TwoLayerSequence(overlap="exclude_self")


@pytest.mark.parametrize("cls,params", [
    (SeqNet, {}), (DenseNet, {"separation": "poly", "degree": 3}), (DenseNet, {"overlap": "exclude_self"}),
    (GeneralizedPseudoinverse, {}), (TwoLayerSequence, {"separation": "exp"}), (MixedNet, {"delays": (1, 2)}),
])
def test_a_step_is_the_same_in_any_blocking(cls, params, monkeypatch):
    """``step`` works in blocks of members and states (cache-sized); any blocking — one
    block of everything, one member at a time, a few states at a time — gives the same
    states bit for bit."""
    import bioplausible.circuits.sequence.dynamics as sequence

    rng = np.random.default_rng(3)
    patterns = np.where(rng.random((3, 12, 40)) < 0.5, 1.0, -1.0)
    circuit = cls(**params).store(patterns)
    cues = patterns * np.where(rng.random(patterns.shape) < 0.2, -1.0, 1.0)
    monkeypatch.setattr(sequence, "_BLOCK_ELEMENTS", 2**30)
    whole = circuit.step(cues)
    for elements in (1, 100, 40 * 12 + 1):
        monkeypatch.setattr(sequence, "_BLOCK_ELEMENTS", elements)
        np.testing.assert_array_equal(circuit.step(cues), whole)


def test_blocks_cover_every_member_and_state_once():
    from bioplausible.circuits.sequence.dynamics import _blocks

    for members, states, per_state in [(3, 12, 40), (20, 2000, 2000), (1, 5, 10**7), (7, 1, 3)]:
        seen = np.zeros((members, states), dtype=int)
        for member_part, state_part in _blocks(members, states, per_state):
            seen[member_part, state_part] += 1
        assert np.all(seen == 1), (members, states, per_state)


def test_single_precision_overlaps_are_the_double_precision_ones():
    """DenseNet takes ±1 overlaps in float32 (exact integers): the same values as float64,
    and states that are not ±1 take the float64 products."""
    rng = np.random.default_rng(5)
    patterns = np.where(rng.random((2, 30, 64)) < 0.5, 1.0, -1.0)
    circuit = DenseNet(separation="poly", degree=3).store(patterns)
    signs = np.where(rng.random((2, 7, 64)) < 0.5, 1.0, -1.0)
    graded = rng.uniform(-1.0, 1.0, (2, 7, 64))
    for states in (signs, graded):
        expected = np.matmul(states, np.swapaxes(circuit.state["patterns"], -1, -2)) / 64
        got = circuit.overlaps(states)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, expected)
