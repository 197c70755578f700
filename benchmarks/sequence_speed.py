"""Recall throughput of the sequence circuits: batched over draws and cues vs a per-draw loop.

Both paths compute the same synchronous recall S(t+1) = sgn(Ξ_nextᵀ f(ΞS/N)) of ``cues``
noisy cues for each of ``draws`` stored sequences. The batched path is one ensemble circuit
(K = draws) whose rollout updates all draws and cues at once (the only Python loop is over
recall steps); the baseline loops over draws with one single-member circuit each (still
vectorised over cues and neurons). Prints state updates per second and their ratio.

    python benchmarks/sequence_speed.py            # quick
    python benchmarks/sequence_speed.py --full
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bioplausible.circuits import DenseNet, SeqNet


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="larger networks and more draws")
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    main()
