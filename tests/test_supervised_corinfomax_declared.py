"""The supervised CorInfoMax network's declared learning.

The rules of :mod:`bioplausible.rules.supervised_corinfomax` are built from the rules they are
made of (``Rule.change``): each must equal the sum of its parts on random inputs. And one
``learn`` of each circuit must be the update its paper writes, here in plain numpy (EBD paper
Algorithm 3; the EP contrast of the authors' code), for a two-hidden-layer network with every
term of the rules on.
"""

from __future__ import annotations

import numpy as np
import pytest

from bioplausible.circuits import supervised_corinfomax as S
from bioplausible.circuits.base import Batch
from bioplausible.rules import separation, supervised
from bioplausible.rules import supervised_corinfomax as rules
from bioplausible.rules.declaration import Rule

K, B = 2, 5


def _random(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


def test_composed_rules_are_the_sums_of_their_parts():
    rng = np.random.default_rng(0)
    W, x, y, yhat, gain, modulator = (_random(rng, K, 4, 3), _random(rng, K, B, 3), *(_random(rng, K, B, 4)
                                                                                     for _ in range(4)))
    dendrite = rules.CORINFOMAX_EBD_DENDRITE.numpy(W=W, x=x, y=y, yhat=yhat, gain=gain, modulator=modulator,
                                                   prediction_rate=0.3, decorrelation_rate=0.7)
    parts = (separation.CORINFOMAX_FEEDFORWARD.numpy(W=W, x=x, y=y, yhat=yhat, learning_rate=0.3, decay=0.0)
             + supervised.THREE_FACTOR.numpy(W=W, x=x, gain=gain, modulator=modulator, learning_rate=0.7,
                                             weight_decay=0.0))
    np.testing.assert_allclose(dendrite, parts, rtol=1e-12, atol=1e-14)

    lateral_weights, h = _random(rng, K, 4, 4), _random(rng, K, B, 4)
    lateral = rules.CORINFOMAX_EBD_LATERAL.numpy(B=lateral_weights, y=h, gain=gain, modulator=modulator,
                                                 gamma_y=0.2, forgetting_y=0.9, decorrelation_rate=0.4)
    parts = (separation.CORINFOMAX_LATERAL.numpy(B=lateral_weights, y=h, gamma_y=0.2, forgetting_y=0.9)
             + supervised.THREE_FACTOR.numpy(W=lateral_weights, x=h, gain=gain, modulator=modulator,
                                             learning_rate=0.4, weight_decay=0.0))
    np.testing.assert_allclose(lateral, parts, rtol=1e-12, atol=1e-14)

    free, nudged = [(_random(rng, K, B, 3), _random(rng, K, B, 4)) for _ in range(2)]
    beta = np.array([0.5, -2.0])
    contrast = rules.contrastive_prediction_error(*free, *nudged, W, 0.3, beta)
    expected = [separation.CORINFOMAX_FEEDFORWARD.numpy(W=W, x=pre, y=post, yhat=pre @ np.swapaxes(W, -1, -2),
                                                        learning_rate=0.3, decay=0.0) for pre, post in (free, nudged)]
    np.testing.assert_allclose(contrast, (expected[1] - expected[0]) / beta[:, None, None], rtol=1e-12, atol=1e-14)
    # the bias twin is the contrast of a constant presynaptic 1
    yhat = {phase: _random(rng, K, B, 4) for phase in ("free", "nudged")}
    bias = rules.CORINFOMAX_EP_CONTRAST_BIAS.numpy(b=np.zeros((K, 4)), y_free=free[1], y_nudged=nudged[1],
                                                   yhat_free=yhat["free"], yhat_nudged=yhat["nudged"],
                                                   beta=beta[:, None], learning_rate=0.3)
    ones = np.ones((K, B, 1))
    column = rules.CORINFOMAX_EP_CONTRAST.numpy(W=np.zeros((K, 4, 1)), x_free=ones, y_free=free[1],
                                                yhat_free=yhat["free"], x_nudged=ones, y_nudged=nudged[1],
                                                yhat_nudged=yhat["nudged"], beta=beta[:, None], learning_rate=0.3)
    np.testing.assert_allclose(bias, column[..., 0], rtol=1e-12, atol=1e-14)


def test_change_refuses_a_name_the_rule_does_not_read():
    with pytest.raises(ValueError, match=r"does not read \['learning_rat'\]"):
        separation.CORINFOMAX_FEEDFORWARD.change(learning_rat="mu")
    with pytest.raises(ValueError, match="summed variables or totals"):
        separation.CORINFOMAX_LATERAL.change(z_post="q")
    composed = Rule("composed-example", "W += " + separation.CORINFOMAX_FEEDFORWARD.change(decay="0"), "-",
                    activities=("x", "y", "yhat"), parameters=("learning_rate",))
    assert "decay" not in composed.names_read and "yhat_post" in composed.names_read
    # an "=" rule's change is its new value less the target: the same update as a "+=" rule
    lateral = separation.CORINFOMAX_LATERAL
    increment = Rule("increment-example", "B += " + lateral.change(), "-", activities=("y",),
                     summed=dict(lateral.summed), parameters=lateral.parameters, recurrent=True)
    rng = np.random.default_rng(2)
    values = {"B": _random(rng, K, 4, 4), "y": _random(rng, K, B, 4), "gamma_y": 0.3, "forgetting_y": 0.8}
    np.testing.assert_allclose(increment.numpy(**values), lateral.numpy(**values), rtol=1e-12, atol=1e-14)


def _network_batch(name: str, **options):
    rng = np.random.default_rng(1)
    circuit = {"ebd": S.CorInfoMaxEBD, "ep": S.CorInfoMaxEP}[name](hidden_sizes=(7, 5), **options)
    circuit.initialize(6, 3, [0, 1])
    inputs = rng.random((B, 6))
    targets = np.eye(3)[rng.integers(3, size=B)]
    return circuit, Batch(inputs, targets)


def _outer(post: np.ndarray, pre: np.ndarray) -> np.ndarray:
    return np.swapaxes(post, -1, -2) @ pre / post.shape[-2]


def _apply(matrix: np.ndarray, activity: np.ndarray) -> np.ndarray:
    return activity @ np.swapaxes(matrix, -1, -2)


def _lateral(h: np.ndarray, lateral: np.ndarray, forgetting: float) -> np.ndarray:
    z = _apply(lateral, h)
    return (lateral - (1 - forgetting) / forgetting * _outer(z, z)) / forgetting


@pytest.mark.parametrize("output_rule", ["matching", "delta", "ebd"])
def test_corinfomax_ebd_learn_is_algorithm_3(output_rule):
    circuit, batch = _network_batch("ebd", prediction_rate=0.02, decorrelation_rate=(0.3, 0.2), output_rate=0.1,
                                    feedback_decorrelation_rate=(0.05, 0.07), lateral_decorrelation_rate=0.01,
                                    error_forgetting=0.9, lateral_forgetting=0.99, output_rule=output_rule)
    p, s = circuit.params, {key: value.copy() for key, value in circuit.state.items()}
    h = [a for a in circuit.respond(batch.inputs).values()]
    error = h[3] - batch.targets
    clip = [((a > 0) & (a < 1)).astype(float) for a in h]
    expected = {}
    for k, (forward_rate, backward_rate) in enumerate([(0.3, 0.05), (0.2, 0.07), (0.1, None)], 1):
        projection = 0.9 * s[f"projection_{k}"] + 0.1 * _outer(h[k], error)
        expected[f"projection_{k}"] = projection
        phi = clip[k] * _apply(projection, error)
        if k == 3 and output_rule != "ebd":
            phi = error if output_rule == "matching" else clip[k] * error
        expected[f"forward_{k}"] = (s[f"forward_{k}"] + 0.02 * _outer(h[k] - _apply(s[f"forward_{k}"], h[k - 1]),
                                                                      h[k - 1]) - forward_rate * _outer(phi, h[k - 1]))
        if backward_rate is not None:
            expected[f"backward_{k}"] = (s[f"backward_{k}"]
                                         + 0.02 * _outer(h[k] - _apply(s[f"backward_{k}"], h[k + 1]), h[k + 1])
                                         - backward_rate * _outer(phi, h[k + 1]))
        expected[f"lateral_{k}"] = _lateral(h[k], s[f"lateral_{k}"], 0.99) - 0.01 * _outer(phi, h[k])
    circuit.learn(dict(zip(["input", "hidden_1", "hidden_2", "output"], h)), batch)
    assert set(expected) == set(circuit.state) and p is circuit.params
    for key, value in expected.items():
        np.testing.assert_allclose(circuit.state[key], value, rtol=1e-10, atol=1e-13, err_msg=key)


@pytest.mark.parametrize(("output_contrast", "bias"), [("potential", True), ("rate", False)])
def test_corinfomax_ep_learn_is_the_contrast_of_the_two_phases(output_contrast, bias):
    circuit, batch = _network_batch("ep", forward_rate=(1.0, 0.5, 0.3), backward_rate=(0.15, 0.1), decay_every=1,
                                    rate_decay=0.9, output_contrast=output_contrast, bias=bias)
    circuit.steps = 2  # rates μ₀ · 0.9²
    p, s = circuit.params, {key: value.copy() for key, value in circuit.state.items()}
    names = ["input", "hidden_1", "hidden_2", "output"]
    free = circuit.respond(batch.inputs)
    h0 = [free[name] for name in names]
    beta = circuit.nudge()
    hb = circuit.nudged_phase(h0, batch.targets, beta)
    soma = [h0[3], hb[3]]
    if output_contrast == "potential":
        soma = [S.output_potential(s, h0[2], h0[3], p.leak, p.epsilon, p.forgetting),
                S.output_potential(s, hb[2], hb[3], p.leak, p.epsilon, p.forgetting, beta, batch.targets[None])]
    scale, over_beta = 0.9**2, 1.0 / beta[:, None, None]
    expected = {"sign_seed": s["sign_seed"]}
    for k, (forward_rate, backward_rate) in enumerate([(1.0, 0.15), (0.5, 0.1), (0.3, None)], 1):
        post = [h0[k], hb[k]] if k < 3 else soma
        errors = [post[i] - _apply(s[f"forward_{k}"], phase[k - 1]) - (s[f"bias_{k}"][:, None] if bias else 0.0)
                  for i, phase in enumerate((h0, hb))]
        rate = scale * forward_rate * over_beta
        expected[f"forward_{k}"] = s[f"forward_{k}"] + rate * (_outer(errors[1], hb[k - 1])
                                                               - _outer(errors[0], h0[k - 1]))
        if bias:
            expected[f"bias_{k}"] = s[f"bias_{k}"] + rate[..., 0] * (errors[1].mean(-2) - errors[0].mean(-2))
        if backward_rate is not None:
            apical = [phase[k] - _apply(s[f"backward_{k}"], phase[k + 1]) for phase in (h0, hb)]
            expected[f"backward_{k}"] = s[f"backward_{k}"] + scale * backward_rate * over_beta * (
                _outer(apical[1], hb[k + 1]) - _outer(apical[0], h0[k + 1]))
        expected[f"lateral_{k}"] = _lateral(hb[k], s[f"lateral_{k}"], p.forgetting)
    circuit.learn(free, batch)
    assert set(expected) == set(circuit.state) and circuit.steps == 3
    for key, value in expected.items():
        np.testing.assert_allclose(circuit.state[key], value, rtol=1e-10, atol=1e-13, err_msg=key)
