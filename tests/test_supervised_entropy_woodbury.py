"""EBD's entropy term with the rank-B (Woodbury) inverse update (spec supervised §2.4)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bioplausible.circuits.supervised import EBD
from bioplausible.rules import supervised as rules


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 12), batch=st.integers(1, 6), forgetting=st.floats(0.5, 0.9999), seed=st.integers(0, 10**6))
def test_woodbury_step_is_the_exact_inverse(n, batch, forgetting, seed):
    rng = np.random.default_rng(seed)
    root = rng.standard_normal((n, n))
    matrix = root @ root.T / n + 0.1 * np.eye(n)
    post = rng.random((1, batch, n))
    inverse = np.linalg.inv(matrix)[None]
    new = inverse + rules.inverse_correlation_woodbury(inverse, post, forgetting)
    exact = np.linalg.inv(forgetting * matrix + (1 - forgetting) / batch * post[0].T @ post[0])
    assert np.allclose(new[0], exact, rtol=1e-7, atol=1e-9 * np.abs(exact).max())


def test_woodbury_entropy_step_matches_the_exact_solve_at_the_first_batch():
    """The two solvers differ only by the fading ridge (1−λ_E) ε_E I in the first batch."""
    rng = np.random.default_rng(0)
    x, y = rng.random((20, 16)), np.eye(4)[rng.integers(0, 4, 20)]
    options = dict(hidden_sizes=(12,), entropy_rate=1e-2, entropy_forgetting=0.99, forgetting=0.999)
    exact = EBD(**options).initialize(16, 4, [0, 1])
    fast = EBD(entropy_solver="woodbury", **options).initialize(16, 4, [0, 1])
    fast.state.update({k: v.copy() for k, v in exact.state.items() if k in fast.state})
    a = exact.proposed_updates(exact.respond(x), y)
    b = fast.proposed_updates(fast.respond(x), y)
    difference = np.linalg.norm(a["weight_1"] - b["weight_1"]) / np.linalg.norm(a["weight_1"])
    assert difference < 1e-3
    entropy_only = EBD(**(options | {"learning_rate": 0.0})).initialize(16, 4, [0, 1])
    entropy_only.state.update({k: v.copy() for k, v in exact.state.items() if k in entropy_only.state})
    assert np.linalg.norm(entropy_only.proposed_updates(entropy_only.respond(x), y)["weight_1"]) > 0
