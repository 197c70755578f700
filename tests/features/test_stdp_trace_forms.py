"""Pair-trace (STDP) forms derived from the declared rules (:mod:`bioplausible.rules.stdp`):
the decomposition, the scaling κ(T, τ), and the refusals. numpy only (no Brian2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bioplausible.rules import RULES, Rule
from bioplausible.rules.stdp import pair_sum, pair_window, trace_form, trace_refusal


def test_whitening_and_nsm_forms_are_read_off_their_declarations():
    direct = trace_form(RULES["recurrent-whitening"], {"y": 4.0})
    assert [(t.kind, t.post, t.pre, t.coefficient) for t in direct.terms] == [("pair", "y", "y", "learning_rate")]
    interneuron = trace_form(RULES["interneuron-whitening"], {"y": 4.0, "n": 4.0})
    assert [(t.kind, t.post, t.pre) for t in interneuron.terms] == [("pair", "n", "y")]
    # NSM: rectified outputs (y0 = 0) and analog prewhitened inputs; the Oja decay y_i² W is a self term
    feedforward = trace_form(RULES["nsm-feedforward"], {"y": 0.0})
    assert [(t.kind, t.coefficient) for t in feedforward.terms] == [("post-self", "-W/D_post")]
    lateral = trace_form(RULES["nsm-lateral"], {"y": 0.0})
    assert sorted(t.kind for t in lateral.terms) == ["pair", "post-self"]


def test_whitening_trace_change_is_the_count_rule_with_the_pair_estimate():
    """ΔM = η (y_i y_j − δ_ij) with y = ρ − y0: the trace form replaces ρ_i ρ_j by the pair
    estimate P̂ and keeps −y0 ρ_i − y0 ρ_j + y0² − δ_ij (exact in the counts)."""
    rule, offset, eta = RULES["recurrent-whitening"], 4.0, 0.01
    form = trace_form(rule, {"y": offset})
    rng = np.random.default_rng(0)
    rho = rng.uniform(2.0, 6.0, (1, 1, 3))
    pairs = rho[..., :, None] * rho[..., None, :] * rng.uniform(0.9, 1.1, (1, 1, 3, 3))
    zero = np.zeros((1, 3, 3))
    count = rule.numpy(M=zero, y=rho - offset, learning_rate=eta)
    term = form.terms[0]
    trace = count + form.correction(term, np.mean(pairs - rho[..., :, None] * rho[..., None, :], axis=1),
                                    M=zero, learning_rate=eta)
    by_hand = eta * (pairs[:, 0] - offset * rho[:, 0, :, None] - offset * rho[:, 0, None, :] + offset**2 - np.eye(3))
    np.testing.assert_allclose(trace, by_hand, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("tau", [0.02, 0.1, 0.5, math.inf])
def test_pair_window_is_the_double_integral(tau):
    t = np.linspace(0.0, 0.1, 2001)
    kernel = np.ones((t.size, t.size)) if math.isinf(tau) else np.exp(-np.abs(t[:, None] - t[None, :]) / tau)
    numeric = np.trapezoid(np.trapezoid(kernel, t, axis=1), t)
    assert pair_window(0.1, tau) == pytest.approx(numeric, rel=1e-5)
    assert pair_window(0.1, 1e6) == pytest.approx(0.01, rel=1e-6)


def test_pair_estimate_has_the_count_product_as_expectation():
    """Independent Poisson trains at rates r_i, r_j in a window T: E[pair sum] = r_i r_j κ(T, τ)
    (τ = T); checked over 4000 windows (standard error ≈ 1 %)."""
    rng = np.random.default_rng(1)
    T, tau, rates = 0.1, 0.1, (80.0, 150.0)
    sums = []
    for _ in range(4000):
        a, b = (np.sort(rng.uniform(0, T, rng.poisson(r * T))) for r in rates)
        sums.append(pair_sum(a, b, tau))
    assert np.mean(sums) / (rates[0] * rates[1] * pair_window(T, tau)) == pytest.approx(1.0, abs=0.04)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 0.1), max_size=12), st.lists(st.floats(0.0, 0.1), max_size=12))
def test_without_decay_the_pair_sum_is_the_count_product(post, pre):
    assert pair_sum(np.array(post), np.array(pre), math.inf) == len(post) * len(pre)


@pytest.mark.parametrize("name,reason", [
    ("corinfomax-lateral", "summed reduction"),
    ("corinfomax-lateral-sherman-morrison", "per-sample total"),
    ("gain-homeostasis", "neuron-level"),
    ("nsm-learning-rates", "neuron-level"),
    ("eprop-update", "other synaptic matrices"),
])
def test_rules_without_a_faithful_pair_trace_form_are_refused(name, reason):
    assert reason in trace_refusal(RULES[name])


def test_nonlinear_and_higher_order_spike_products_are_refused():
    clipped = Rule("clipped-hebb", "W += min(y_post * x_pre, 1.0)", paper="test", activities=("x", "y"))
    assert "nonlinear function" in trace_refusal(clipped)
    triplet = Rule("triplet", "W += y_post * y_post * x_pre", paper="test", activities=("x", "y"))
    assert "product of 3 spike trains" in trace_refusal(triplet)
    mixed = Rule("mixed", "W += y_post * x_pre * c_pre", paper="test", activities=("x", "y", "c"))
    assert "analog activity" in trace_refusal(mixed, {"x": 0.0, "y": 0.0})
    with pytest.raises(ValueError, match="not activities"):
        trace_form(clipped, {"z": 0.0})
