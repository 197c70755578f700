"""Speed of the supervised circuits on the rate substrate (mini-batched numpy).

Prints training samples per second of EBD (plain, and with the paper's regularisers) and of
DFA, FA, Hebb against our own backprop MLP of the same size, in one process, and the ratio
``samples/s(backprop) / samples/s(rule)`` (the overhead of the decorrelation bookkeeping; the
EBD paper reports 8.06× for its MNIST MLP, mostly the entropy term). Also the ensemble axis:
K seeds in one batched run against K single runs.

    python benchmarks/supervised_speed.py            # quick: digits-size and MNIST-size MLPs
    python benchmarks/supervised_speed.py --full     # more updates per measurement
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bioplausible.circuits import supervised as S
from bioplausible.circuits.base import Batch

PAPER_REGULARISERS = dict(
    forgetting=0.999999, power_rate=(4e-3, 6e-3), power_target=(0.25, 0.25), entropy_rate=(2.5e-4, 1.5e-3),
    entropy_forgetting=0.99999, l1_rate=(1e-4, 1e-4), weight_decay=1.6e-4, momentum=0.9, sparsity=0.55,
)


def samples_per_second(circuit, n_inputs, n_outputs, batch_size, updates, seeds=(0,)):
    rng = np.random.default_rng(0)
    circuit.initialize(n_inputs, n_outputs, seeds=list(seeds))
    k = len(seeds)
    inputs = rng.random((k, batch_size * updates, n_inputs))
    targets = np.eye(n_outputs)[rng.integers(0, n_outputs, (k, batch_size * updates))]
    batches = [Batch(inputs[:, i * batch_size:(i + 1) * batch_size], targets[:, i * batch_size:(i + 1) * batch_size])
               for i in range(updates)]
    # random inputs and labels: only the arithmetic matters here (a rule may diverge on them)
    with np.errstate(all="ignore"):
        circuit.learn(circuit.respond(batches[0].inputs), batches[0])  # warm-up
        start = time.perf_counter()
        for batch in batches:
            circuit.learn(circuit.respond(batch.inputs), batch)
        elapsed = time.perf_counter() - start
    return k * batch_size * updates / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="more updates per measurement")
    args = parser.parse_args()
    updates = 600 if args.full else 150
    sizes = [("digits MLP 64-128-64-10", 64, (128, 64), 10), ("MNIST MLP 784-1024-512-10", 784, (1024, 512), 10)]
    for label, n_in, hidden, n_out in sizes:
        n_updates = updates if n_in < 100 else updates // 3
        print(f"\n{label}, B = 20, {n_updates} updates")
        rows = [
            ("backprop", S.Backprop(hidden_sizes=hidden)),
            ("ebd", S.EBD(hidden_sizes=hidden)),
            ("ebd + paper regularisers", S.EBD(hidden_sizes=hidden, **PAPER_REGULARISERS)),
            ("direct-feedback-alignment", S.DirectFeedbackAlignment(hidden_sizes=hidden)),
            ("feedback-alignment", S.FeedbackAlignment(hidden_sizes=hidden)),
            ("hebbian", S.Hebbian(hidden_sizes=hidden)),
        ]
        results = {name: samples_per_second(c, n_in, n_out, 20, n_updates) for name, c in rows}
        reference = results["backprop"]
        print(f"{'circuit':28s} {'samples/s':>10s} {'time vs backprop':>17s}")
        for name, value in results.items():
            print(f"{name:28s} {value:10.0f} {reference / value:16.2f}×")
        k = 4
        batched = samples_per_second(S.EBD(hidden_sizes=hidden), n_in, n_out, 20, n_updates, seeds=range(k))
        print(f"ensemble: EBD with K = {k} seeds in one run: {batched:.0f} samples/s "
              f"({batched / results['ebd']:.2f}× the single-seed throughput)")


if __name__ == "__main__":
    main()
