"""Rule functions of the supervised family: gradients against finite differences (spec §7.3)."""

import numpy as np
import pytest

from bioplausible.rules import supervised as rules


def _layer(rng, batch=7, n_in=5, n_out=4):
    pre = rng.random((1, batch, n_in))
    weights = rng.standard_normal((1, n_out, n_in))
    bias = 0.1 * rng.standard_normal((1, n_out))
    return pre, weights, bias


def _forward(pre, weights, bias):
    return np.maximum(np.matmul(pre, np.swapaxes(weights, -1, -2)) + bias[:, None, :], 0.0)


def _numeric_gradient(loss, weights, step=1e-6):
    grad = np.zeros_like(weights)
    for index in np.ndindex(weights.shape):
        plus, minus = weights.copy(), weights.copy()
        plus[index] += step
        minus[index] -= step
        grad[index] = (loss(plus) - loss(minus)) / (2 * step)
    return grad


def _relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_power_normalization_is_descent_on_power_loss():
    rng = np.random.default_rng(0)
    pre, weights, bias = _layer(rng)
    target = 0.25

    def loss(w):
        post = _forward(pre, w, bias)
        return float(np.sum((np.mean(post**2, axis=-2) - target) ** 2))

    delta, _ = rules.power_normalization(pre, _forward(pre, weights, bias), target, learning_rate=1.0)
    assert _relative(delta, -_numeric_gradient(loss, weights)) < 1e-4


def test_entropy_ascent_is_gradient_of_log_det():
    rng = np.random.default_rng(1)
    pre, weights, bias = _layer(rng)
    forgetting, epsilon = 0.9, 1e-2
    previous = 0.25 * np.eye(4)[None]

    def updated(w):
        post = _forward(pre, w, bias)
        return forgetting * previous + (1 - forgetting) * np.matmul(np.swapaxes(post, -1, -2), post) / post.shape[-2]

    def loss(w):
        return float(0.5 * np.linalg.slogdet(updated(w)[0] + epsilon * np.eye(4))[1])

    post = _forward(pre, weights, bias)
    delta, _ = rules.entropy_ascent(pre, post, updated(weights), epsilon, learning_rate=1 - forgetting)
    assert _relative(delta, _numeric_gradient(loss, weights)) < 1e-4


def test_activation_sparsity_is_descent_on_l1():
    rng = np.random.default_rng(2)
    pre, weights, bias = _layer(rng)

    def loss(w):
        return float(np.mean(np.sum(np.abs(_forward(pre, w, bias)), axis=-1)))

    delta, _ = rules.activation_sparsity(pre, _forward(pre, weights, bias), learning_rate=1.0)
    assert _relative(delta, -_numeric_gradient(loss, weights)) < 1e-4


def test_forward_broadcast_is_descent_on_decorrelation_loss_through_error():
    rng = np.random.default_rng(3)
    batch = 9
    hidden = rng.random((1, batch, 6))
    last = rng.random((1, batch, 5))
    targets = rng.random((1, batch, 3))
    weights = rng.standard_normal((1, 3, 5))

    def correlation(w):
        error = np.matmul(last, np.swapaxes(w, -1, -2)) - targets
        return np.matmul(np.swapaxes(hidden, -1, -2), error) / batch

    def loss(w):
        return float(0.5 * np.sum(correlation(w) ** 2))

    delta, _ = rules.forward_broadcast(last, hidden, correlation(weights), learning_rate=1.0)
    assert _relative(delta, -_numeric_gradient(loss, weights)) < 1e-4


def test_delta_rule_and_three_factor_are_backprop_gradients():
    rng = np.random.default_rng(4)
    x = rng.random((1, 8, 5))
    w1, w2 = rng.standard_normal((1, 6, 5)), rng.standard_normal((1, 3, 6))
    y = rng.random((1, 8, 3))

    def loss(first, second):
        h = np.maximum(np.matmul(x, np.swapaxes(first, -1, -2)), 0)
        out = np.matmul(h, np.swapaxes(second, -1, -2))
        return float(0.5 * np.mean(np.sum((out - y) ** 2, axis=-1)))

    h = np.maximum(np.matmul(x, np.swapaxes(w1, -1, -2)), 0)
    error = np.matmul(h, np.swapaxes(w2, -1, -2)) - y
    d2, _ = rules.delta_rule(h, error, 1.0)
    d1, _ = rules.three_factor(x, h, rules.backpropagated_error(np.swapaxes(w2, -1, -2), error), 1.0)
    assert _relative(d2, -_numeric_gradient(lambda w: loss(w1, w), w2)) < 1e-4
    assert _relative(d1, -_numeric_gradient(lambda w: loss(w, w2), w1)) < 1e-4


def test_decorrelation_correlation_is_exponential_average():
    rng = np.random.default_rng(5)
    h, e, r = rng.random((2, 4, 6)), rng.random((2, 4, 3)), rng.random((2, 6, 3))
    new = r + rules.decorrelation_correlation(h, e, r, 0.9)
    expected = 0.9 * r + 0.1 * np.einsum("kbi,kbj->kij", h, e) / 4
    np.testing.assert_allclose(new, expected, rtol=1e-12)


def test_error_modulated_hebbian_sign_and_scale():
    pre = np.ones((1, 2, 3))
    post = np.array([[[1.0, 0.0], [2.0, 1.0]]])
    error = np.array([[[1.0, 1.0], [0.0, 3.0]]])
    delta, bias = rules.error_modulated_hebbian(pre, post, error, 0.5)
    # ‖ε‖² = [2, 9]; mean of ‖ε‖² h = [(2 + 18) / 2, 9 / 2]
    np.testing.assert_allclose(delta[0, :, 0], 0.5 * np.array([10.0, 4.5]))
    np.testing.assert_allclose(bias[0], 0.5 * np.array([10.0, 4.5]))


@pytest.mark.parametrize("value", [-1.0, float("nan")])
def test_gain_uses_rates(value):
    gain = rules.relu_gain(np.array([value, 0.0, 2.0]))
    assert gain.tolist() == [0.0, 0.0, 1.0]


def test_running_correlation_hand_step_and_the_error_correlation_is_one():
    post, pre = np.array([[[1.0, 2.0], [3.0, 0.0]]]), np.array([[[1.0], [-1.0]]])
    current = np.array([[[0.5], [1.0]]])
    mean = np.array([[(1 * 1 + 3 * -1) / 2], [(2 * 1 + 0 * -1) / 2]])
    np.testing.assert_allclose(rules.running_correlation(post, pre, current, 0.9)[0], 0.1 * (mean - current[0]))
    np.testing.assert_array_equal(rules.decorrelation_correlation(post, pre, current, 0.9),
                                  rules.running_correlation(post, pre, current, 0.9))
