"""Recall throughput of the sequence circuits: batched over draws and cues vs a per-draw loop.

Both paths compute the same synchronous recall S(t+1) = sgn(Ξ_nextᵀ f(ΞS/N)) of ``cues``
noisy cues for each of ``draws`` stored sequences. The batched path is one ensemble circuit
(K = draws) whose rollout updates all draws and cues at once (the only Python loop is over
recall steps); the baseline loops over draws with one single-member circuit each (still
vectorised over cues and neurons). Prints state updates per second and their ratio.

Then the capacity workload (``SequenceRecall.success_rates``: one-pass write of P patterns
and one synchronous step of all of them, for 20 draws at N = 300, P = 2000): the circuit
(K = 20, one batched call) against a plain numpy loop of the same update over draws
(``J = ξ_next ξᵀ / N``, ``S' = sgn(S Jᵀ)``), timed alternately in one process; the ratio
is what counts (the machine may be shared).

The recall step alone (``circuit.step`` of every stored pattern, or of noisy cues, against a
plain loop of the same step, both written beforehand) is measured the same way.

Measured plain/ours (``--recall-only --repeats 3``, one shared 2-core machine under load,
before → after the integer fields and 2**22-element blocks of the sequence package):
recall step SeqNet stored 0.53 → 1.82, cues 0.77 → 1.07; poly d=2 stored 0.28 → 0.93,
cues 0.31 → 1.15; write + step SeqNet 0.93 → 1.77, poly d=2 0.24 → 1.02 (same states: 1.0000
throughout). Run-to-run spread on that machine was about ±30 %.

    python benchmarks/sequence_speed.py            # quick
    python benchmarks/sequence_speed.py --recall-only --repeats 2   # only the N=300, P=2000 workloads
    python benchmarks/sequence_speed.py --full
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bioplausible.circuits import Batch, DenseNet, SeqNet


def measure(circuit_factory, n_neurons: int, length: int, draws: int, cues: int, steps: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    patterns = np.where(rng.random((draws, length, n_neurons)) < 0.5, 1.0, -1.0)
    flips = np.where(rng.random((draws, cues, n_neurons)) < 0.1, -1.0, 1.0)
    starts = patterns[:, :1] * flips  # ξ¹ with 10 % of the bits flipped, (draws, cues, N)

    batched = circuit_factory().store(patterns)
    began = time.perf_counter()
    trajectory = batched.rollout(starts, steps)
    batched_time = time.perf_counter() - began

    singles = [circuit_factory().store(patterns[d]) for d in range(draws)]
    began = time.perf_counter()
    looped = np.stack([singles[d].rollout(starts[d], steps)[0] for d in range(draws)])
    loop_time = time.perf_counter() - began
    if not np.array_equal(trajectory, looped):
        raise AssertionError("batched and per-draw recall disagree")
    updates = draws * cues * steps
    return updates / batched_time, updates / loop_time


def plain_recall(patterns: np.ndarray, degree: int | None = None) -> np.ndarray:
    """Per-draw numpy loop: write, then step every stored pattern once. SeqNet (``degree``
    None): ``J = Σ ξ^{μ+1} ξ^μᵀ``, ``S' = sgn(S Jᵀ)``; DenseNet poly: ``S' = sgn((S Ξᵀ)^d Ξ_next)``.
    Integer sums (the positive 1/N factors do not change a sign; ties at 0 are exact)."""
    out = np.empty(patterns.shape)
    for d, draw in enumerate(patterns):
        successors = np.roll(draw, -1, axis=0)
        if degree is None:
            field = draw @ (successors.T @ draw).T
        else:
            field = ((draw @ draw.T) ** degree) @ successors
        out[d] = np.where(field >= 0, 1.0, -1.0)
    return out


def capacity_workload(model: str = "seqnet", n_neurons: int = 300, length: int = 2000, draws: int = 20,
                      repeats: int = 3) -> tuple[float, float, float]:
    """Best-of-``repeats`` seconds of (circuit, plain loop) for the write + one step of all
    patterns, and the fraction of states on which they agree."""
    rng = np.random.default_rng(0)
    patterns = np.where(rng.random((draws, length, n_neurons)) < 0.5, 1.0, -1.0)
    successors = np.roll(patterns, -1, axis=1)
    factory, degree = (SeqNet, None) if model == "seqnet" else (lambda: DenseNet(separation="poly", degree=2), 2)
    ours, plain = [], []
    for _ in range(repeats):
        began = time.perf_counter()
        circuit = factory().initialize(n_neurons, n_neurons, list(range(draws)))
        circuit.learn({"cue": patterns}, Batch(patterns, successors))
        stepped = circuit.step(patterns)
        ours.append(time.perf_counter() - began)
        began = time.perf_counter()
        reference = plain_recall(patterns, degree)
        plain.append(time.perf_counter() - began)
    agreement = float(np.mean(np.all(stepped == reference, axis=-1)))
    return min(ours), min(plain), agreement


def plain_step(states: np.ndarray, patterns: np.ndarray, successors: np.ndarray, couplings: np.ndarray | None,
               degree: int) -> np.ndarray:
    """Per-draw numpy loop of one synchronous step of ``states`` (draws, B, N): SeqNet
    ``S' = sgn(S Jᵀ)`` with the integer ``J = Σ ξ^{μ+1} ξ^μᵀ`` given, DenseNet poly
    ``S' = sgn((S Ξᵀ)^d Ξ_next)``; sgn(0) = +1 (integer sums: ties at 0 are exact)."""
    out = np.empty(states.shape)
    for d, draw in enumerate(states):
        field = draw @ couplings[d].T if couplings is not None else ((draw @ patterns[d].T) ** degree) @ successors[d]
        out[d] = np.where(field >= 0, 1.0, -1.0)
    return out


def recall_workload(model: str = "seqnet", n_neurons: int = 300, length: int = 2000, draws: int = 20,
                    repeats: int = 3, noise: float = 0.0) -> tuple[float, float, float]:
    """Best-of-``repeats`` seconds of (``circuit.step``, plain loop) for one synchronous step of
    every stored pattern (the recall step alone; both written beforehand), each with a
    fraction ``noise`` of its bits flipped, timed alternately, and the fraction of states on
    which they agree."""
    rng = np.random.default_rng(0)
    patterns = np.where(rng.random((draws, length, n_neurons)) < 0.5, 1.0, -1.0)
    states = patterns * np.where(rng.random(patterns.shape) < noise, -1.0, 1.0) if noise else patterns
    successors = np.roll(patterns, -1, axis=1)
    seqnet = model == "seqnet"
    circuit = (SeqNet() if seqnet else DenseNet(separation="poly", degree=2)).store(patterns)
    couplings = np.matmul(np.swapaxes(successors, -1, -2), patterns) if seqnet else None
    ours, plain = [], []
    for _ in range(repeats):
        began = time.perf_counter()
        stepped = circuit.step(states)
        ours.append(time.perf_counter() - began)
        began = time.perf_counter()
        reference = plain_step(states, patterns, successors, couplings, 2)
        plain.append(time.perf_counter() - began)
    agreement = float(np.mean(np.all(stepped == reference, axis=-1)))
    return min(ours), min(plain), agreement


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="larger networks and more draws")
    parser.add_argument("--repeats", type=int, default=3, help="timings per workload (best of)")
    parser.add_argument("--recall-only", action="store_true", help="only the N=300, P=2000 workloads")
    args = parser.parse_args(argv)
    if args.recall_only:
        workloads(args.repeats)
        return
    settings = [(20, 10, 1000, 8, 20), (100, 20, 200, 8, 20), (400, 50, 100, 8, 20)] if not args.full else \
        [(20, 10, 5000, 16, 50), (100, 20, 1000, 16, 50), (400, 50, 400, 16, 50), (2000, 100, 50, 16, 50)]
    models = {"seqnet": SeqNet, "poly d=2": lambda: DenseNet(separation="poly", degree=2),
              "exp": lambda: DenseNet(separation="exp")}
    print(f"{'model':10s} {'N':>5s} {'P':>4s} {'draws':>6s} {'cues':>5s} {'batched/s':>12s} {'loop/s':>12s} "
          f"{'ratio':>7s}")
    for n, p, draws, cues, steps in settings:
        for name, factory in models.items():
            fast, slow = measure(factory, n, p, draws, cues, steps)
            print(f"{name:10s} {n:5d} {p:4d} {draws:6d} {cues:5d} {fast:12.3g} {slow:12.3g} {fast / slow:7.1f}")
    workloads(args.repeats)


def workloads(repeats: int) -> None:
    print(f"\nrecall step, N=300 P=2000, 20 draws (one step of all patterns, best of {repeats}):")
    for model, noise in (("seqnet", 0.0), ("poly d=2", 0.0), ("seqnet", 0.1), ("poly d=2", 0.1)):
        ours, plain, agreement = recall_workload(model, repeats=repeats, noise=noise)
        start = "stored" if not noise else "cues 10%"
        print(f"  {model:9s} {start:8s} ours {ours:6.2f} s, plain numpy loop {plain:6.2f} s, "
              f"plain/ours = {plain / ours:.2f} (same states: {agreement:.4f})")
    print(f"\ncapacity workload, N=300 P=2000, 20 draws (write + one step of all patterns, best of {repeats}):")
    for model in ("seqnet", "poly d=2"):
        ours, plain, agreement = capacity_workload(model, repeats=repeats)
        print(f"  {model:9s} ours {ours:6.2f} s, plain numpy loop {plain:6.2f} s, plain/ours = {plain / ours:.2f} "
              f"(same states: {agreement:.4f})")

if __name__ == "__main__":
    main()
