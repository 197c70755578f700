"""Realisation (a) of a rule: the batched numpy form of the rate substrate.

Activities are (K, B, n) (ensemble, samples, units); the change of the target is the
**batch mean** of the per-sample change (a batch of one is the online rule). A synaptic
rule's expression is expanded into terms ``c(i, j) · P_b(i) · Q_b(j)``
(:func:`~bioplausible.rules.declaration.expressions.terms`) and each sample-varying product
is one matrix product; a summed variable is one matrix product per term.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ...core.arrays import all_signs
from .expressions import GLOBALS, SIDES, code, factors, terms

if TYPE_CHECKING:
    from .rule import Rule

__all__ = ["plan", "classify", "neuron_change", "neuron_values", "synaptic_change", "outer_sum"]


def plan(rule: Rule) -> dict[str, Any]:
    """What the batched form evaluates, worked out once per rule: the names it reads and the
    expression's separated terms as compiled code."""
    def compiled(separated: tuple[tuple[str, str, str], ...]) -> list[tuple[Any, Any, Any, tuple[str, ...]]]:
        return [(code(c), None if p == "1" else code(p), None if q == "1" else code(q), factors(c, rule.parameters))
                for c, p, q in separated]

    if rule.kind == "neuron":
        return {
            "activities": [n for n in rule.activities if rule.used(n)],
            "states": [n for n in rule.states if rule.used(n)],
            "code": code(rule.expression),
        }

    def classes(name: str) -> str:
        return classify(rule, name)

    return {
        "activities": [(n, side) for n in rule.activities for side in SIDES if rule.uses(n + side)],
        "states": [(n, side) for n in rule.states for side in SIDES if rule.uses(n + side)],
        "summed": [(name, compiled(terms(text, classes))) for name, text in rule.summed.items()],
        "totals": [(name, code(text)) for name, text in rule.totals.items()],
        "terms": compiled(terms(rule.expression, classes)),
    }


def classify(rule: Rule, name: str) -> str:
    """'post' or 'pre' for the sample-varying names of ``rule``, 'constant' for the rest."""
    base, _, side = name.rpartition("_")
    if side in ("pre", "post") and (base in rule.activities or base in rule.summed):
        return side
    if name in rule.totals:
        return "post"
    return "constant"


def neuron_change(rule: Rule, evaluation: Mapping[str, Any], values: Mapping[str, Any]) -> np.ndarray:
    """The batch-mean change of a neuron rule's target (``evaluation``: its :func:`plan`)."""
    target = np.asarray(values[rule.target], dtype=float)
    scope: dict[str, Any] = {p: values[p] for p in rule.parameters}
    scope[rule.target] = target[..., None, :]
    for name in evaluation["activities"]:
        scope[name] = np.asarray(values[name], dtype=float)
    for name in evaluation["states"]:
        scope[name] = _neuron_state(values[name])
    per_sample = eval(evaluation["code"], GLOBALS, scope)  # noqa: S307 - declared rules only
    shape = np.broadcast_shapes(*[np.shape(scope[n]) for n in evaluation["activities"]], np.shape(per_sample))
    if np.shape(per_sample) != shape:
        per_sample = np.broadcast_to(per_sample, shape)
    mean = np.add.reduce(per_sample, axis=-2) / shape[-2]
    return mean if rule.increment else mean - target


def neuron_values(rule: Rule, evaluation: Mapping[str, Any], values: Mapping[str, Any]) -> np.ndarray:
    """A neuron rule's target after one sample, elementwise on broadcast arrays (no batch
    axis, no mean): a quantity formed afresh for every sample, such as a reward-prediction
    error or an eligibility trace stepped along a stream (``evaluation``: its :func:`plan`)."""
    scope: dict[str, Any] = {p: values[p] for p in rule.parameters}
    reads_target = rule.increment or rule.used(rule.target)
    if reads_target:
        scope[rule.target] = np.asarray(values[rule.target], dtype=float)
    for name in evaluation["activities"]:
        scope[name] = np.asarray(values[name], dtype=float)
    for name in evaluation["states"]:
        scope[name] = np.asarray(values[name], dtype=float)
    value = eval(evaluation["code"], GLOBALS, scope)  # noqa: S307 - declared rules only
    return scope[rule.target] + value if rule.increment else np.asarray(value, dtype=float)


def synaptic_change(rule: Rule, evaluation: Mapping[str, Any], values: Mapping[str, Any]) -> np.ndarray:
    """The batch-mean change of a synaptic rule's target (``evaluation``: its :func:`plan`)."""
    target = np.asarray(values[rule.target], dtype=float)
    n_post, n_pre = target.shape[-2:]
    constant: dict[str, Any] = {p: values[p] for p in rule.parameters}
    constant[rule.target] = target
    for name in rule.synaptic:
        constant[name] = np.asarray(values[name], dtype=float)
    constant["identity"] = _eye(n_post, n_pre)
    varying: dict[str, Any] = {}
    for name, side in evaluation["activities"]:
        varying[name + side] = np.asarray(values.get(name + side, values.get(name)), dtype=float)
    for name, side in evaluation["states"]:
        state = np.asarray(values.get(name + side, values.get(name)), dtype=float)
        if state.ndim:
            state = state[..., :, None] if side == "_post" else state[..., None, :]
        constant[name + side] = state
    for name, separated in evaluation["summed"]:
        reduced = _reduce(separated, varying, constant)
        varying[name + "_post"] = reduced
        if rule.recurrent:
            varying[name + "_pre"] = reduced
    if evaluation["totals"]:
        # per-sample scalars (K, B, 1); a factor holding one is grouped with the post side,
        # which may also read the parameters
        bare = {n: varying[n + "_post"] for n in (*rule.activities, *rule.summed) if n + "_post" in varying}
        bare.update({n: np.asarray(values[n], dtype=float) for n in rule.activities if n in values})
        for name, compiled in evaluation["totals"]:
            varying[name] = np.sum(eval(compiled, GLOBALS, bare), axis=-1, keepdims=True)  # noqa: S307
        varying.update({p: values[p] for p in rule.parameters})
    mean = _batch_mean(evaluation["terms"], varying, constant)
    if np.shape(mean) != target.shape:
        mean = np.broadcast_to(mean, np.broadcast_shapes(np.shape(mean), target.shape))
    return mean if rule.increment else mean - target


def _neuron_state(value: Any) -> np.ndarray:
    """A neuron state (K, n) or scalar as (K, 1, n) (or a broadcastable scalar)."""
    array = np.asarray(value, dtype=float)
    return array[..., None, :] if array.ndim >= 1 else array.reshape(1, 1, 1)


@functools.lru_cache(maxsize=64)
def _eye(n_post: int, n_pre: int) -> np.ndarray:
    eye = np.eye(n_post, n_pre)
    eye.setflags(write=False)
    return eye


def _reduce(separated: list[tuple[Any, Any, Any, tuple[str, ...]]], varying: Mapping[str, Any],
            constant: Mapping[str, Any]) -> Any:
    """Per-sample Σ_j of separated terms ``c(i, j) P_b(i) Q_b(j)``: (K, B, n_post)."""
    total: Any = 0.0
    for c_code, p_code, q_code, _ in separated:
        if q_code is None:
            raise ValueError("a summed variable must read a presynaptic activity in every term")
        c = np.asarray(eval(c_code, GLOBALS, constant), dtype=float)  # noqa: S307
        q = eval(q_code, GLOBALS, varying)  # noqa: S307
        if c.ndim < 2:
            reduced = c * np.sum(q, axis=-1, keepdims=True)
        else:
            reduced = np.matmul(q, np.swapaxes(c, -1, -2))
        total = total + (reduced if p_code is None else eval(p_code, GLOBALS, varying) * reduced)  # noqa: S307
    return total


def outer_sum(post: np.ndarray, pre: np.ndarray) -> np.ndarray:
    """``Σ_b post_b pre_bᵀ``: (K, B, n), (K, B, m) -> (K, n, m). Large batches take one 2-D
    BLAS call per member (numpy's stacked matmul is slower on the transposed view). When both
    are ±1 (binary units) every sum is an integer of magnitude ≤ B, exact in single precision
    (B < 2²⁴): the products are taken in float32, twice as fast, with the same float64 values."""
    if post.ndim != 3 or pre.ndim != 3 or post.shape[-2] < 64:
        return np.matmul(np.swapaxes(post, -1, -2), pre)
    single = post.shape[-2] < 2**24 and all_signs(post) and all_signs(pre)
    if single:
        post, pre = post.astype(np.float32), pre.astype(np.float32)
    members = max(post.shape[0], pre.shape[0])
    out = np.empty((members, post.shape[-1], pre.shape[-1]), dtype=post.dtype)
    for k in range(members):
        np.matmul(post[min(k, post.shape[0] - 1)].T, pre[min(k, pre.shape[0] - 1)], out=out[k])
    return out.astype(float) if single else out


def _batch_mean(separated: list[tuple[Any, Any, Any, tuple[str, ...]]], varying: Mapping[str, Any],
                constant: Mapping[str, Any]) -> Any:
    """Batch mean of Σ terms ``c(i, j) P_b(i) Q_b(j)``: each sample-varying product one matmul.
    The arithmetic is ``c · (Σ_b P Q / B)`` per term, summed over terms; the products and sums
    are written into the arrays this function made (no temporary the size of the matrix). A
    term with a parameter factor that is 0 (a switched-off weight decay or broadcast) is 0 and
    is not evaluated."""
    total: Any = None
    for c_code, p_code, q_code, parameters in separated:
        m: Any
        if parameters and any(_zero(constant[name]) for name in parameters):
            continue
        c = eval(c_code, GLOBALS, constant)  # noqa: S307
        if p_code is not None and q_code is not None:
            p, q = eval(p_code, GLOBALS, varying), eval(q_code, GLOBALS, varying)  # noqa: S307
            m = _divided(outer_sum(p, q), p.shape[-2])
        elif p_code is not None:
            p = eval(p_code, GLOBALS, varying)  # noqa: S307
            m = _divided(np.add.reduce(p, axis=-2), p.shape[-2])[..., :, None]
        elif q_code is not None:
            q = eval(q_code, GLOBALS, varying)  # noqa: S307
            m = _divided(np.add.reduce(q, axis=-2), q.shape[-2])[..., None, :]
        else:
            m = 1.0
        if _owned(m) and np.broadcast_shapes(m.shape, np.shape(c)) == m.shape:
            m *= c  # c · m, in the array made above
            term = m
        else:
            term = c * m
        if total is None:
            total = term
        elif isinstance(total, np.ndarray) and np.shape(total) == np.broadcast_shapes(np.shape(total), np.shape(term)):
            total += term
        else:
            total = total + term
    return 0.0 if total is None else total


def _divided(array: np.ndarray, count: int) -> np.ndarray:
    """``array / count``, in place when ``array`` is a float array this module made."""
    if _owned(array):
        array /= count
        return array
    return array / count


def _zero(value: Any) -> bool:
    """Whether a parameter's value is 0 (everywhere, for an array of per-member values)."""
    return value == 0 if isinstance(value, (int, float)) else not np.any(value)


def _owned(array: Any) -> bool:
    """Whether ``array`` is a float array of its own (a fresh result, no view), safe to write into."""
    return isinstance(array, np.ndarray) and array.dtype == float and array.base is None and array.flags.writeable
