"""The neutral vocabulary (``bioplausible.core``): Batch's shape contract, registries that
refuse a duplicate name, one domain vocabulary."""

from __future__ import annotations

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.core import Batch, Connection, Population, Registry
from bioplausible.experiments.probes import Probe


def test_batch_checks_its_shape_contract_on_construction():
    with pytest.raises(ValueError, match="inputs must have shape"):
        Batch(np.zeros(3))
    with pytest.raises(ValueError, match="targets must have shape"):
        Batch(np.zeros((2, 5, 3)), np.zeros((2, 4, 1)))
    with pytest.raises(ValueError, match=r"info\['label'\] must have leading shape \(2, 5\)"):
        Batch(np.zeros((2, 5, 3)), info={"label": np.zeros((5, 2))})
    Batch(np.zeros((2, 5, 3)), np.zeros((2, 5, 1)), {"label": np.zeros((2, 5)), "sources": np.zeros((2, 5, 4))})


def test_separation_batches_slice_their_sources_along_the_sample_axis():
    """The task's ``sources`` are (B, n) per batch, (K, B, n) stacked: a slice of samples must
    keep every sample's sources with its mixture (it used to cut the sources' last axis)."""
    task = bpl.tasks.SourceSeparation(n_sources=3, n_mixtures=4, evaluation_samples=10)
    members = [task.reset(seed=s).next_batch(7) for s in (0, 1)]
    stacked = Batch(np.stack([b.inputs for b in members]), None,
                    {"sources": np.stack([b.info["sources"] for b in members])})
    part = stacked[2:5]
    assert part.inputs.shape == (2, 3, 4) and part.info["sources"].shape == (2, 3, 3)
    np.testing.assert_array_equal(part.info["sources"][1], members[1].info["sources"][2:5])
    np.testing.assert_array_equal(part.member(1).inputs, members[1].inputs[2:5])


def test_default_probe_records_a_separation_run():
    task = bpl.tasks.SourceSeparation(n_sources=3, n_mixtures=3, evaluation_samples=50)
    circuit = bpl.circuits.NonnegativeSimilarityMatching(n_sources=3, prewhitening_samples=5)
    result = bpl.run(circuit, task, seeds=[0, 1], steps=12, eval_every=6, progress=False, probes=[Probe()])
    traces = result.traces
    assert traces["output"].shape == (2, 12, 3)
    assert np.all(np.isfinite(traces["output"].values)) and np.all(np.isfinite(traces["mixtures"].values))


def test_registry_refuses_a_second_object_under_a_taken_name():
    registry = Registry("widget")
    first, second = object(), object()
    registry["a"] = first
    registry["a"] = first  # the same object again: a no-op
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        registry["a"] = second
    with pytest.raises(ValueError, match="already registered"):
        registry.update(a=second)
    assert registry["a"] is first


@pytest.mark.parametrize("registry,name", [
    (bpl.circuits.CIRCUITS, "corinfomax"), (bpl.tasks.TASKS, "separation"),
    (bpl.substrates.SUBSTRATES, "rate"), (bpl.substrates.spiking.BUILDERS, "fixed-point"),
])
def test_package_registries_refuse_duplicates(registry, name):
    assert name in registry
    with pytest.raises(ValueError, match="already registered"):
        registry[name] = type("Impostor", (), {})


def test_one_domain_vocabulary_for_circuits_and_task():
    from bioplausible.circuits import separation as circuits
    from bioplausible.core import domains
    from bioplausible.tasks import separation as tasks

    assert circuits.DOMAINS is tasks.DOMAINS is domains.DOMAINS
    assert set(domains.OUTPUT_DOMAINS) < set(domains.DOMAINS)
    assert all(domains.CIRCUIT_DOMAIN[d] in domains.OUTPUT_DOMAINS for d in domains.SOURCE_ONLY_DOMAINS)
    with pytest.raises(ValueError, match="domain"):
        bpl.circuits.CorInfoMax(domain="natural-images")


def test_declaration_types_name_their_nonlinearity_rule_and_sign():
    assert Population("x", 2, role="input").nonlinearity == "identity"
    assert Population("y", 2).nonlinearity == "rectification"
    assert Population("y", 2, offset=1.0).nonlinearity == "identity"
    assert Population("y", 2, offset=1.0, ceiling=1.0).nonlinearity == "box"
    assert Population("y", 2, threshold_unit="simplex-threshold").nonlinearity == "simplex-threshold"
    with pytest.raises(ValueError, match="role must be one of"):
        Population("y", 2, role="hidden")

    def hebbian(pre, post):
        return pre * post

    plastic, fixed = Connection("x", "y", hebbian), Connection("x", "y", sign="inhibitory")
    assert plastic.plastic and plastic.rule_name == "hebbian"
    assert not fixed.plastic and fixed.rule_name is None and fixed.sign == "inhibitory"
    with pytest.raises(ValueError, match="sign must be one of"):
        Connection("x", "y", sign="positive")
    with pytest.raises(ValueError, match="plastic connection declares its rule"):
        Connection("x", "y", plastic=True)
