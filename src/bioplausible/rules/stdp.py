"""Spike-timing (pair-trace) forms of the declared rules, derived from their declarations.

The spiking substrate's default plasticity applies a declared rule once per presentation to
the rates decoded from spike counts. This module derives the second, more biological
variant (:class:`TraceForm`): the products of two spike trains in a rule are read by
exponential pre/post traces at spike times instead of from the counts.

**Decomposition.** Under offset coding a spiking activity is ``y = ρ − y0`` with
``ρ = n/(r0 T)`` the unit's spike count in rate units. Substituting this into the rule's
change (``target += expr``, or ``expr − target`` for ``target = expr``) and expanding, every
term is, in the spike rates of the synapse's two neurons,

* of degree 0 (a constant drift, e.g. the ``−δ_ij`` of whitening or a decay ``−W``),
* of degree 1 (one spike train times analog factors: ``c · ρ_i`` is ``c/(r0 T)`` per spike
  of i; exact functions of the count, the same in both variants), or
* of degree 2: a **pair term** ``c_ij ρ_post,i ρ_pre,j`` (pre × post), or a **self term**
  ``c_ij ρ_i²`` (one neuron's spikes with themselves: the Oja decay ``y_i² W_ij``, the
  diagonal of a recurrent ``y_i y_j``).

Only degree-2 terms depend on spike timing. Their trace form is the all-to-all pair rule
with symmetric exponential traces of time constant τ, reset at each presentation onset::

    on_pre:  a_pre += 1;  P += a_post          on_post:  a_post += 1;  P += a_pre

so that ``P_ij = Σ_{pairs (s, t)} exp(−|t − s|/τ)`` over pairs of a spike of j and a spike of
i in the window (a coincident pair once; for i = j the n self-pairs with weight 1). The
weight change at each spike is ``c_ij · P-increment / (r0² κ)``.

**Scaling (derived).** For spike trains of constant rates r_i, r_j within a window of length
T and no spike-timing correlation, ``E[P_ij] = r_i r_j κ(T, τ)`` with

    κ(T, τ) = ∫₀ᵀ∫₀ᵀ exp(−|t − s|/τ) ds dt = 2τ [T − τ (1 − exp(−T/τ))],

so ``P̂_ij = P_ij / (r0² κ)`` has the expectation ``ρ_i ρ_j`` and the expected change per
presentation equals the count-based rule's. κ(T, T) = 2T²/e ≈ 0.736 T²; κ → T² as τ → ∞,
where ``P_ij = n_i n_j`` exactly and the trace form *is* the count form (a check on the
derivation). In between, spike-timing correlations (lateral inhibition, regular IF firing)
make the two differ: ``benchmarks/stdp_agreement.py`` measures by how much.

**Causal window** (the sequence write, pre in one window of length T and post in the next):
``κ_c(T, τ) = ∫₀ᵀ ds ∫_T^{2T} dt exp(−(t − s)/τ) = τ² (1 − e^{−T/τ})²``
(:func:`causal_pair_window`), T² for τ = ∞.

**What is refused** (:func:`trace_refusal`), because a pair-trace reading would not be
faithful: per-sample totals (a normalisation by a scalar of the whole presentation, e.g.
``1/(1 + γ yᵀBy)``), summed reductions (``z_i = Σ_k B_ik y_k``: a product ``z_i z_j`` is one of
four neurons' spikes, not of the synapse's pre and post), products of more than two spike
trains or of two spike trains and an analog signal, spike rates inside a nonlinear function,
other synaptic matrices (eligibility traces), and neuron-level rules (no synapse: a gain or a
learning rate keeps its presentation-level form).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .declaration import Rule, expressions

__all__ = ["PairTerm", "TraceForm", "trace_form", "trace_refusal", "pair_window", "causal_pair_window", "pair_sum"]


def causal_pair_window(window: float, time_constant: float) -> float:
    """κ_c(T, τ) = τ² (1 − e^{−T/τ})² (s²): ``∫₀ᵀ ds ∫_T^{2T} dt exp(−(t − s)/τ)``, the expected
    causal pair sum (pre in one window, post in the next) per unit rate product; T² for τ = ∞."""
    if not window > 0 or not time_constant > 0:
        raise ValueError(f"window and time_constant must be positive, got {window!r}, {time_constant!r}")
    if math.isinf(time_constant):
        return window ** 2
    return (time_constant * -math.expm1(-window / time_constant)) ** 2


def pair_window(presentation: float, time_constant: float) -> float:
    """κ(T, τ) = 2τ [T − τ (1 − e^{−T/τ})] (s²): the expected pair sum of two independent
    constant-rate trains per unit rate product; T² for τ = ∞ (no decay)."""
    if not presentation > 0:
        raise ValueError(f"presentation must be positive, got {presentation!r}")
    if not time_constant > 0:
        raise ValueError(f"time_constant must be positive (math.inf: no decay), got {time_constant!r}")
    if math.isinf(time_constant):
        return presentation ** 2
    ratio = presentation / time_constant
    if ratio < 1e-4:  # series of the closed form, which cancels catastrophically here
        return presentation ** 2 * (1.0 - ratio / 3.0)
    return 2.0 * time_constant * (presentation - time_constant * (-math.expm1(-ratio)))


def pair_sum(post: np.ndarray, pre: np.ndarray, time_constant: float) -> float:
    """``Σ_{s ∈ pre, t ∈ post} exp(−|t − s|/τ)`` over all pairs of two spike-time arrays (s):
    what the trace code accumulates (pass one train twice for the self term: n self-pairs of
    weight 1 included). The reference the Brian2 realisation is tested against."""
    post, pre = np.asarray(post, dtype=float), np.asarray(pre, dtype=float)
    lags = np.abs(post[:, None] - pre[None, :])
    return float(np.sum(np.ones_like(lags) if math.isinf(time_constant) else np.exp(-lags / time_constant)))


@dataclass(frozen=True)
class PairTerm:
    """One degree-2 term ``c_ij ρ_post ρ_pre`` of a rule: ``post``/``pre`` name the spiking
    activities (``kind`` ``"pair"``), or one activity with itself on one neuron (``"post-self"``:
    ``c_ij ρ_i²``, ``"pre-self"``: ``c_ij ρ_j²``); ``coefficient`` is c as an expression of the
    rule's target, states, parameters and ``identity``; ``rule`` is the derived rule
    ``target += c * excess`` that evaluates ``c ⊙ excess``."""

    kind: str
    post: str
    pre: str
    coefficient: str
    rule: Rule


@dataclass(frozen=True)
class TraceForm:
    """The spike-timing form of ``rule`` for the given spiking activities (name → offset y0):
    its degree-2 terms (:class:`PairTerm`); every other term is an exact function of the spike
    counts and is the count-based rule's."""

    rule: Rule
    offsets: Mapping[str, float | tuple[float, float]]
    terms: tuple[PairTerm, ...]

    def correction(self, term: PairTerm, excess: np.ndarray, **values: Any) -> np.ndarray:
        """``c ⊙ excess`` (K, n_post, n_pre) for one term, ``excess`` the batch mean of the pair
        estimate minus the count product (``P̂ − ρ_post ρ_preᵀ``, broadcast for a self term);
        ``values`` the rule's target, states and parameters as :meth:`Rule.numpy` takes them."""
        names = (term.rule.target, *term.rule.parameters)
        given = {n: values[n] for n in names}
        given.update({n: values[n] for n in (*term.rule.states,
                                             *[s + side for s in term.rule.states for side in ("_pre", "_post")])
                      if n in values})
        return term.rule.numpy(excess=excess, **given)

    def on_pre(self) -> str:
        """Brian2 code of a presynaptic spike (traces ``apre``/``apost``, pair sum ``pairs``)."""
        return "apre += 1\npairs += apost"

    def on_post(self) -> str:
        """Brian2 code of a postsynaptic spike."""
        return "apost += 1\npairs += apre"


def trace_refusal(rule: Rule, spiking: Mapping[str, float | tuple[float, float]] | None = None) -> str | None:
    """None when ``rule`` has a faithful pair-trace form (spiking activities ``spiking``,
    name → offset; default: all its activities with offset 0), else why not (one sentence)."""
    try:
        trace_form(rule, spiking)
    except ValueError as error:
        return str(error)
    return None


def trace_form(rule: Rule, spiking: Mapping[str, float | tuple[float, float]] | None = None) -> TraceForm:
    """The :class:`TraceForm` of ``rule`` (see the module docstring); ``spiking`` maps each of its
    activities carried by spikes to the offset y0 of its code (``y = ρ − y0``), or to
    ``(a, y0)`` for ``y = a ρ − y0`` (±1 units clamped to fire at r0 or not: ``(2, 1)``); the
    others are analog. A rule without a faithful form is refused with a ``ValueError`` saying why."""
    import sympy

    spiking = {name: 0.0 for name in rule.activities} if spiking is None else dict(spiking)
    unknown = sorted(set(spiking) - set(rule.activities))
    if unknown:
        raise ValueError(f"spiking names {unknown} are not activities of rule {rule.name!r} ({list(rule.activities)})")
    label = f"rule {rule.name!r}"
    if rule.kind != "synaptic":
        raise ValueError(f"{label} changes a neuron-level variable ({rule.target}), not a synapse: it has no "
                         "pre/post spike pairs and keeps its presentation-level form")
    if rule.totals:
        raise ValueError(f"{label} normalises each sample by a per-sample total ({', '.join(rule.totals)}), a "
                         "scalar of the whole presentation that no pre/post trace of one synapse holds")
    if rule.summed:
        raise ValueError(f"{label} reads the summed reduction(s) {', '.join(rule.summed)} (e.g. z_i = Σ_k B_ik y_k, "
                         "the lateral input a neuron received): its products are of four neurons' spikes, not of "
                         "this synapse's pre and post")
    if rule.synaptic:
        raise ValueError(f"{label} reads other synaptic matrices ({', '.join(rule.synaptic)}); its trace is its "
                         "own declared rule")
    sides = ("_post", "_pre")
    names = _names(rule.expression) | {rule.target}
    symbols = {n: sympy.Symbol(n) for n in names}
    rates: dict[str, Any] = {}
    substitution: dict[Any, Any] = {}
    for name, code in spiking.items():
        scale, offset = code if isinstance(code, tuple) else (1.0, code)
        for side in sides:
            key = name + side
            if key in symbols:
                rates[key] = sympy.Symbol(f"rho_{key}")
                substitution[symbols[key]] = sympy.nsimplify(scale) * rates[key] - sympy.nsimplify(offset)
    functions = {"abs": sympy.Abs, "min": sympy.Min, "max": sympy.Max, "sqrt": sympy.sqrt, "exp": sympy.exp,
                 "log": sympy.log}
    expression = eval(rule.expression, {"__builtins__": {}, **functions}, symbols)  # noqa: S307 - declared rules
    change = expression if rule.increment else expression - symbols[rule.target]
    change = sympy.expand(change.subs(substitution))
    generators = list(rates.values())
    if not generators:
        return TraceForm(rule, spiking, ())
    try:
        polynomial = sympy.Poly(change, *generators)
    except sympy.PolynomialError as error:
        raise ValueError(f"{label} has spike rates inside a nonlinear function ({error}); a pair trace reads "
                         "products of two spike trains only") from None
    analog = {symbols[n + s] for n in rule.activities if n not in spiking for s in sides if n + s in symbols}
    by_rate = {v: k for k, v in rates.items()}
    grouped: dict[tuple[str, str, str], Any] = {}
    for powers, coefficient in polynomial.terms():
        degree = sum(powers)
        if degree <= 1:
            continue
        if degree > 2:
            raise ValueError(f"{label} has a product of {degree} spike trains; a pair trace reads two")
        if coefficient.free_symbols & analog:
            raise ValueError(f"{label} multiplies two spike trains by an analog activity "
                             f"({', '.join(sorted(str(s) for s in coefficient.free_symbols & analog))})")
        factors = [by_rate[g] for g, p in zip(generators, powers) for _ in range(p)]
        group = _classify(rule, factors)
        grouped[group] = grouped.get(group, 0) + coefficient
    terms = []
    for index, ((kind, post, pre), coefficient) in enumerate(sorted(grouped.items())):
        text = _print(sympy.simplify(coefficient))
        derived = Rule(f"{rule.name}-stdp-{kind}-{index}", f"{rule.target} += ({text}) * excess", paper=rule.paper,
                       states=rule.states, synaptic=("excess",), parameters=rule.parameters,
                       description=f"spike-timing correction of {rule.name!r}: c · (P̂ − ρρ) for its {kind} term")
        terms.append(PairTerm(kind, post, pre, text, derived))
    return TraceForm(rule, spiking, tuple(terms))


def _classify(rule: Rule, factors: list[str]) -> tuple[str, str, str]:
    """(kind, post activity, pre activity) of a product of two sided spike rates."""
    (a, side_a), (b, side_b) = (f.rsplit("_", 1) for f in sorted(factors))
    if side_a != side_b:
        post, pre = (a, b) if side_a == "post" else (b, a)
        return "pair", post, pre
    if a != b:
        raise ValueError(f"rule {rule.name!r} multiplies two different activities ({a}, {b}) of one neuron "
                         f"({side_a}); a pair trace reads one neuron's spikes with themselves or pre with post")
    return f"{side_a}-self", a, a


def _names(text: str) -> set[str]:
    """The quantities ``text`` reads (its functions left out)."""
    return expressions.names(text) - expressions.FUNCTIONS


def _print(expression: Any) -> str:
    from sympy.printing.pycode import PythonCodePrinter

    return PythonCodePrinter({"fully_qualified_modules": False}).doprint(expression)
