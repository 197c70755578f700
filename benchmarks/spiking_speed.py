"""Spiking at compiled speed (issue 17): direct whitening learning on spikes, ratios in one process.

Three ways to run the same learning run (n inputs, ``--presentations`` presentations, the rule
``ΔM = η (y yᵀ − I)`` at every boundary, checkpoints every ``--every``):

* **runtime**: today's path, ``SpikingSubstrate(codegen="numpy").learn`` in chunks of
  ``--every`` presentations (a Python boundary operation calls the rule);
* **ours**: ``SpikingSubstrate(codegen="auto").learning_run`` (the whole run in generated
  code); ``1st`` its first call in a fresh cache directory (fully cold: the build, and the
  precompiled standard headers built beside it), ``1st hdr`` a first call in a fresh build folder
  with those headers cached (a machine that has built before), ``build`` the first call minus a
  re-run, ``run`` a re-run of the cached binary with new values (``run_args``);
* **hand**: a hand-written Brian2 script of the same network on cpp_standalone (its best
  target), ``build`` = objects + code generation + compilation, ``run`` = ``device.run``.

Prints one table: seconds, and the ratios runtime/ours (target ≥ 20, build included) and
ours/hand for run and build (target ≤ 1.2), with the load average; and **warm**: the same run
in a second Python process that finds the build cached on disk (``learning_run`` there, and
the whole process), with runtime/warm.

    PYTHONPATH=src python benchmarks/spiking_speed.py --sizes 5 50 --presentations 2000

Measured (n = 5, 2,000 presentations, 2 cores, another job holding about one core, load 2.1-2.3)
before and after the precompiled headers and ``-O1`` for ``objects.cpp``: ours 1st 15.2 s -> 7.6 s
(6.4 s with the headers cached), ours build 13.6 s -> 6.1 s (hand-written 14.0 / 12.1 s),
rt/ours 4.7 -> 7.9 (9.3 headers cached) with the runtime path at 71.5 / 60.0 s; the cold ratio
is now bounded by the binary's own 1.5 s and Brian2's code generation, not the compiler.

Again on the idle machine (stop 24, load 0.8-1.0), ``--sizes 5 50``: runtime 57.09 / 67.50 s;
ours fully cold 6.53 / 5.11 s (rt/ours 8.7 / 13.2x), headers cached 4.39 / 4.89 s (13.0 /
13.8x), build on disk in a second process 37.1 / 32.3x; ours/hand run 1.09 / 0.98x (1.551 vs
1.425 s, 2.061 vs 2.093 s), build 0.83 / 0.47x (4.98 vs 5.97 s, 3.05 vs 6.44 s).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def _batch(n: int, presentations: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = np.eye(n) + 0.3 * rng.standard_normal((n, n)) / np.sqrt(n)
    return rng.standard_normal((1, presentations, n)) @ mixing.T


def _substrate(args: argparse.Namespace, codegen: str):
    from bioplausible.substrates.spiking import SpikingSubstrate

    return SpikingSubstrate(rate_unit=args.rate_unit, presentation=args.presentation, dt=args.dt, codegen=codegen)


def _circuit(n: int):
    from bioplausible.circuits import DirectWhitening

    return DirectWhitening(learning_rate=0.01).initialize(n, 0, [0])


def runtime_path(args: argparse.Namespace, n: int) -> tuple[float, np.ndarray]:
    from bioplausible.circuits import Batch

    circuit, substrate = _circuit(n), _substrate(args, "numpy")
    substrate.prepare(circuit, 0)
    batch = Batch(_batch(n, args.presentations, 1))
    start = time.perf_counter()
    for first in range(0, batch.size, args.every):
        substrate.learn(circuit, batch[first: first + args.every], 1, circuit.steps)
    return time.perf_counter() - start, circuit.state["recurrent"].copy()


def ours(args: argparse.Namespace, n: int) -> tuple[float, float, str, np.ndarray]:
    from bioplausible.circuits import Batch

    times, learned, target = [], None, ""
    for seed in (0, 1):  # the first call builds, the second re-runs the binary
        circuit, substrate = _circuit(n), _substrate(args, "auto")
        substrate.prepare(circuit, 0)
        batch = Batch(_batch(n, args.presentations, 1 + seed))
        start = time.perf_counter()
        result = substrate.learning_run(circuit, batch, args.every)
        times.append(time.perf_counter() - start)
        target = result["codegen"]
        if learned is None:
            learned = circuit.state["recurrent"].copy()
    return times[0], times[1], target, learned


def ours_header_cached(args: argparse.Namespace, n: int, cache: str) -> float:
    """ours' first call again in a fresh build folder, with the precompiled standard headers
    that the first (fully cold) build left in the cache: a new architecture on a machine that
    has built one before. Leaves the build on disk."""
    import shutil

    from bioplausible.circuits import Batch
    from bioplausible.substrates.spiking import compiled

    for folder in os.scandir(os.path.join(cache, "brian2_standalone")):
        if folder.name != "pch":
            shutil.rmtree(folder.path)
    compiled._STANDALONE.clear()  # this process must not re-run the binary it holds
    circuit, substrate = _circuit(n), _substrate(args, "auto")
    substrate.prepare(circuit, 0)
    batch = Batch(_batch(n, args.presentations, 1))
    start = time.perf_counter()
    substrate.learning_run(circuit, batch, args.every)
    return time.perf_counter() - start


def warm_process(args: argparse.Namespace, n: int) -> tuple[float, float, str]:
    """The same learning run in a second Python process that finds the build cached on disk:
    (seconds of ``learning_run`` there, seconds of the whole process, the target ``auto`` picked)."""
    import json
    import subprocess
    import sys

    started = time.perf_counter()
    command = [sys.executable, os.path.abspath(__file__), "--warm-child", str(n), "--presentations",
               str(args.presentations), "--every", str(args.every), "--rate-unit", str(args.rate_unit),
               "--presentation", str(args.presentation), "--dt", str(args.dt)]
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=dict(os.environ)).stdout
    process = time.perf_counter() - started
    call, target = json.loads(output.strip().splitlines()[-1])
    return float(call), process, str(target)


def _warm_child(args: argparse.Namespace) -> None:
    """``--warm-child N``: one learning run of size N on ``auto``; prints [seconds, target]."""
    import json

    from bioplausible.circuits import Batch

    n = args.warm_child
    circuit, substrate = _circuit(n), _substrate(args, "auto")
    substrate.prepare(circuit, 0)
    batch = Batch(_batch(n, args.presentations, 3))
    start = time.perf_counter()
    result = substrate.learning_run(circuit, batch, args.every)
    print(json.dumps([time.perf_counter() - start, result["codegen"]]))


def hand_written(args: argparse.Namespace, n: int, directory: str, compile: bool = True) -> tuple[float, float]:
    """The same network written directly in Brian2, cpp_standalone, built once, run with run_args
    (``compile=False``: generate the code only, to warm Brian2's caches)."""
    import brian2 as b2

    from bioplausible.substrates.spiking import compiled

    compiled._STANDALONE.clear()  # this script takes over the standalone device
    b2.set_device("cpp_standalone", build_on_run=False)
    b2.device.reinit()
    b2.device.activate(build_on_run=False)
    b2.prefs.devices.cpp_standalone.extra_make_args_unix = ["-j2"]
    try:
        start = time.perf_counter()
        count, r0, period, step, y0 = args.presentations, args.rate_unit, args.presentation, args.dt, 4.0
        stimulus = b2.TimedArray(np.zeros((count + 1, n)), dt=period * b2.second, name="hand_stimulus")
        dither = b2.TimedArray(np.zeros((count + 1, n)), dt=period * b2.second, name="hand_dither")
        inputs = b2.NeuronGroup(n, "x : 1", dt=period * b2.second, name="hand_input",
                                namespace={"hand_stimulus": stimulus})
        inputs.run_regularly("x = hand_stimulus(t, i)", dt=period * b2.second, when="start", order=-10)
        group = b2.NeuronGroup(n, "dv/dt = r0 * (bias + drive) : 1\nbias : 1\ntheta : 1\ncount : 1\ndrive : 1",
                               threshold="v > theta", reset="v -= theta; count += 1", method="euler",
                               dt=step * b2.second, namespace={"r0": r0 * b2.Hz, "hand_dither": dither},
                               name="hand_group")
        group.run_regularly("v = hand_dither(t, i) * theta\ncount = 0", dt=period * b2.second, when="start")
        drive = b2.Synapses(inputs, group, "drive_post = x_pre : 1 (summed)", dt=period * b2.second)
        drive.connect(i=np.arange(n), j=np.arange(n))
        lateral = b2.Synapses(group, group, """M : 1
            eta : 1 (shared)
            theta_post = M * int(i == j) : 1 (summed)
            bias_post = y0 * M : 1 (summed)""", on_pre="v_post -= M * int(i != j)", dt=step * b2.second,
                              namespace={"y0": y0})
        post, pre = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        lateral.connect(i=pre.ravel(), j=post.ravel())
        scale = r0 * period
        lateral.run_regularly(
            f"M += int(t > 0.5 * {period!r} * second) * eta * ((count_post / {scale!r} - y0) * "
            f"(count_pre / {scale!r} - y0) - int(i == j))", dt=period * b2.second, when="start", order=-1)
        for updater in (*lateral.summed_updaters.values(), *drive.summed_updaters.values()):
            updater.when, updater._clock = "start", drive.clock
        for updater in lateral.summed_updaters.values():
            updater.order = -0.5
        for updater in drive.summed_updaters.values():
            updater.order = 5
        monitor = b2.StateMonitor(lateral, "M", record=np.arange(n * n), dt=args.every * period * b2.second,
                                  when="start", order=-0.7)
        network = b2.Network(inputs, group, drive, lateral, monitor)
        network.run(count * period * b2.second + step * b2.second, namespace={})
        b2.device.build(run=False, compile=compile, directory=directory)
        build = time.perf_counter() - start
        if not compile:
            return build, float("nan")
        rng = np.random.default_rng(0)
        values = np.zeros((count + 1, n))
        values[:count] = _batch(n, count, 2)[0]
        start = time.perf_counter()
        b2.device.run(directory=directory, run_args={
            stimulus: values, dither: np.vstack([rng.uniform(0, 1, (count, n)), np.zeros((1, n))]),
            lateral.M: np.eye(n).ravel(), lateral.eta: np.asarray(0.01)})
        learned = np.asarray(lateral.M[:]).copy()
        run = time.perf_counter() - start
        assert np.all(np.isfinite(learned))
        return build, run
    finally:
        b2.device.reinit()
        b2.set_device("runtime")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 50])
    parser.add_argument("--presentations", type=int, default=2000)
    parser.add_argument("--every", type=int, default=100, help="checkpoint (evaluation) interval")
    parser.add_argument("--rate-unit", type=float, default=100.0)
    parser.add_argument("--presentation", type=float, default=0.1)
    parser.add_argument("--dt", type=float, default=1e-4)
    parser.add_argument("--skip-runtime", action="store_true", help="skip today's numpy runtime path (slow)")
    parser.add_argument("--warm-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.warm_child is not None:
        _warm_child(args)
        return

    with tempfile.TemporaryDirectory(prefix="bioplausible-spiking-speed-") as cache:
        os.environ["BIOPLAUSIBLE_CACHE_DIR"] = cache  # cold builds: the build cost is measured
        load = os.getloadavg()[0]
        rows = []
        # the first standalone code generation in a process loads Brian2's templates and caches:
        # pay it once here, so neither contender below is charged for it
        hand_written(args, args.sizes[0], os.path.join(cache, "warm-up"), compile=False)
        for n in args.sizes:
            ours_first, ours_run, target, learned = ours(args, n)
            warm_call, warm_process_s, warm_target = warm_process(args, n)
            header_first = ours_header_cached(args, n, cache)
            hand_build, hand_run = hand_written(args, n, os.path.join(cache, f"hand_{n}"))
            runtime, reference = (float("nan"), None) if args.skip_runtime else runtime_path(args, n)
            agreement = float("nan") if reference is None else float(np.abs(learned - reference).max())
            rows.append((n, target, runtime, ours_first, header_first, ours_run, ours_first - ours_run, hand_build,
                         hand_run, agreement, warm_call, warm_process_s, warm_target))
        steps = args.presentations * round(args.presentation / args.dt)
        print(f"direct whitening, {args.presentations} presentations of {args.presentation} s at dt = {args.dt} s "
              f"({steps} steps), r0 = {args.rate_unit} Hz, checkpoints every {args.every}; load average "
              f"{load:.1f} at start, {os.getloadavg()[0]:.1f} at end, {os.cpu_count()} cores")
        print(f"{'n':>3} {'auto':>14} {'runtime':>8} {'ours 1st':>8} {'1st hdr':>8} {'ours run':>8} {'ours bld':>8} "
              f"{'hand bld':>8} {'hand run':>8} {'rt/ours':>7} {'rt/hdr':>7} {'run o/h':>7} {'bld o/h':>7} "
              f"{'|ΔM|':>8} {'warm':>6} {'warm pr':>7} {'rt/warm':>7}")
        for (n, target, runtime, first, header_first, run, build, hand_build, hand_run, agreement, warm, process,
             warm_target) in rows:
            print(f"{n:>3} {target:>14} {runtime:8.2f} {first:8.2f} {header_first:8.2f} {run:8.3f} {build:8.2f} "
                  f"{hand_build:8.2f} {hand_run:8.3f} {runtime / first:7.1f} {runtime / header_first:7.1f} "
                  f"{run / hand_run:7.2f} {build / hand_build:7.2f} {agreement:8.1e} {warm:6.2f} {process:7.2f} "
                  f"{runtime / warm:7.1f}  ({warm_target} in the warm process)")
        print("rt/ours: fully cold (a fresh cache: the build and the precompiled standard headers included); "
              "rt/hdr: a fresh build with the precompiled headers already cached (a machine that built before); "
              "rt/warm: a second process that finds the build on disk (learning_run's time there; 'warm pr' is "
              "that whole process, Python start included)")


if __name__ == "__main__":
    main()
