"""Every realisation of every registered rule against its batched numpy form.

A rule is covered by being registered: the compiled per-sample form (numba) and the Brian2
form are run on random inputs (an ensemble K > 1, a batch B > 1, unequal pre and post sizes
where the rule allows) from one starting state per sample, and the batch mean of their
per-sample changes must equal the numpy form.
"""

from __future__ import annotations

import numpy as np
import pytest

import bioplausible  # noqa: F401 - registers every family's rules
from bioplausible.rules.declaration import RULES, Rule, register_rule, run_regularly

K, B = 2, 3


def _sizes(rule: Rule) -> tuple[int, int]:
    return (4, 4) if rule.recurrent or rule.kind == "neuron" else (4, 3)


def _random_case(rule: Rule, seed: int) -> dict[str, np.ndarray | float]:
    """Random values for every name the rule reads: activities (K, B, n) per side, states
    (K, n) in [1, 2] (some rules divide by them), parameters in [0.1, 0.9]."""
    rng = np.random.default_rng(seed)
    n_post, n_pre = _sizes(rule)
    values: dict[str, np.ndarray | float] = {p: float(rng.uniform(0.1, 0.9)) for p in rule.parameters}
    if rule.kind == "neuron":
        values[rule.target] = rng.uniform(1.0, 2.0, (K, n_post))
        for name in rule.activities:
            values[name] = rng.standard_normal((K, B, n_post))
        for name in rule.states:
            values[name] = rng.uniform(1.0, 2.0, (K, n_post))
        return values
    values[rule.target] = rng.standard_normal((K, n_post, n_pre))
    for name in rule.synaptic:
        values[name] = rng.standard_normal((K, n_post, n_pre))
    for name in rule.activities:
        if rule.recurrent:
            values[name] = rng.standard_normal((K, B, n_post))
        else:
            values[name + "_pre"] = rng.standard_normal((K, B, n_pre))
            values[name + "_post"] = rng.standard_normal((K, B, n_post))
    for name in rule.states:
        if rule.recurrent:
            values[name] = rng.uniform(1.0, 2.0, (K, n_post))
        else:
            values[name + "_pre"] = rng.uniform(1.0, 2.0, (K, n_pre))
            values[name + "_post"] = rng.uniform(1.0, 2.0, (K, n_post))
    return values


def _argument(rule: Rule, name: str, values: dict, k: int, b: int) -> np.ndarray | float:
    """The compiled form's argument ``name`` for member k, sample b."""
    if name in rule.parameters:
        return values[name]
    if name == rule.target or name in rule.synaptic:
        return values[name][k].copy()
    if name in rule.summed:
        return np.empty(_sizes(rule)[0])
    array = values[name]
    return array[k, b].copy() if array.ndim == 3 else array[k].copy()


@pytest.mark.parametrize("name", sorted(RULES))
def test_compiled_form_matches_numpy(name: str) -> None:
    rule = RULES[name]
    values = _random_case(rule, seed=len(name))
    expected = rule.numpy(**values)
    step = rule.compiled()
    changes = np.zeros_like(np.asarray(values[rule.target]))
    for k in range(K):
        for b in range(B):
            arguments = [_argument(rule, n, values, k, b) for n in rule.signature()]
            step(*arguments)
            changes[k] += (arguments[0] - values[rule.target][k]) / B
    np.testing.assert_allclose(changes, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(n for n in RULES if RULES[n].kind == "neuron"))
def test_neuron_rule_values_are_the_per_sample_targets_numpy_averages(name: str) -> None:
    """``Rule.values`` (a neuron rule as a per-sample signal) on each sample alone: the batch
    mean of those targets, less the start, is the numpy form's change."""
    rule = RULES[name]
    values = _random_case(rule, seed=len(name) + 1)
    target = np.asarray(values[rule.target])
    per_sample = [rule.values(**{n: (v[:, b] if np.ndim(v) == 3 else v) for n, v in values.items()})
                  for b in range(B)]
    np.testing.assert_allclose(np.mean(per_sample, axis=0) - target, rule.numpy(**values), rtol=1e-10, atol=1e-12)


def test_values_refuses_synaptic_rules_and_names_what_is_missing() -> None:
    synaptic = next(r for r in RULES.values() if r.kind == "synaptic")
    with pytest.raises(TypeError, match="values\\(\\) evaluates neuron rules"):
        synaptic.values()
    neuron = next(r for r in RULES.values() if r.kind == "neuron" and r.parameters)
    with pytest.raises(TypeError, match=f"needs .*{neuron.parameters[0]}"):
        neuron.values()


def _brian2_variables(rule: Rule, side: str) -> list[str]:
    names = [*rule.activities, *rule.states]
    return [n for n in names if rule._used(n)] if rule.kind == "neuron" or rule.recurrent else \
        [n for n in names if rule._uses(n + side)]


@pytest.mark.parametrize("name", sorted(RULES))
def test_brian2_form_matches_numpy(name: str) -> None:
    """One Brian2 time step of the rule's ``run_regularly`` code on K·B independent blocks
    (each sample's own copy of the synapses, every pair of a block connected) averages to the
    numpy form; a per-sample total (the Sherman-Morrison denominator) is a summed variable
    over the block, computed after the summed variables it reads."""
    b2 = pytest.importorskip("brian2")
    b2.prefs.codegen.target = "numpy"
    rule = RULES[name]
    values = _random_case(rule, seed=len(name))
    expected = rule.numpy(**values)
    n_post, n_pre = _sizes(rule)
    blocks = K * B
    form = rule.brian2()
    namespace = {p: values[p] for p in rule.parameters}

    def fill(group, names, size, side):
        for variable in names:
            array = np.asarray(values.get(variable + side, values.get(variable)))
            per_sample = array if array.ndim == 3 else np.repeat(array[:, None, :], B, axis=1)
            getattr(group, variable)[:] = per_sample.reshape(blocks * size)

    if rule.kind == "neuron":
        names = _brian2_variables(rule, "")
        group = b2.NeuronGroup(blocks * n_post, "\n".join([form.model, *[f"{v} : 1" for v in names]]))
        fill(group, names, n_post, "")
        getattr(group, rule.target)[:] = np.repeat(values[rule.target][:, None, :], B, axis=1).reshape(-1)
        run_regularly(group, rule, b2.defaultclock.dt, when="end")
        b2.Network(group).run(b2.defaultclock.dt, namespace=namespace)
        new = np.asarray(getattr(group, rule.target)[:]).reshape(K, B, n_post)
        np.testing.assert_allclose(new.mean(axis=1) - values[rule.target], expected, rtol=1e-10, atol=1e-12)
        return
    summed = [f"{s} : 1" for s in (*rule.summed, *rule.totals)]  # a total: one more summed variable
    post_names, pre_names = _brian2_variables(rule, "_post"), _brian2_variables(rule, "_pre")
    post = b2.NeuronGroup(blocks * n_post, "\n".join([*[f"{v} : 1" for v in post_names], *summed]) or "dummy : 1")
    fill(post, post_names, n_post, "_post")
    if rule.recurrent:
        pre = post
    else:
        pre = b2.NeuronGroup(blocks * n_pre, "\n".join(f"{v} : 1" for v in pre_names) or "dummy : 1")
        fill(pre, pre_names, n_pre, "_pre")
    synapses = b2.Synapses(pre, post, form.model)
    block, i_post, j_pre = np.meshgrid(np.arange(blocks), np.arange(n_post), np.arange(n_pre), indexing="ij")
    synapses.connect(i=(block * n_pre + j_pre).ravel(), j=(block * n_post + i_post).ravel())
    target = np.repeat(values[rule.target][:, None], B, axis=1)  # (K, B, n_post, n_pre): one copy per sample
    getattr(synapses, rule.target)[:] = target.reshape(-1)
    for matrix in rule.synaptic:
        getattr(synapses, matrix)[:] = np.repeat(values[matrix][:, None], B, axis=1).reshape(-1)
    run_regularly(synapses, rule, b2.defaultclock.dt, when="end")
    objects = [post, synapses] if rule.recurrent else [pre, post, synapses]
    b2.Network(*objects).run(b2.defaultclock.dt, namespace=namespace)
    new = np.asarray(getattr(synapses, rule.target)[:]).reshape(K, B, n_post, n_pre)
    np.testing.assert_allclose(new.mean(axis=1) - values[rule.target], expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(RULES))
def test_batch_of_one_is_the_online_rule(name: str) -> None:
    """With B = 1 the numpy form's change is the per-sample change (no hidden averaging)."""
    rule = RULES[name]
    values = _random_case(rule, seed=1)
    single = {key: (v[:, :1] if isinstance(v, np.ndarray) and v.ndim == 3 and rule.kind == "neuron" else v)
              for key, v in values.items()}
    if rule.kind == "synaptic":
        single = {key: (v[:, :1] if isinstance(v, np.ndarray) and v.ndim == 3 and key not in
                        (rule.target, *rule.synaptic) else v) for key, v in values.items()}
    change = rule.numpy(**single)
    step = rule.compiled()
    arguments = [_argument(rule, n, single, 0, 0) for n in rule.signature()]
    step(*arguments)
    np.testing.assert_allclose(arguments[0] - single[rule.target][0], change[0], rtol=1e-10, atol=1e-12)


def test_registry_refuses_a_duplicate_name() -> None:
    existing = next(iter(RULES.values()))
    clone = Rule(existing.name, existing.equation, existing.paper, activities=existing.activities,
                 states=existing.states, synaptic=existing.synaptic, parameters=existing.parameters,
                 summed=existing.summed, kind=existing.kind, recurrent=existing.recurrent)
    with pytest.raises(ValueError, match="already registered"):
        register_rule(clone)


def test_declaration_refuses_unknown_names_and_bad_equations() -> None:
    with pytest.raises(ValueError, match="unknown names"):
        Rule("bad", "W += eta * y_post * q_pre", "-", activities=("y",), parameters=("eta",))
    with pytest.raises(ValueError, match="target = expression"):
        Rule("bad", "W * 2", "-")
    with pytest.raises(ValueError, match="kind"):
        Rule("bad", "W += 1", "-", kind="network")


def test_binary_activities_take_exact_single_precision_sums():
    """±1 activities over a large batch: the batched form's float32 sums (exact integers) equal
    the float64 ones bit for bit, and graded activities are untouched by that path."""
    from bioplausible.rules.sequence import ASYMMETRIC_HEBBIAN

    rng = np.random.default_rng(0)
    pre, post = (np.where(rng.random((2, 300, 17)) < 0.5, 1.0, -1.0) for _ in range(2))
    weights = np.zeros((2, 17, 17))
    for x, y in ((pre, post), (pre * 0.5, post)):
        expected = np.matmul(np.swapaxes(y, -1, -2), x) / 300 * 0.1
        got = ASYMMETRIC_HEBBIAN.numpy(W=weights, x=x, y=y, learning_rate=0.1)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, expected)
