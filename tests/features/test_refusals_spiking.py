"""What the spiking substrate still refuses, and why (issue 17, "former refusals"): each answer
of ``supports`` names what a faithful realisation would need. None of these has been built
and measured against the rate model yet; the day one is, its row moves to an agreement case."""

from __future__ import annotations

import pytest

import bioplausible as bpl
from bioplausible.substrates import make_substrate

REFUSED = [
    ("nonnegative-ica", {"variant": "interneuron", "leak": 0.0}, "perfect integrators"),
    ("corinfomax-ebd", {}, "two independently learned matrices"),
    ("corinfomax-ep", {}, "two independently learned matrices"),
]


@pytest.mark.parametrize("name,params,why", REFUSED)
def test_former_refusals_say_what_a_realisation_needs(name, params, why):
    circuit = bpl.circuits.make_circuit(name, **params)
    reason = make_substrate("spiking").supports(circuit)
    assert reason is not None and why in reason, reason
    assert make_substrate("rate").supports(circuit) is None
    with pytest.raises(ValueError, match="cannot run on the spiking substrate"):
        bpl.run(circuit, bpl.tasks.make_task(circuit.default_task), "spiking", steps=1, progress=False)
    assert not circuit.initialized


@pytest.mark.parametrize("name,params", [("detmax-wsm", {"domain": "antisparse"}),
                                         ("detmax-wsm", {"domain": "sparse"}),
                                         ("detmax-wsm", {"domain": "simplex"}),
                                         ("corinfomax", {"domain": "simplex"}),
                                         ("corinfomax", {"domain": "polytope"}),
                                         ("detmax-wsm", {"domain": "polytope"}),
                                         ("interneuron-whitening", {}),
                                         ("nonnegative-ica", {"variant": "interneuron", "leak": 0.1})])
def test_their_neighbours_run_on_spikes(name, params):
    assert make_substrate("spiking").supports(bpl.circuits.make_circuit(name, **params)) is None
