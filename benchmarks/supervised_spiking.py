"""Rate vs spiking agreement of the supervised circuits (spiking.md §3.1 and §6).

1. The EBD check experiment of spiking.md §3.1: teacher–student 5→20→2, R₀ = 0, λ_d = 0.99,
   opposite sign, 5000 presentations of 100 ms at r0 = 100 Hz, dt = 1 ms: test MSE of the
   rate run, the dithered and undithered IF runs, the frozen-W1 baseline.
2. Digits, 64-32-10 MLPs, one epoch on 600 training images (300 updates of 2 presentations
   of 100 ms, dt = 0.5 ms):
   test accuracy of the rate and the spiking run for EBD, DFA, BP and FA.

Every run is a separate process (Brian2's numpy target is single-threaded).

    python benchmarks/supervised_spiking.py            # quick: 1000 presentations, check only
    python benchmarks/supervised_spiking.py --full     # 5000 presentations + digits
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

CHECK = dict(hidden_sizes=(20,), output_rate=0.02, forgetting=0.99, projection_gain=0.0, sign="ascent", bias=False)


def _check(job):
    label, rate, substrate, options, steps, seeds = job
    import bioplausible as bpl
    from bioplausible.circuits import supervised as S

    started = time.perf_counter()
    result = bpl.run(S.EBD(learning_rate=rate, **CHECK), bpl.tasks.TeacherStudent(), substrate=substrate,
                     seeds=seeds, steps=steps, eval_every=steps, progress=False, substrate_options=options)
    return "check", label, result.dataset["metric_test_mse"].values[:, -1], time.perf_counter() - started


def _digits(job):
    name, substrate, epochs = job
    import bioplausible as bpl

    started = time.perf_counter()
    task = bpl.tasks.Classification(predictions=False, epochs=epochs, n_train=600, batch_size=2)
    circuit = bpl.circuits.make_circuit(name, hidden_sizes=(32,))
    options = {"presentation": 0.1, "dt": 5e-4} if substrate == "spiking" else None
    result = bpl.run(circuit, task, substrate=substrate, seed=0, progress=False, substrate_options=options)
    return "digits", f"{name} [{substrate}]", result.dataset["metric_test_accuracy"].values[:, -1], \
        time.perf_counter() - started


def _dispatch(job):
    return _check(job[1:]) if job[0] == "check" else _digits(job[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--presentations", type=int, help="check-experiment presentations (default 1000; --full 5000)")
    parser.add_argument("--no-digits", action="store_true", help="skip the digits part of --full")
    args = parser.parse_args()
    steps = args.presentations or (5000 if args.full else 1000)
    seeds = [0, 1]
    spiking = {"presentation": 0.1, "dt": 1e-3}
    jobs = [
        ("check", "rate", 0.2, "rate", None, steps, seeds),
        ("check", "rate, W1 frozen", 0.0, "rate", None, steps, seeds),
        ("check", "IF dithered", 0.2, "spiking", spiking, steps, seeds),
        ("check", "IF v0 = 0", 0.2, "spiking", {**spiking, "dither": False}, steps, seeds),
    ]
    if args.full and not args.no_digits:
        for name in ("ebd", "direct-feedback-alignment", "backprop", "feedback-alignment"):
            jobs += [("digits", name, "rate", 1), ("digits", name, "spiking", 1)]
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(_dispatch, jobs))
    print(f"EBD check experiment (spiking.md §3.1), {steps} presentations, seeds {seeds}: test MSE")
    rate = next(r[2] for r in results if r[0] == "check" and r[1] == "rate")
    for kind, label, values, seconds in results:
        if kind == "check":
            change = 100 * (np.mean(values) / np.mean(rate) - 1)
            print(f"  {label:18s} {np.array2string(values, precision=4)}  ({change:+.1f} % vs rate, {seconds:.0f} s)")
    if args.full and not args.no_digits:
        print("Digits 64-32-10, 1 epoch on 600 images, B = 2, T = 100 ms, r0 = 100 Hz, dt = 0.5 ms: test accuracy")
        for kind, label, values, seconds in results:
            if kind == "digits":
                print(f"  {label:40s} {values[0]:.3f}  ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
