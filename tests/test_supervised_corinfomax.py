"""CorInfoMax-EBD: settling, the lateral (inverse-correlation) update, learning, no spiking form."""

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.circuits import supervised_corinfomax as S
from bioplausible.circuits.base import Batch
from bioplausible.rules import supervised as rules
from bioplausible.tasks import Classification


def test_free_phase_settles_at_init():
    """Spec §7.7: digits, 64-100-10, max |Δh| in the 30th step < 1e-3."""
    x = Classification(predictions=False).evaluation_set().inputs[:100]
    circuit = S.CorInfoMaxEBD().initialize(64, 10, seeds=[0, 1])
    shorter = S.CorInfoMaxEBD(free_steps=29)
    shorter.state = circuit.state
    a, b = circuit.respond(x), shorter.respond(x)
    assert max(float(np.abs(a[k] - b[k]).max()) for k in ("hidden_1", "output")) < 1e-3
    assert all(0.0 <= float(a[k].min()) and float(a[k].max()) <= 1.0 for k in a)


def test_lateral_update_tracks_inverse_correlation():
    """Spec §7.6: with B = R⁻¹, one step matches inv(λR + (1−λ)hhᵀ) to relative error ≤ 2γ hᵀBh."""
    rng = np.random.default_rng(0)
    n = 6
    root = rng.standard_normal((n, n))
    correlation = root @ root.T / n + np.eye(n)
    lam = 0.99
    circuit = S.CorInfoMaxEBD(hidden_sizes=(n,), lateral_forgetting=lam, decorrelation_rate=0.0,
                              lateral_decorrelation_rate=0.0).initialize(3, 2)
    circuit.state["lateral_1"] = np.linalg.inv(correlation)[None]
    h = rng.random((1, 1, n)) * 0.9
    acts = {"input": rng.random((1, 1, 3)), "hidden_1": h, "output": np.full((1, 1, 2), 0.5)}
    circuit.learn(acts, Batch(acts["input"], np.zeros((1, 1, 2))))
    exact = np.linalg.inv(lam * correlation + (1 - lam) * h[0].T @ h[0])
    gamma = (1 - lam) / lam
    bound = 2 * gamma * float(h[0, 0] @ np.linalg.inv(correlation) @ h[0, 0])
    error = np.linalg.norm(circuit.state["lateral_1"][0] - exact) / np.linalg.norm(exact)
    assert error <= bound


def _final_accuracy(circuit, epochs: int, seeds: list[int]) -> tuple[np.ndarray, object]:
    task = Classification(predictions=False, epochs=epochs)
    result = bpl.run(circuit, task, seeds=seeds, eval_every=task.default_steps, progress=False)
    return result.dataset["metric_test_accuracy"].values, result


def test_corinfomax_ebd_learns_digits_every_seed():
    """3 epochs of digits (64-100-10, B = 20), 4 seeds: every seed ≥ 92 % (measured 94.5–96.0)
    and no output unit is silent on every test input. With the clip-gated output rule
    (``output_rule="delta"``, the cause of the dead units) the same runs reach 27–79 %."""
    accuracy, result = _final_accuracy(S.CorInfoMaxEBD(), 3, [0, 1, 2, 3])
    assert np.all(accuracy[:, 0] < 0.3)
    assert np.all(accuracy[:, -1] >= 0.92), accuracy
    test = Classification(predictions=False).evaluation_set()
    for index in range(4):
        output = result.circuit(index).respond(test.inputs)["output"]
        assert np.all(output.max(axis=-2) > 0), f"seed {index}: an output unit is silent on every test input"


def test_corinfomax_ebd_clip_gated_output_loses_classes():
    """The diagnosis: gating the output delta rule by 1[0 < u < 1] (the gradient of ½‖clip(u) − y‖²)
    leaves output units silent on every input (classes never predicted); measured 27–79 %."""
    accuracy, _ = _final_accuracy(S.CorInfoMaxEBD(output_rule="delta"), 3, [0, 1, 2, 3])
    assert np.mean(accuracy[:, -1]) < 0.85, accuracy


@pytest.mark.slow
def test_corinfomax_ebd_reaches_95_percent_every_seed():
    """Issue 13 target: 60 epochs of digits, 5 seeds, each ≥ 95 % (published MNIST 3-layer: 97.5)."""
    accuracy, _ = _final_accuracy(S.CorInfoMaxEBD(), 60, [0, 1, 2, 3, 4])
    assert np.all(accuracy[:, -1] >= 0.95), accuracy


def test_corinfomax_ebd_refuses_spiking_substrate_with_reason():
    """The reason names the quantity without a spiking form: the settled state of layers coupled
    by independent forward and backward matrices (no energy the capped IF units minimise) after
    a fixed number of Euler steps; the clip itself has one (``Population.ceiling``)."""
    from bioplausible.substrates import make_substrate

    reason = make_substrate("spiking").supports(S.CorInfoMaxEBD())
    assert reason is not None
    for part in ("no spiking realisation of its settled layers", "Population.ceiling",
                 "symmetric positive-definite coupling", "W_f,k+1", "W_b,k", "two independently learned matrices",
                 "free_steps from u = 0"):
        assert part in reason, (part, reason)
    # the asymmetry the reason states holds: forward and backward weights ~90° apart at init
    circuit = S.CorInfoMaxEBD().initialize(64, 10, [0, 1, 2])
    assert np.all(np.abs(_angle(circuit) - 90) < 5)
    task = Classification(predictions=False, n_train=40, n_test=20)
    with pytest.raises(ValueError, match="no spiking realisation of its settled layers"):
        bpl.run(S.CorInfoMaxEBD(), task, substrate="spiking", steps=1, progress=False)


# --------------------------------------------------------------------------- CorInfoMax-EP
def _angle(circuit) -> np.ndarray:
    """Top-layer forward/backward angle (spec §8.3), one per member."""
    forward, backward = circuit.feedback_paths()[-1]
    cosine = np.sum(forward * backward, axis=(-1, -2)) / (
        np.linalg.norm(forward, axis=(-1, -2)) * np.linalg.norm(backward, axis=(-1, -2)))
    return np.degrees(np.arccos(cosine))


def _classes_never_predicted(result, task, seeds) -> list[int]:
    test = task.evaluation_set()
    return [10 - len(np.unique(result.circuit(i).respond(test.inputs)["output"][0].argmax(-1)))
            for i in range(len(seeds))]


def test_corinfomax_ep_learns_and_aligns_in_three_epochs():
    """Defaults (potential contrast, μ_f = (1.0, 0.3)): 3 epochs of digits (64-100-10), 3 seeds:
    ≥ 70 % each (measured 81.9, 79.8, 77.3), every class predicted by every seed, and the
    top-layer forward/backward angle falls. The authors' rate contrast at their output rate 0.7
    misses 1–3 classes per seed at 3 epochs (58.7, 63.7, 68.0 %; see the slow test)."""
    seeds = [0, 1, 2]
    start = _angle(S.CorInfoMaxEP().initialize(64, 10, seeds))
    assert np.all((start > 85) & (start < 95))
    accuracy, result = _final_accuracy(S.CorInfoMaxEP(), 3, seeds)
    assert np.all(accuracy[:, -1] >= 0.70), accuracy
    assert _classes_never_predicted(result, Classification(predictions=False), seeds) == [0, 0, 0]
    end = np.array([_angle(result.circuit(i))[0] for i in range(len(seeds))])
    assert np.all(end < start) and np.mean(start - end) >= 2.0, (start, end)


def test_corinfomax_ep_bias_learns_by_the_same_contrast():
    """The basal bias (authors' code) is the weight of a constant presynaptic 1: its update is
    (μ/β)[⟨e_f⟩_β − ⟨e_f⟩_0] with the same prediction errors as the weights, and it enters
    the basal drive (a bias of +1 on a unit raises its settled rate)."""
    x = Classification(predictions=False).evaluation_set()[:20]
    circuit = S.CorInfoMaxEP(random_sign=False).initialize(64, 10, [0])
    assert all(np.all(circuit.state[f"bias_{k}"] == 0) for k in (1, 2))
    free = circuit.respond(x.inputs)
    h0 = [free[name] for name in ("input", "hidden_1", "output")]
    hb = circuit.nudged_phase(h0, x.targets, 1.0)
    p = circuit.params
    targets = x.targets[None]
    post = [S.output_potential(circuit.state, h0[1], h0[2], p.leak, p.epsilon, p.forgetting),
            S.output_potential(circuit.state, hb[1], hb[2], p.leak, p.epsilon, p.forgetting, 1.0, targets)]
    W = circuit.state["forward_2"]
    error_free = post[0] - h0[1] @ np.swapaxes(W, -1, -2)
    error_nudged = post[1] - hb[1] @ np.swapaxes(W, -1, -2)
    expected = 0.3 * (error_nudged.mean(axis=-2) - error_free.mean(axis=-2))
    circuit.learn(free, Batch(x.inputs[None], targets, {}))
    np.testing.assert_allclose(circuit.state["bias_2"], expected, rtol=1e-12, atol=1e-15)
    assert np.any(circuit.state["bias_2"] != 0)
    raised = S.CorInfoMaxEP().load_state_dict(circuit.state_dict())
    raised.state["bias_1"] = raised.state["bias_1"] + 1.0
    assert raised.respond(x.inputs)["hidden_1"].mean() > circuit.respond(x.inputs)["hidden_1"].mean()
    assert "bias_1" not in S.CorInfoMaxEP(bias=False).initialize(64, 10, [0]).state


def test_corinfomax_ep_output_rate_stability():
    """Why the default output rate is 0.3, not the authors' 0.7: without the clip's gating an
    update moves a unit's rate by about s (y − h), s = μ_L⟨‖h_{L−1}‖²⟩/((1 + ε)(g + 1/ε + 1)).
    At init on digits (64-100-10) s(0.7) < 0.3 (measured 0.17); on a 784-500-10 network fed
    random images with Fashion-MNIST's mean square pixel (0.216) s(0.7) > 1 (Fashion-MNIST's
    own test images: 1.21) and s(0.3) < 0.6 (0.52)."""
    p = S.CorInfoMaxEP().params
    denominator = (1 + p.epsilon) * (p.leak + 1 / p.epsilon + 1)

    def stability(n_inputs: int, width: int, x: np.ndarray) -> float:
        h = S.CorInfoMaxEP(hidden_sizes=(width,)).initialize(n_inputs, 10, [0]).respond(x)["hidden_1"]
        return float((h ** 2).sum(-1).mean()) / denominator

    digits = stability(64, 100, Classification(predictions=False).evaluation_set().inputs[:100])
    wide = stability(784, 500, np.random.default_rng(0).random((100, 784)) * 0.8)
    assert 0.7 * digits < 0.3, digits
    assert 0.7 * wide > 1.0 and 0.3 * wide < 0.6, wide


def test_corinfomax_ep_potential_contrast_reaches_a_silent_output_unit():
    """The cause of the dead output units: a unit whose drive is below −εβ stays clipped at 0
    in both phases, so its rate contrast is zero whatever the label; its potential still moves
    with the nudge, by β(y − h)/(g + 1/ε + 1) at rest."""
    circuit = S.CorInfoMaxEP(random_sign=False).initialize(64, 10, [0])
    circuit.state["forward_2"][0, 3] = -np.abs(circuit.state["forward_2"][0, 3])  # unit 3 silent on every input
    x = Classification(predictions=False).evaluation_set()
    inputs, targets = x.inputs[x.info["label"] == 3][:20], x.targets[x.info["label"] == 3][:20]
    free = circuit.respond(inputs)
    h0 = [free[name] for name in ("input", "hidden_1", "output")]
    hb = circuit.nudged_phase(h0, targets, 1.0)
    assert np.all(h0[2][..., 3] == 0) and np.all(hb[2][..., 3] == 0)
    p = circuit.params
    u0 = S.output_potential(circuit.state, h0[1], h0[2], p.leak, p.epsilon, p.forgetting)
    ub = S.output_potential(circuit.state, hb[1], hb[2], p.leak, p.epsilon, p.forgetting, 1.0, targets[None])
    assert np.all(u0[..., 3] < 0)
    lift = (ub - u0)[..., 3]
    np.testing.assert_allclose(lift, 1.0 / (p.leak + 1 / p.epsilon + 1), rtol=0.05)
    changes = {}
    for contrast in ("rate", "potential"):
        model = S.CorInfoMaxEP(random_sign=False, output_contrast=contrast).load_state_dict(circuit.state_dict())
        before = model.state["forward_2"][0, 3].copy()
        model.learn(free, Batch(inputs[None], targets[None], {}))
        changes[contrast] = model.state["forward_2"][0, 3] - before
    drive = h0[1][0].mean(axis=0)  # the class's mean hidden activity
    assert changes["potential"] @ drive > 10 * abs(changes["rate"] @ drive)


def test_corinfomax_ep_nudge_moves_output_towards_target_and_update_vanishes_without_it():
    circuit = S.CorInfoMaxEP().initialize(64, 10, [0, 1])
    x = Classification(predictions=False).evaluation_set()[:20]
    free = circuit.respond(x.inputs)
    h0 = [free[name] for name in ("input", "hidden_1", "output")]
    targets = np.broadcast_to(x.targets, h0[-1].shape)
    nudged = circuit.nudged_phase(h0, x.targets, np.array([1.0, 1.0]))
    before = np.abs(h0[-1] - targets).sum()
    assert np.abs(nudged[-1] - targets).sum() < before
    # identical phases: the contrastive update is zero (to rounding: the declared rule sums the
    # products ⟨h h_preᵀ⟩ and ⟨ŷ h_preᵀ⟩ of each phase, which cancel across the phases)
    zero = rules.contrastive_prediction_error(h0[0], h0[1], h0[0], h0[1], circuit.state["forward_1"], 1.0, 1.0)
    one_phase = rules.dendritic_prediction_error(h0[0], h0[1], circuit.state["forward_1"], 1.0)
    assert np.abs(zero).max() <= 1e-14 * np.abs(one_phase).max()


def test_corinfomax_ep_sign_is_a_function_of_state_and_step():
    circuit = S.CorInfoMaxEP().initialize(64, 10, [0, 1, 2])
    signs = []
    for step in range(40):
        circuit.steps = step
        signs.append(circuit.nudge())
    signs = np.array(signs)
    assert set(np.unique(signs)) == {-1.0, 1.0}
    again = S.CorInfoMaxEP().load_state_dict(circuit.state_dict())
    again.steps = 7
    assert np.array_equal(again.nudge(), signs[7])
    assert np.all(S.CorInfoMaxEP(random_sign=False).initialize(64, 10, [0]).nudge() == 1.0)


@pytest.mark.parametrize("options, match", [
    ({"forward_rate": (1.0, 0.7, 0.5)}, "forward_rate"),
    ({"backward_rate": -1.0}, "backward_rate"),
    ({"beta": 0.0}, "beta"),
    ({"nudged_steps": 0}, "nudged_steps"),
    ({"rate_decay": 1.5}, "rate_decay"),
])
def test_corinfomax_ep_rejects_bad_parameters(options, match):
    with pytest.raises((ValueError, TypeError), match=match):
        S.CorInfoMaxEP(**options)


def test_corinfomax_ep_refuses_spiking_substrate_with_reason():
    task = Classification(predictions=False, n_train=40, n_test=20)
    with pytest.raises(ValueError, match="nudged_steps more from u = h⁰"):
        bpl.run(S.CorInfoMaxEP(), task, substrate="spiking", steps=1, progress=False)


@pytest.mark.slow
def test_corinfomax_ep_digits_target():
    """Spec §7.8 at the defaults (potential contrast, μ_f = (1.0, 0.3)): 20 epochs of digits
    (64-100-10), seeds 0–2: every seed ≥ 85 % (measured 98.2, 97.2, 96.0) and the top-layer angle
    from ≈90° to < 80° (measured 65.9–68.0°). The authors' rate contrast at their output rate
    0.7 gave 98.0, 78.3, 96.2 (seed 1: two classes never predicted); at 3 epochs it misses
    classes on every seed, checked here."""
    seeds = [0, 1, 2]
    start = _angle(S.CorInfoMaxEP().initialize(64, 10, seeds))
    accuracy, result = _final_accuracy(S.CorInfoMaxEP(), 20, seeds)
    assert np.all(accuracy[:, -1] >= 0.85), accuracy
    end = np.array([_angle(result.circuit(i))[0] for i in range(len(seeds))])
    assert np.all((start > 85) & (start < 95)) and np.all(end < 80), (start, end)
    _, ablation = _final_accuracy(S.CorInfoMaxEP(output_contrast="rate", forward_rate=(1.0, 0.7)), 3, seeds)
    assert all(n >= 1 for n in _classes_never_predicted(ablation, Classification(predictions=False), seeds))
