"""One agreement harness: every registered circuit × every registered substrate.

Each circuit declares its cases next to its declaration (``Circuit.agreement``, a tuple of
:class:`~bioplausible.core.AgreementCase`): task, sizes, steps, seeds, substrate options,
metric tolerances and the learning it must show. Each case runs once on the reference
substrate (``rate``) and once on every other registered substrate, with the same data,
initial weights and seeds; the metrics must agree within the declared tolerance on the mean
of the last ``tail`` evaluations. A pair the substrate does not support is skipped with the
substrate's own reason (``substrate.supports(circuit)``), and the set of unsupported pairs
must be exactly the one the cases declare. Cases marked ``slow`` run in the slow tier.
"""

from __future__ import annotations

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.circuits import CIRCUITS
from bioplausible.substrates import SUBSTRATES, make_substrate
from bioplausible.tasks import make_task

REFERENCE = "rate"


def _cases():
    for name in sorted(CIRCUITS):
        for case in vars(CIRCUITS[name]).get("agreement", ()):
            for substrate in sorted(SUBSTRATES):
                if substrate == REFERENCE:
                    continue
                marks = [pytest.mark.slow] if case.slow else []
                yield pytest.param(name, case, substrate, marks=marks, id=f"{name}-{case.name}-{substrate}")


def _run(name, case, substrate):
    circuit = bpl.circuits.make_circuit(name, **case.params)
    result = bpl.run(circuit, make_task(case.task, **case.task_options), substrate, seeds=list(case.seeds),
                     steps=case.steps, eval_every=case.eval_every, batch_size=case.batch_size, progress=False,
                     substrate_options=dict(case.substrate_options.get(substrate, {})) or None)
    return {metric: result.dataset[f"metric_{metric}"].values for metric in case.tolerances}


_REFERENCE_RUNS: dict[tuple[str, str], dict[str, np.ndarray]] = {}


def _reference(name, case):
    key = (name, repr(case))
    if key not in _REFERENCE_RUNS:
        _REFERENCE_RUNS[key] = _run(name, case, REFERENCE)
    return _REFERENCE_RUNS[key]


def _learned(values: np.ndarray, tail: int, mode: str, amount: float) -> np.ndarray:
    initial, final = values[:, 0], values[:, -tail:].mean(axis=1)
    change = final - initial if mode == "absolute" else (final - initial) / np.abs(initial)
    return change >= amount if amount >= 0 else change <= amount


@pytest.mark.parametrize("name,case,substrate", list(_cases()))
def test_substrate_agrees_with_the_rate_network(name, case, substrate):
    reason = make_substrate(substrate).supports(bpl.circuits.make_circuit(name, **case.params))
    if reason is not None:
        assert substrate in case.unsupported, f"{name} on {substrate} is refused but not declared so: {reason}"
        pytest.skip(f"{substrate} does not support {name}: {reason}")
    reference, values = _reference(name, case), _run(name, case, substrate)
    for metric, (rtol, atol) in case.tolerances.items():
        expected, got = reference[metric][:, -case.tail:].mean(axis=1), values[metric][:, -case.tail:].mean(axis=1)
        assert np.all(np.abs(got - expected) <= rtol * np.abs(expected) + atol), (metric, expected, got)
        if case.same_start:
            np.testing.assert_allclose(values[metric][:, 0], reference[metric][:, 0], rtol=1e-6, err_msg=metric)
    for metric, (mode, amount) in case.learns.items():
        for label, run in ((REFERENCE, reference), (substrate, values)):
            assert np.all(_learned(run[metric], case.tail, mode, amount)), (label, metric, run[metric])


def test_every_registered_circuit_declares_an_agreement_case():
    missing = [name for name, cls in CIRCUITS.items() if not vars(cls).get("agreement")]
    assert missing == []


def test_the_unsupported_pairs_are_exactly_the_declared_ones():
    refused, declared = set(), set()
    for name, cls in CIRCUITS.items():
        for case in vars(cls).get("agreement", ()):
            circuit = bpl.circuits.make_circuit(name, **case.params)
            declared |= {(name, case.name, s) for s in case.unsupported}
            refused |= {(name, case.name, s) for s in SUBSTRATES if make_substrate(s).supports(circuit) is not None}
    assert refused == declared
