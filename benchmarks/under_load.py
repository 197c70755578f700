"""Rate-path throughput with and without a competing load, BLAS pinned or not.

A ``processes`` sweep, or any other job, keeps every core busy; BLAS thread pools that also
try to use every core then fight it, and the small per-sample linear algebra of the rate
path collapses. ``bioplausible.run`` pins BLAS to one thread (``blas_threads=1``, the
default); ``blas_threads=None`` leaves the pools as they are. This script measures samples/s
of online direct whitening (batch size 1) for both, idle and with one busy process per core.

    python benchmarks/under_load.py [--n 200] [--members 8] [--steps 300] [--quick]

Report which numbers were measured on a machine that other jobs were also using.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time

import bioplausible as bpl


def _busy(stop: multiprocessing.synchronize.Event) -> None:
    import numpy as np

    matrix = np.random.default_rng(0).standard_normal((300, 300))
    while not stop.is_set():
        matrix = np.tanh(matrix @ matrix.T / 300.0)


def throughput(n: int, members: int, steps: int, blas_threads: int | None) -> float:
    task = bpl.tasks.StatisticalAdaptation(n_inputs=n, n_contexts=1, samples_per_context=steps)
    circuit = bpl.circuits.DirectWhitening(learning_rate=0.001)
    started = time.perf_counter()
    bpl.run(circuit, task, seeds=list(range(members)), steps=steps, eval_every=steps, progress=False,
            blas_threads=blas_threads)
    return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--load", type=int, default=os.cpu_count(), help="busy processes (default: CPU count)")
    parser.add_argument("--quick", action="store_true", help="n = 50, 100 steps")
    args = parser.parse_args()
    if args.quick:
        args.n, args.steps = 50, 100
    throughput(args.n, args.members, 5, 1)  # imports, numba, threadpool inspection
    print(f"direct whitening, n = {args.n}, K = {args.members}, batch 1, {args.steps} steps (samples/s)")
    print(f"{'':12s} {'BLAS pinned (1)':>16s} {'BLAS unpinned':>16s}")
    for label, load in (("idle", 0), (f"load × {args.load}", args.load)):
        stop = multiprocessing.Event()
        workers = [multiprocessing.Process(target=_busy, args=(stop,), daemon=True) for _ in range(load)]
        for worker in workers:
            worker.start()
        try:
            pinned = throughput(args.n, args.members, args.steps, 1)
            unpinned = throughput(args.n, args.members, args.steps, None)
        finally:
            stop.set()
            for worker in workers:
                worker.join()
        print(f"{label:12s} {pinned:16.0f} {unpinned:16.0f}")


if __name__ == "__main__":
    main()
