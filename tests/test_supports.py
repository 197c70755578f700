"""``substrate.supports(circuit)``: one question every substrate answers for itself, asked by
``run`` (refusal before any work) and ``compare`` (an unsupported pair is reported, never dropped)."""

from __future__ import annotations

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.experiments.compare import NOT_RUN, not_run, summary_table
from bioplausible.substrates import SUBSTRATES, make_substrate


@pytest.mark.parametrize("name", sorted(bpl.circuits.CIRCUITS))
def test_every_substrate_answers_none_or_a_sentence(name):
    circuit = bpl.circuits.make_circuit(name)
    for substrate in SUBSTRATES:
        answer = make_substrate(substrate).supports(circuit)
        assert answer is None or (isinstance(answer, str) and len(answer) > 20), (substrate, answer)
    assert make_substrate("rate").supports(circuit) is None


def test_compare_reports_an_unsupported_pair_with_the_reason():
    task = bpl.tasks.SourceSeparation(domain="nonnegative-bernoulli", evaluation_samples=50)
    frame = bpl.compare([bpl.circuits.NonnegativeICA(variant="interneuron")], task, seeds=[0, 1],
                        substrates=("rate", "spiking"), steps=2, eval_every=2)
    missing = not_run(frame)
    assert missing[["circuit", "substrate"]].values.tolist() == [["nonnegative-ica", "spiking"]]
    assert "perfect integrators" in missing["reason"][0]
    assert (frame["metric"] == NOT_RUN).sum() == 2  # one row per seed
    table = summary_table(frame)
    assert set(table["substrate"]) == {"rate"} and np.isfinite(table["mean"]).all()


def test_run_refuses_an_unsupported_circuit_before_any_work():
    circuit = bpl.circuits.NonnegativeICA(variant="interneuron")
    with pytest.raises(ValueError, match="cannot run on the spiking substrate: its outputs are perfect integrators"):
        bpl.run(circuit, bpl.tasks.SourceSeparation(domain="nonnegative-bernoulli"), "spiking", steps=1,
                progress=False)
    assert not circuit.initialized
